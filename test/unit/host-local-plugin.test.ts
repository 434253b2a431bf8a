import t from "tap";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPlugin } from "../../lib/cni/skel.ts";
import { sys } from "../../lib/sys/index.ts";
import { hostLocal, info } from "../../plugins/host-local/main.ts";

// host-local in-process against a temp dataDir. CNI_NETNS is never opened by host-local; the
// skel's own-netns check skips a path that does not exist.

interface CallOptions {
  cid?: string;
  ifname?: string;
  args?: string;
  cniVersion?: string;
  /** Top-level config keys (runtimeConfig, args, prevResult, cni.dev/valid-attachments). */
  extra?: Record<string, unknown>;
}

type Json = Record<string, any>;

function cni(command: string, ipam: Record<string, unknown>, o: CallOptions = {}): { status: number; json: Json | undefined } {
  const config = { cniVersion: o.cniVersion ?? "1.1.0", name: "thl", ipam: { type: "host-local", ...ipam }, ...o.extra };
  let out = "";
  const status = runPlugin(hostLocal, info, {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: o.cid ?? "c1",
      CNI_NETNS: "/nonexistent/thl-netns",
      CNI_IFNAME: o.ifname ?? "eth0",
      CNI_PATH: "/usr/lib/cni",
      CNI_ARGS: o.args,
    },
    readStdin: () => Buffer.from(JSON.stringify(config)),
    writeStdout: (text) => void (out += text),
    writeStderr: () => {},
  });
  return { status, json: out ? (JSON.parse(out) as Json) : undefined };
}

/** ADD that must succeed; returns the addresses. */
function add(ipam: Record<string, unknown>, o: CallOptions = {}): string[] {
  const { status, json } = cni("ADD", ipam, o);
  if (status !== 0) throw new Error(`ADD ${o.cid ?? "c1"}: ${JSON.stringify(json)}`);
  return (json?.ips as Array<{ address: string }>).map((ip) => ip.address);
}

function tempDataDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync("/tmp/thl-unit-");
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The lease files of network "thl": name → content. */
function leases(dataDir: string): Record<string, string> {
  const dir = join(dataDir, "thl");
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .filter((name) => /^[0-9a-f.:]+$/.test(name) && /[.:]/.test(name))
      .sort()
      .map((name) => [name, readFileSync(join(dir, name), "utf8")]),
  );
}

/** Writes a lease the way the Go plugin does (no index entry). */
function goLease(dataDir: string, ip: string, content: string): void {
  writeFileSync(join(dataDir, "thl", ip), content, { mode: 0o600 });
}

t.test("ADD: IPAM result, and the Go plugin's on-disk format", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00:1::/64", gateway: "fd00:1::ffff" }]] };
  const { status, json } = cni("ADD", ipam, { cid: "ctr-1" });
  t.equal(status, 0);
  t.strictSame(json, {
    cniVersion: "1.1.0",
    ips: [
      { address: "10.1.0.2/24", gateway: "10.1.0.1" },
      { address: "fd00:1::1/64", gateway: "fd00:1::ffff" },
    ],
  });
  const dir = join(dataDir, "thl");
  t.strictSame(leases(dataDir), { "10.1.0.2": "ctr-1\r\neth0", "fd00:1::1": "ctr-1\r\neth0" }, "<cid>\\r\\n<ifname>, no newline");
  t.equal(readFileSync(join(dir, "last_reserved_ip.0"), "utf8"), "10.1.0.2");
  t.equal(readFileSync(join(dir, "last_reserved_ip.1"), "utf8"), "fd00:1::1");
  t.equal(statSync(join(dir, "lock")).size, 0, "lock stays empty");
  t.equal(statSync(dir).mode & 0o777, 0o700);
  for (const name of ["10.1.0.2", "fd00:1::1", "last_reserved_ip.0", "lock"]) t.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
  t.strictSame(readdirSync(join(dir, ".tscni")).sort(), ["ctr-1:eth0", "seen"]);
});

t.test("ADD: routes, dns from resolvConf, older result versions", async (t) => {
  const dataDir = tempDataDir(t);
  const resolvConf = join(dataDir, "resolv.conf");
  writeFileSync(resolvConf, "nameserver 10.0.0.53\nsearch example.com\noptions ndots:2\n");
  const ipam = { dataDir, subnet: "10.1.0.0/24", resolvConf, routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.1.0.254" }] };
  t.strictSame(cni("ADD", ipam).json, {
    cniVersion: "1.1.0",
    ips: [{ address: "10.1.0.2/24", gateway: "10.1.0.1" }],
    routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.1.0.254" }],
    dns: { nameservers: ["10.0.0.53"], search: ["example.com"], options: ["ndots:2"] },
  });
  t.strictSame(cni("ADD", ipam, { cid: "c2", cniVersion: "0.2.0" }).json, {
    cniVersion: "0.2.0",
    ip4: { ip: "10.1.0.3/24", gateway: "10.1.0.1", routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.1.0.254" }] },
    dns: { nameservers: ["10.0.0.53"], search: ["example.com"], options: ["ndots:2"] },
  });
  const missing = cni("ADD", { ...ipam, resolvConf: join(dataDir, "nope") }, { cid: "c3" });
  t.match(missing, { status: 1, json: { code: 7, msg: `invalid ipam.resolvConf "${join(dataDir, "nope")}"`, details: /ENOENT/ } });
  t.strictSame(Object.keys(leases(dataDir)), ["10.1.0.2", "10.1.0.3"], "a failed ADD reserves nothing");
});

t.test("round robin: DEL does not rewind, gateways skipped, wraps around", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/29", gateway: "10.1.0.3" }]] };
  t.strictSame(["a", "b", "c"].flatMap((cid) => add(ipam, { cid })), ["10.1.0.1/29", "10.1.0.2/29", "10.1.0.4/29"]);
  t.equal(cni("DEL", ipam, { cid: "b" }).status, 0);
  t.strictSame(["d", "e", "f"].flatMap((cid) => add(ipam, { cid })), ["10.1.0.5/29", "10.1.0.6/29", "10.1.0.2/29"], "wraps to the freed .2");
  t.match(cni("ADD", ipam, { cid: "g" }), {
    status: 1,
    json: { code: 50, msg: "failed to allocate for range 0: no IP addresses available in range set: 10.1.0.1-10.1.0.6", details: "all 5 addresses are leased" },
  });
});

t.test("exhaustion: STATUS says so; a failed set releases the others", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.2.0.0/30" }]] };
  t.equal(cni("STATUS", ipam).status, 0, "STATUS before anything exists");
  add(ipam, { cid: "a" });
  t.match(cni("STATUS", ipam), { status: 1, json: { code: 50, msg: "no IP addresses available in range set: 10.2.0.1-10.2.0.2" } });
  t.match(cni("ADD", ipam, { cid: "b" }), { status: 1, json: { code: 50, msg: /^failed to allocate for range 1: no IP addresses available in range set: 10.2.0.1-10.2.0.2/ } });
  t.strictSame(Object.keys(leases(dataDir)), ["10.1.0.2", "10.2.0.2"], "b's address in range set 0 was released");
  t.equal(readFileSync(join(dataDir, "thl", "last_reserved_ip.0"), "utf8"), "10.1.0.2", "round robin not advanced by the failed ADD");
  cni("DEL", ipam, { cid: "a" });
  t.equal(cni("STATUS", ipam).status, 0);
  t.match(cni("STATUS", { dataDir, ranges: [[{ subnet: "10.1.0.0/31" }]] }), { status: 1, json: { code: 7 } }, "STATUS validates the config");
});

t.test("requested addresses: CNI_ARGS, args, runtimeConfig; taken or gateway", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] };
  t.strictSame(add(ipam, { cid: "a", args: "IP=10.1.0.50" }), ["10.1.0.50/24", "fd00::2/64"]);
  t.strictSame(add(ipam, { cid: "b", extra: { args: { cni: { ips: ["fd00::50"] } }, runtimeConfig: { ips: ["10.1.0.60/24"] } } }), ["10.1.0.60/24", "fd00::50/64"]);
  t.equal(readFileSync(join(dataDir, "thl", "last_reserved_ip.0"), "utf8"), "10.1.0.60", "a requested address moves round robin, as in Go");
  t.strictSame(add(ipam, { cid: "c" }), ["10.1.0.61/24", "fd00::51/64"]);
  t.match(cni("ADD", ipam, { cid: "d", args: "IP=10.1.0.50" }), {
    status: 1,
    json: {
      code: 11,
      msg: "failed to allocate for range 0: requested IP address 10.1.0.50 is not available in range set 10.1.0.1-10.1.0.254",
      details: 'held by container a interface "eth0"',
    },
  });
  t.match(cni("ADD", ipam, { cid: "d", args: "IP=10.1.0.1" }), { status: 1, json: { code: 7, msg: "requested ip 10.1.0.1 is subnet's gateway" } });
  t.match(cni("ADD", ipam, { cid: "d", args: "IP=10.7.0.1" }), { status: 1, json: { code: 7, msg: "failed to allocate all requested IPs: 10.7.0.1" } });
  t.match(cni("ADD", ipam, { cid: "d", args: "MAC=c2:11:22:33:44:55;FOO=1" }), { status: 1, json: { code: 4, msg: 'CNI_ARGS: unknown keys "FOO"' } });
  t.equal(Object.keys(leases(dataDir)).length, 6, "failed ADDs leased nothing");
});

t.test("a second ADD for the same container and interface is refused", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, subnet: "10.1.0.0/24" };
  add(ipam, { cid: "a" });
  t.match(cni("ADD", ipam, { cid: "a" }), {
    status: 1,
    json: { msg: "failed to allocate for range 0: 10.1.0.2 has been allocated to a, duplicate allocation is not allowed" },
  });
  t.strictSame(add(ipam, { cid: "a", ifname: "eth1" }), ["10.1.0.3/24"], "another interface of the same container is fine");
  t.strictSame(Object.keys(leases(dataDir)), ["10.1.0.2", "10.1.0.3"]);
});

t.test("ADD sees a lease the Go plugin made for the same attachment (no index entry)", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, subnet: "10.1.0.0/24" };
  add(ipam, { cid: "a" });
  // What Go's ADD of container g leaves: its lease and last_reserved_ip.0, nothing in .tscni.
  goLease(dataDir, "10.1.0.3", "g\r\neth0");
  writeFileSync(join(dataDir, "thl", "last_reserved_ip.0"), "10.1.0.3");
  t.match(cni("ADD", ipam, { cid: "g" }), { status: 1, json: { msg: /10.1.0.3 has been allocated to g, duplicate allocation is not allowed/ } });
  goLease(dataDir, "10.1.0.4", "old");
  writeFileSync(join(dataDir, "thl", "last_reserved_ip.0"), "10.1.0.4");
  t.match(cni("ADD", ipam, { cid: "old", ifname: "eth3" }), { status: 1, json: { msg: /10.1.0.4 has been allocated to old/ } }, "legacy <cid>-only lease");
  t.strictSame(add(ipam, { cid: "b" }), ["10.1.0.5/24"], "round robin continues after Go's last_reserved_ip");
  t.match(cni("ADD", ipam, { cid: "g" }), { status: 1, json: { msg: /10.1.0.3 has been allocated to g/ } }, "still refused once last_reserved_ip is ours again");
  t.strictSame(readFileSync(join(dataDir, "thl", ".tscni", "g:eth0"), "utf8"), '["10.1.0.3"]', "Go's lease was indexed");
  t.notOk(existsSync(join(dataDir, "thl", ".tscni", "old:eth3")), "a legacy lease names no interface: not indexed");
});

t.test("after the Go plugin's ADDs, our next ADD indexes their leases and drops stale entries", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, subnet: "10.1.0.0/24" };
  add(ipam, { cid: "a" });
  add(ipam, { cid: "b" });
  // Go: DEL a (our entry goes stale), ADD g1 and g2 (g2 on two interfaces).
  rmSync(join(dataDir, "thl", "10.1.0.2"));
  goLease(dataDir, "10.1.0.4", "g1\r\neth0");
  goLease(dataDir, "10.1.0.5", "g2\r\neth0");
  goLease(dataDir, "10.1.0.6", "g2\r\neth1");
  writeFileSync(join(dataDir, "thl", "last_reserved_ip.0"), "10.1.0.6");
  add(ipam, { cid: "c" });
  const index = join(dataDir, "thl", ".tscni");
  t.strictSame(readdirSync(index).sort(), ["b:eth0", "c:eth0", "g1:eth0", "g2:eth0", "g2:eth1", "seen"]);
  t.equal(readFileSync(join(index, "g2:eth1"), "utf8"), '["10.1.0.6"]');
  t.equal(readFileSync(join(index, "seen"), "utf8"), '{"0":"10.1.0.7"}');
});

t.test("DEL: idempotent, by index entry, Go-made and legacy leases by scan, stale index entries", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] };
  add(ipam, { cid: "a" });
  add(ipam, { cid: "b" });
  t.equal(cni("DEL", ipam, { cid: "a" }).status, 0);
  t.strictSame(Object.keys(leases(dataDir)), ["10.1.0.3", "fd00::3"]);
  t.notOk(existsSync(join(dataDir, "thl", ".tscni", "a:eth0")), "index entry removed");
  t.equal(cni("DEL", ipam, { cid: "a" }).status, 0, "again: nothing to do");

  goLease(dataDir, "10.1.0.9", "g\r\neth0");
  goLease(dataDir, "fd00::9", "g\r\neth0");
  goLease(dataDir, "10.1.0.10", "g\r\neth1");
  t.equal(cni("DEL", ipam, { cid: "g" }).status, 0);
  t.strictSame(Object.keys(leases(dataDir)), ["10.1.0.10", "10.1.0.3", "fd00::3"], "Go-made leases of g/eth0 found by scanning");

  goLease(dataDir, "10.1.0.11", "legacy");
  cni("DEL", ipam, { cid: "legacy", ifname: "eth5" });
  t.notOk(existsSync(join(dataDir, "thl", "10.1.0.11")), "legacy <cid>-only file released when nothing else matched");

  // Go's DEL of b leaves our index entry behind; 10.1.0.3 then goes to container c, and Go gives b 10.1.0.20.
  rmSync(join(dataDir, "thl", "10.1.0.3"));
  rmSync(join(dataDir, "thl", "fd00::3"));
  goLease(dataDir, "10.1.0.3", "c\r\neth0");
  goLease(dataDir, "10.1.0.20", "b\r\neth0");
  t.equal(cni("DEL", ipam, { cid: "b" }).status, 0);
  t.strictSame(leases(dataDir), { "10.1.0.10": "g\r\neth1", "10.1.0.3": "c\r\neth0" }, "c keeps its lease; b's new one is found");

  t.equal(cni("DEL", { dataDir: join(dataDir, "none"), ranges: "broken" }, { cid: "x" }).status, 0, "no directory, bad ranges: DEL succeeds");
  t.notOk(existsSync(join(dataDir, "none")), "DEL creates nothing");
});

t.test("DEL and CHECK open a fixed number of files, however many leases exist", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/16" }]] };
  const opens = (fn: () => void): string[] => {
    const paths: string[] = [];
    const original = sys.open;
    sys.open = (path, flags, mode) => (paths.push(path), original(path, flags, mode));
    try {
      fn();
    } finally {
      sys.open = original;
    }
    return paths;
  };
  add(ipam, { cid: "first" });
  const small = { check: opens(() => cni("CHECK", ipam, { cid: "first" })), del: opens(() => cni("DEL", ipam, { cid: "first" })) };
  for (let i = 0; i < 250; i++) add(ipam, { cid: `c${i}` });
  add(ipam, { cid: "last" });
  const big = { check: opens(() => cni("CHECK", ipam, { cid: "last" })), del: opens(() => cni("DEL", ipam, { cid: "last" })) };
  t.equal(Object.keys(leases(dataDir)).length, 250);
  t.equal(big.check.length, small.check.length, `CHECK: ${big.check.length} opens`);
  t.equal(big.del.length, small.del.length, `DEL: ${big.del.length} opens`);
  t.ok(big.del.length <= 4, "lock, index entry, the lease");
});

t.test("CHECK: the lease must exist and match prevResult", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] };
  add(ipam, { cid: "a" });
  const prev = (ips: string[]) => ({ extra: { prevResult: { cniVersion: "1.1.0", ips: ips.map((address) => ({ address })) } }, cid: "a" });
  t.equal(cni("CHECK", ipam, { cid: "a" }).status, 0);
  t.equal(cni("CHECK", ipam, prev(["10.1.0.2/24", "fd00::2/64", "192.168.9.9/24"])).status, 0, "addresses outside our ranges are not ours to check");
  t.match(cni("CHECK", ipam, prev(["10.1.0.2/24", "fd00::3/64"])), {
    status: 1,
    json: { code: 7, msg: 'host-local: prevResult address fd00::3 is not leased to container a interface "eth0"' },
  });
  t.match(cni("CHECK", ipam, prev(["10.1.0.2/24"])), { status: 1, json: { msg: 'host-local: fd00::2 is leased to container a interface "eth0" but missing from prevResult' } });
  t.match(cni("CHECK", ipam, prev(["10.1.0.2/16", "fd00::2/64"])), { status: 1, json: { msg: "host-local: prevResult address 10.1.0.2/16 has the wrong prefix length" } });
  t.match(cni("CHECK", ipam, { cid: "zz" }), { status: 1, json: { code: 7, msg: "host-local: Failed to find address added by container zz" } });
  t.match(cni("CHECK", ipam, { cid: "a", ifname: "eth1" }), { status: 1, json: { msg: "host-local: Failed to find address added by container a" } });
  goLease(dataDir, "10.1.0.77", "g\r\neth0");
  t.equal(cni("CHECK", ipam, { cid: "g" }).status, 0, "a Go-made lease is found by scanning");
});

t.test("GC releases leases of attachments not in the valid list", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, subnet: "10.1.0.0/24" };
  for (const cid of ["a", "b", "c"]) add(ipam, { cid });
  add(ipam, { cid: "a", ifname: "eth1" });
  goLease(dataDir, "10.1.0.50", "g\r\neth0");
  goLease(dataDir, "10.1.0.51", "h\r\neth0");
  goLease(dataDir, "10.1.0.52", "legacy-kept");
  goLease(dataDir, "10.1.0.53", "legacy-gone");
  const valid = [
    { containerID: "a", ifname: "eth0" },
    { containerID: "c", ifname: "eth0" },
    { containerID: "g", ifname: "eth0" },
    { containerID: "legacy-kept", ifname: "eth0" },
  ];
  t.equal(cni("GC", ipam, { extra: { "cni.dev/valid-attachments": valid } }).status, 0);
  t.strictSame(leases(dataDir), {
    "10.1.0.2": "a\r\neth0",
    "10.1.0.4": "c\r\neth0",
    "10.1.0.50": "g\r\neth0",
    "10.1.0.52": "legacy-kept",
  });
  const dir = join(dataDir, "thl");
  t.strictSame(readdirSync(join(dir, ".tscni")).sort(), ["a:eth0", "c:eth0", "seen"], "index entries of released attachments dropped");
  t.ok(existsSync(join(dir, "lock")) && existsSync(join(dir, "last_reserved_ip.0")), "lock and last_reserved_ip.0 untouched");
  t.equal(cni("GC", ipam, { extra: { "cni.dev/attachments": [{ containerID: "c", ifname: "eth0" }] } }).status, 0, "legacy key");
  t.strictSame(Object.keys(leases(dataDir)), ["10.1.0.4"]);
  t.equal(cni("GC", ipam, { extra: { "cni.dev/valid-attachments": [] } }).status, 0);
  t.strictSame(leases(dataDir), {}, "an empty list releases everything");
  t.match(cni("GC", ipam, { cniVersion: "1.0.0" }), { status: 1, json: { code: 1 } }, "GC needs 1.1.0");
  t.equal(cni("GC", { dataDir: join(dataDir, "none") }).status, 0, "no directory: nothing to do");
});

t.test("our index files never match what Go's DEL looks for", async (t) => {
  const dataDir = tempDataDir(t);
  const ipam = { dataDir, ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] };
  // Container IDs that look like what our files hold.
  const cids = ["10.1.0.2", "fd00", "0", "seen"];
  for (const cid of cids) add(ipam, { cid });
  const ownFiles = readdirSync(join(dataDir, "thl", ".tscni")).map((name) => readFileSync(join(dataDir, "thl", ".tscni", name), "utf8").trim());
  for (const cid of cids) {
    for (const match of [`${cid}\r\neth0`, cid]) t.notOk(ownFiles.includes(match), `Go's DEL of ${JSON.stringify(match)} leaves .tscni alone`);
  }
  t.ok(ownFiles.every((text) => text.startsWith("[") || text.startsWith("{")), "JSON: starts with a character no container ID has");
});
