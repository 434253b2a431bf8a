import t from "tap";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { DIST_BIN, execPlugin } from "../helpers/plugin-exec.ts";
import { inNs, ipJson, isRoot, makeNetns, pings, sh } from "../helpers/netns.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const BRIDGE = `${DIST_BIN}/bridge`;

function dataDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync("/tmp/tbr-ipam-");
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function netconf(dir: string, extra: Record<string, unknown> = {}, ranges: object = [[{ subnet: "10.71.0.0/24" }]]) {
  return {
    cniVersion: "1.1.0",
    name: "tbrnet",
    type: "bridge",
    bridge: "tbr0",
    isGateway: true,
    ipam: { type: "host-local", ranges, dataDir: dir, routes: [{ dst: "0.0.0.0/0" }] },
    ...extra,
  };
}


t.test("two containers reach each other and the gateway; DEL removes veth and frees the IP", async (t) => {
  const host = makeNetns(t, "tbr-h");
  const c1 = makeNetns(t, "tbr-c1");
  const c2 = makeNetns(t, "tbr-c2");
  const dir = dataDir(t);
  const conf = netconf(dir);

  const r1 = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "ctr1", netns: c1.path, ifname: "eth0" }, conf);
  t.equal(r1.status, 0, r1.stdout + r1.stderr);
  const r2 = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "ctr2", netns: c2.path, ifname: "eth0" }, conf);
  t.equal(r2.status, 0, r2.stdout + r2.stderr);

  t.match(r1.json, {
    cniVersion: "1.1.0",
    interfaces: [{ name: "tbr0" }, { name: /^veth[0-9a-f]{8}$/ }, { name: "eth0", sandbox: c1.path }],
    ips: [{ address: "10.71.0.2/24", gateway: "10.71.0.1", interface: 2 }],
  });
  const ip2 = (r2.json.ips[0].address as string).split("/")[0]!;
  t.equal(ip2, "10.71.0.3");

  // Real kernel state: the container interface carries the address and MAC of the result.
  const eth0 = ipJson<Array<{ address: string; addr_info: Array<{ local: string; prefixlen: number }> }>>(c1.name, ["addr", "show", "eth0"]);
  t.equal(eth0[0]?.address, r1.json.interfaces[2].mac);
  t.ok(eth0[0]?.addr_info.some((a) => a.local === "10.71.0.2" && a.prefixlen === 24));
  const routes = ipJson<Array<{ dst: string; gateway?: string }>>(c1.name, ["route", "show"]);
  t.ok(routes.some((r) => r.dst === "default" && r.gateway === "10.71.0.1"), "default route via the gateway");
  const hostVeth = ipJson<Array<{ master?: string; operstate: string }>>(host.name, ["link", "show", r1.json.interfaces[1].name]);
  t.equal(hostVeth[0]?.master, "tbr0");
  t.ok(ipJson<Array<{ addr_info: Array<{ local: string }> }>>(host.name, ["addr", "show", "tbr0"])[0]?.addr_info.some((a) => a.local === "10.71.0.1"));
  t.equal(inNs(host.name, "cat", ["/proc/sys/net/ipv4/ip_forward"]).trim(), "1", "forwarding on in the host netns");

  t.ok(pings(c1.name, ip2), "container 1 → container 2");
  t.ok(pings(c2.name, "10.71.0.2"), "container 2 → container 1");
  t.ok(pings(c1.name, "10.71.0.1"), "container 1 → gateway");

  const check = execPlugin(BRIDGE, host.name, { command: "CHECK", containerId: "ctr1", netns: c1.path, ifname: "eth0" }, { ...conf, prevResult: r1.json });
  t.equal(check.status, 0, check.stdout);

  const del = execPlugin(BRIDGE, host.name, { command: "DEL", containerId: "ctr1", netns: c1.path, ifname: "eth0" }, { ...conf, prevResult: r1.json });
  t.equal(del.status, 0, del.stdout);
  t.equal(ipJson<unknown[]>(c1.name, ["link", "show", "type", "veth"]).length, 0, "container veth gone");
  t.equal(inNs(host.name, "ip", ["link", "show", r1.json.interfaces[1].name], { allowFail: true }), "", "host veth gone");
  t.notOk(readdirSync(`${dir}/tbrnet`).includes("10.71.0.2"), "lease freed");
  t.notOk(pings(c2.name, "10.71.0.2"), "no longer reachable");

  const again = execPlugin(BRIDGE, host.name, { command: "DEL", containerId: "ctr1", netns: c1.path, ifname: "eth0" }, conf);
  t.equal(again.status, 0, "DEL twice is fine");
  // Round robin: the next ADD gets the next address, not the one just freed.
  const r3 = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "ctr3", netns: c1.path, ifname: "eth0" }, conf);
  t.equal(r3.json?.ips?.[0]?.address, "10.71.0.4/24");
});

t.test("dual-stack 10.x + fd00::, no DAD stall, hairpin", async (t) => {
  const host = makeNetns(t, "tbr-h6");
  const c1 = makeNetns(t, "tbr-c6");
  const c2 = makeNetns(t, "tbr-c7");
  const dir = dataDir(t);
  const conf = netconf(dir, { hairpinMode: true, bridge: "tbr6" }, [[{ subnet: "10.72.0.0/24" }], [{ subnet: "fd00:72::/64" }]]);
  const r1 = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "c6", netns: c1.path, ifname: "eth0" }, conf);
  t.equal(r1.status, 0, r1.stdout);
  const r2 = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "c7", netns: c2.path, ifname: "eth0" }, conf);
  t.equal(r2.status, 0, r2.stdout);
  t.match(r1.json.ips, [{ address: "10.72.0.2/24", gateway: "10.72.0.1" }, { address: "fd00:72::2/64", gateway: "fd00:72::1" }]);
  const v6 = ipJson<Array<{ addr_info: Array<{ local: string; tentative?: boolean }> }>>(c1.name, ["-6", "addr", "show", "eth0"]);
  t.notOk(v6[0]?.addr_info.find((a) => a.local === "fd00:72::2")?.tentative, "usable at once (no DAD)");
  t.ok(pings(c1.name, "fd00:72::3"), "IPv6 container to container");
  t.ok(pings(c1.name, "fd00:72::1"), "IPv6 gateway");
  const port = ipJson<Array<{ linkinfo?: { info_slave_data?: { hairpin?: boolean } } }>>(host.name, ["-d", "link", "show", r1.json.interfaces[1].name]);
  t.equal(port[0]?.linkinfo?.info_slave_data?.hairpin, true, "hairpin on the bridge port");
});

t.test("an ADD that fails halfway (IPAM exhausted) leaves nothing", async (t) => {
  const host = makeNetns(t, "tbr-hx");
  const c1 = makeNetns(t, "tbr-cx1");
  const c2 = makeNetns(t, "tbr-cx2");
  const dir = dataDir(t);
  // A range with exactly one usable address.
  const conf = netconf(dir, { bridge: "tbrx" }, [[{ subnet: "10.73.0.0/30" }]]);
  t.equal(execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "x1", netns: c1.path, ifname: "eth0" }, conf).status, 0);
  const vethsBefore = ipJson<unknown[]>(host.name, ["link", "show", "type", "veth"]).length;
  const failed = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "x2", netns: c2.path, ifname: "eth0" }, conf);
  t.not(failed.status, 0);
  t.match(failed.json, { code: Number, msg: /no IP addresses available|exhaust/i });
  t.equal(ipJson<unknown[]>(c2.name, ["link", "show", "type", "veth"]).length, 0, "no veth left in the container");
  t.equal(ipJson<unknown[]>(host.name, ["link", "show", "type", "veth"]).length, vethsBefore, "no veth left on the host");
  t.same(readdirSync(`${dir}/tbrnet`).filter((f) => /^\d/.test(f)), ["10.73.0.2"], "only the first lease");
});

t.test("bad input: code 7 error JSON, nothing created", async (t) => {
  const host = makeNetns(t, "tbr-hb");
  const c1 = makeNetns(t, "tbr-cb");
  const dir = dataDir(t);
  const bad = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "b1", netns: c1.path, ifname: "eth0" }, netconf(dir, { hairpinMode: true, promiscMode: true }));
  t.not(bad.status, 0);
  t.match(bad.json, { code: 7, msg: /hairpinMode.*promiscMode/ });
  t.equal(ipJson<unknown[]>(host.name, ["link", "show", "type", "bridge"]).length, 0, "no bridge created");
  // The container interface name already exists: refused, nothing left behind.
  sh("ip", ["-n", c1.name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
  const taken = execPlugin(BRIDGE, host.name, { command: "ADD", containerId: "b2", netns: c1.path, ifname: "eth0" }, netconf(dir));
  t.not(taken.status, 0);
  t.match(taken.json, { msg: /"eth0" already exists/ });
  t.equal(ipJson<unknown[]>(host.name, ["link", "show", "type", "veth"]).length, 0, "no host veth left");
  t.same(readdirSync(`${dir}`).length ? readdirSync(`${dir}/tbrnet`).filter((f) => /^\d/.test(f)) : [], [], "no lease left");
});
