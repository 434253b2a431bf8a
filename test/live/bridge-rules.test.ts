import t from "tap";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { DIST_BIN, execPlugin } from "../helpers/plugin-exec.ts";
import { inNs, isRoot, makeNetns, pings, sh } from "../helpers/netns.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const BRIDGE = `${DIST_BIN}/bridge`;

function netconf(t: { teardown(fn: () => void): void }, name: string, bridge: string, subnet: string, extra: Record<string, unknown> = {}) {
  const dir = mkdtempSync("/tmp/tbrr-ipam-");
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return {
    cniVersion: "1.1.0",
    name,
    type: "bridge",
    bridge,
    isGateway: true,
    isDefaultGateway: true,
    ipam: { type: "host-local", ranges: [[{ subnet }]], dataDir: dir },
    ...extra,
  };
}

/** An "outside" namespace joined to the host by a veth: host 10.79.0.1/24, outside 10.79.0.2/24, no route back to containers. */
function outside(t: { teardown(fn: () => void): void }, host: string) {
  const out = makeNetns(t, "tbrr-out");
  sh("ip", ["-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", out.name]);
  sh("ip", ["-n", host, "addr", "add", "10.79.0.1/24", "dev", "up0"]);
  sh("ip", ["-n", host, "link", "set", "up0", "up"]);
  sh("ip", ["-n", out.name, "addr", "add", "10.79.0.2/24", "dev", "up1"]);
  sh("ip", ["-n", out.name, "link", "set", "up1", "up"]);
  return out;
}

/** A TCP server in `ns` that answers every connection with the peer address it saw. */
function peerEchoServer(t: { teardown(fn: () => void): void }, ns: string, port: number): void {
  const server = spawn("ip", ["netns", "exec", ns, "socat", `TCP-LISTEN:${port},reuseaddr,fork`, "SYSTEM:echo $SOCAT_PEERADDR"], { stdio: "ignore" });
  t.teardown(() => void server.kill());
  for (let i = 0; i < 50 && !inNs(ns, "ss", ["-ltn"]).includes(`:${port}`); i++) spawnSync("sleep", ["0.05"]);
}

const askPeer = (ns: string, ip: string, port: number): string =>
  inNs(ns, "socat", ["-T", "2", "-", `TCP:${ip}:${port},connect-timeout=2`], { input: "", allowFail: true }).trim();

const nftRules = (ns: string): string => inNs(ns, "nft", ["list", "ruleset"], { allowFail: true });

t.test("ipMasq rewrites the source seen outside; DEL (even after the netns is gone) leaves no rule; GC", async (t) => {
  const host = makeNetns(t, "tbrr-h");
  const out = outside(t, host.name);
  const c1 = makeNetns(t, "tbrr-c1");
  const c2 = makeNetns(t, "tbrr-c2");
  peerEchoServer(t, out.name, 7001);
  const conf = netconf(t, "tbrrnet", "tbrr0", "10.78.0.0/24", { ipMasq: true });

  const r1 = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "m1", netns: c1.path, ifname: "eth0" }, conf);
  t.equal(r1.status, 0, r1.stdout + r1.stderr);
  t.equal(askPeer(c1.name, "10.79.0.2", 7001), "10.79.0.1", "outside sees the host's address, not 10.78.0.2");
  t.match(nftRules(host.name), /table inet tscni-masq[\s\S]*ip saddr 10\.78\.0\.2 ip daddr != 10\.78\.0\.0\/24[\s\S]*masquerade comment "tscni net=tbrrnet id=m1 if=eth0"/);

  const r2 = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "m2", netns: c2.path, ifname: "eth0" }, conf);
  t.equal(r2.status, 0);
  // The runtime deletes the netns before DEL: the rule must still go (plugins#810).
  sh("ip", ["netns", "del", c2.name]);
  const del = execPlugin(BRIDGE, host.name, { command: "DEL", containerId: "m2", netns: c2.path, ifname: "eth0" }, { ...conf, prevResult: r2.json });
  t.equal(del.status, 0, del.stdout);
  t.notMatch(nftRules(host.name), /id=m2/, "no rule of the deleted container");
  t.match(nftRules(host.name), /id=m1/, "the other container's rule stays");

  // GC with only m1 valid keeps it; with none valid removes it.
  const gcKeep = execPlugin(BRIDGE, host.name, { command: "GC" }, { ...conf, "cni.dev/valid-attachments": [{ containerID: "m1", ifname: "eth0" }] });
  t.equal(gcKeep.status, 0, gcKeep.stdout);
  t.match(nftRules(host.name), /id=m1/);
  const gcAll = execPlugin(BRIDGE, host.name, { command: "GC" }, { ...conf, "cni.dev/valid-attachments": [] });
  t.equal(gcAll.status, 0, gcAll.stdout);
  t.notMatch(nftRules(host.name), /id=m1/, "GC removed the rule of an attachment that is no longer valid");
  t.not(askPeer(c1.name, "10.79.0.2", 7001), "10.79.0.1", "without the rule, no masquerade");
});

t.test("isolation: two isolated networks cannot reach each other; without it they can", async (t) => {
  const host = makeNetns(t, "tbrr-hi");
  const [a, b, c] = [makeNetns(t, "tbrr-ia"), makeNetns(t, "tbrr-ib"), makeNetns(t, "tbrr-ic")];
  const netA = netconf(t, "tbrr-a", "tbrra", "10.76.1.0/24", { isolation: true });
  const netB = netconf(t, "tbrr-b", "tbrrb", "10.76.2.0/24", { isolation: true });
  const netC = netconf(t, "tbrr-c", "tbrrc", "10.76.3.0/24");
  for (const [ns, conf, id] of [[a, netA, "ia"], [b, netB, "ib"], [c, netC, "ic"]] as const) {
    const r = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: id, netns: ns.path, ifname: "eth0" }, conf);
    t.equal(r.status, 0, r.stdout + r.stderr);
  }
  t.notOk(pings(a.name, "10.76.2.2"), "isolated A → isolated B is dropped");
  t.notOk(pings(b.name, "10.76.1.2"), "isolated B → isolated A is dropped");
  t.ok(pings(a.name, "10.76.1.1"), "A reaches its own gateway");
  t.ok(pings(a.name, "10.76.3.2"), "isolated A → non-isolated C flows");
  t.ok(pings(c.name, "10.76.2.2"), "non-isolated C → isolated B flows");
  t.match(nftRules(host.name), /table inet tscni-isolation/);
});

t.test("macspoofchk drops frames with a foreign source MAC", async (t) => {
  const host = makeNetns(t, "tbrr-hm");
  const [a, b] = [makeNetns(t, "tbrr-ma"), makeNetns(t, "tbrr-mb")];
  const conf = netconf(t, "tbrr-m", "tbrrm", "10.76.5.0/24", { macspoofchk: true });
  const ra = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "ma", netns: a.path, ifname: "eth0" }, conf);
  const rb = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "mb", netns: b.path, ifname: "eth0" }, conf);
  t.equal(ra.status + rb.status, 0);
  const ping = () => pings(a.name, "10.76.5.3");
  t.ok(ping(), "own MAC: traffic flows");
  sh("ip", ["-n", a.name, "link", "set", "eth0", "address", "02:00:00:00:be:ef"]);
  inNs(a.name, "ip", ["neigh", "flush", "all"]);
  t.notOk(ping(), "spoofed MAC: dropped at the bridge");
  const del = execPlugin(BRIDGE, host.name, { command: "DEL", containerId: "ma", netns: a.path, ifname: "eth0" }, conf);
  t.equal(del.status, 0);
  t.notMatch(nftRules(host.name), /id=ma /, "DEL removed the anti-spoof rule");
});
