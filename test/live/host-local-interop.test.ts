import t from "tap";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isRoot, makeNetns } from "../helpers/netns.ts";

// Our dist/bin/host-local and the Go reference (/usr/lib/cni/host-local, Debian 1.1.1) take turns
// on the same dataDir. host-local never enters CNI_NETNS, but both skels want an existing netns
// that is not their own: a throw-away one.

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const OURS = join(import.meta.dirname, "../../dist/bin/host-local");
const GO = "/usr/lib/cni/host-local";
if (!existsSync(OURS)) {
  t.fail(`${OURS} is missing: run \`node build.mjs\` first`);
  process.exit(1);
}
if (!existsSync(GO)) {
  t.fail(`${GO} is missing: install containernetworking-plugins`);
  process.exit(1);
}

const netns = makeNetns(t, "thl");

interface Network {
  dataDir: string;
  config(cniVersion?: string, extra?: Record<string, unknown>): string;
}

function network(t: { teardown(fn: () => void): void }, ranges: unknown): Network {
  const dataDir = mkdtempSync("/tmp/thl-live-");
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return {
    dataDir,
    config: (cniVersion = "1.0.0", extra = {}) =>
      JSON.stringify({ cniVersion, name: "thl-net", ipam: { type: "host-local", dataDir, ranges }, ...extra }),
  };
}

function envOf(command: string, cid: string, ifname: string): Record<string, string> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: cid, CNI_NETNS: netns.path, CNI_IFNAME: ifname, CNI_PATH: "/usr/lib/cni" };
}

function run(bin: string, command: string, net: Network, cid: string, o: { ifname?: string; config?: string } = {}) {
  const r = spawnSync(bin, [], { input: o.config ?? net.config(), env: envOf(command, cid, o.ifname ?? "eth0") });
  const out = r.stdout.toString();
  return { status: r.status, json: out ? (JSON.parse(out) as Record<string, any>) : undefined };
}

/** ADD that must succeed: the addresses without prefix. */
function add(bin: string, net: Network, cid: string): string[] {
  const r = run(bin, "ADD", net, cid);
  if (r.status !== 0) throw new Error(`${bin} ADD ${cid}: ${JSON.stringify(r.json)}`);
  return (r.json!.ips as Array<{ address: string }>).map((ip) => ip.address.split("/")[0]!);
}

function leases(net: Network): Record<string, string> {
  const dir = join(net.dataDir, "thl-net");
  return Object.fromEntries(
    readdirSync(dir)
      .filter((name) => /^[0-9a-f.:]+$/.test(name) && /[.:]/.test(name))
      .sort()
      .map((name) => [name, readFileSync(join(dir, name), "utf8")]),
  );
}

t.test("Go and ours alternate: round robin continues, no duplicates, same files", async (t) => {
  const net = network(t, [[{ subnet: "10.91.0.0/24" }], [{ subnet: "fd00:91::/64" }]]);
  const got = [add(GO, net, "g1"), add(GO, net, "g2"), add(OURS, net, "o1"), add(GO, net, "g3"), add(OURS, net, "o2"), add(OURS, net, "o3")];
  t.strictSame(got, [
    ["10.91.0.2", "fd00:91::2"],
    ["10.91.0.3", "fd00:91::3"],
    ["10.91.0.4", "fd00:91::4"],
    ["10.91.0.5", "fd00:91::5"],
    ["10.91.0.6", "fd00:91::6"],
    ["10.91.0.7", "fd00:91::7"],
  ]);
  const files = leases(net);
  t.equal(files["10.91.0.2"], "g1\r\neth0");
  t.equal(files["10.91.0.4"], "o1\r\neth0", "same content format as Go's");
  t.equal(readFileSync(join(net.dataDir, "thl-net", "last_reserved_ip.1"), "utf8"), "fd00:91::7");

  t.match(run(OURS, "ADD", net, "g2"), { status: 1, json: { msg: /has been allocated to g2, duplicate allocation is not allowed/ } }, "ours refuses a Go-made duplicate");
  t.match(run(GO, "ADD", net, "o2"), { status: 1, json: { msg: /has been allocated to o2, duplicate allocation is not allowed/ } }, "Go refuses ours");

  t.equal(run(GO, "CHECK", net, "o1").status, 0, "Go's CHECK finds our lease");
  t.equal(run(OURS, "CHECK", net, "g1").status, 0, "our CHECK finds Go's lease");

  t.equal(run(GO, "DEL", net, "o1").status, 0, "Go's DEL of our lease");
  t.equal(run(OURS, "DEL", net, "g1").status, 0, "our DEL of Go's lease");
  t.equal(run(OURS, "DEL", net, "o2").status, 0);
  t.equal(run(GO, "DEL", net, "g2").status, 0);
  t.strictSame(Object.keys(leases(net)), ["10.91.0.5", "10.91.0.7", "fd00:91::5", "fd00:91::7"], "DEL by either frees the files");
  t.match(run(OURS, "CHECK", net, "o1"), { status: 1, json: { msg: "host-local: Failed to find address added by container o1" } }, "stale index entry is not trusted");

  t.strictSame(add(OURS, net, "o1"), ["10.91.0.8", "fd00:91::8"], "re-ADD after Go's DEL (stale index entry)");
  t.strictSame(add(GO, net, "g4"), ["10.91.0.9", "fd00:91::9"], "Go continues after ours");
  t.equal(run(OURS, "DEL", net, "o1").status, 0);
  t.equal(run(GO, "DEL", net, "g4").status, 0);
  t.equal(run(GO, "DEL", net, "g3").status, 0);
  t.equal(run(OURS, "DEL", net, "o3").status, 0);
  t.strictSame(leases(net), {});
});

t.test("our GC releases Go-made leases that are not valid attachments", async (t) => {
  const net = network(t, [[{ subnet: "10.92.0.0/24" }]]);
  for (const cid of ["g1", "g2"]) add(GO, net, cid);
  for (const cid of ["o1", "o2"]) add(OURS, net, cid);
  const valid = [{ containerID: "g2", ifname: "eth0" }, { containerID: "o1", ifname: "eth0" }];
  const gc = spawnSync(OURS, [], {
    input: net.config("1.1.0", { "cni.dev/valid-attachments": valid }),
    env: { CNI_COMMAND: "GC", CNI_PATH: "/usr/lib/cni" },
  });
  t.equal(gc.status, 0, gc.stdout.toString());
  t.strictSame(leases(net), { "10.92.0.3": "g2\r\neth0", "10.92.0.4": "o1\r\neth0" });
  t.strictSame(add(GO, net, "g5"), ["10.92.0.6"], "Go keeps working on the collected directory");
});

function spawnAdd(bin: string, net: Network, cid: string): Promise<{ cid: string; status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env: envOf("ADD", cid, "eth0") });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ cid, status, out }));
    child.stdin.end(net.config());
  });
}

t.test("100 concurrent ADDs (ours, and ours mixed with Go) never share an address", async (t) => {
  for (const mixed of [false, true]) {
    const net = network(t, [[{ subnet: "10.93.0.0/24" }], [{ subnet: "fd00:93::/120" }]]);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => spawnAdd(mixed && i % 2 ? GO : OURS, net, `par-${i}`)),
    );
    const failed = results.filter((r) => r.status !== 0);
    t.strictSame(failed, [], `${mixed ? "mixed" : "ours"}: every ADD succeeds`);
    const addresses = results.flatMap((r) => (JSON.parse(r.out).ips as Array<{ address: string }>).map((ip) => ip.address.split("/")[0]!));
    t.equal(new Set(addresses).size, 200, `${mixed ? "mixed" : "ours"}: 200 distinct addresses`);
    const files = leases(net);
    t.equal(Object.keys(files).length, 200, "one file per address");
    for (const r of results) {
      for (const ip of (JSON.parse(r.out).ips as Array<{ address: string }>).map((x) => x.address.split("/")[0]!)) {
        if (files[ip] !== `${r.cid}\r\neth0`) t.fail(`${ip} holds ${JSON.stringify(files[ip])}, want ${r.cid}`);
      }
    }
  }
});
