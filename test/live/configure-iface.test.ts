// lib/cni/configure-iface.ts in-process against the real kernel: a veth pair between two throw-away
// netns, the "container" end configured from a result as bridge/macvlan/ipvlan do.
import t, { type Test } from "tap";
import { checkIfaceConfig, configureIface, type ContainerLink } from "../../lib/cni/configure-iface.ts";
import type { Result } from "../../lib/cni/result.ts";
import { openNetns } from "../../lib/netns/netns.ts";
import { openRtnlIn } from "../../lib/netns/sockets.ts";
import { getLinkByName } from "../../lib/rtnl/links.ts";
import { caught } from "../helpers/assert.ts";
import { inNs, ipJson, isRoot, makeNetns } from "../helpers/netns.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

interface AddrJson {
  addr_info: Array<{ family: string; local: string; prefixlen: number; tentative?: boolean; nodad?: boolean; dadfailed?: boolean; scope: string }>;
}

/** Container netns with eth0, a veth whose peer `tmv-peer` sits up in a second netns. */
function setup(t: Test): { ctr: { name: string }; peer: { name: string }; link: ContainerLink } {
  const ctr = makeNetns(t, "tmv-ci");
  const peer = makeNetns(t, "tmv-cp");
  inNs(ctr.name, "ip", ["link", "add", "eth0", "type", "veth", "peer", "name", "tmv-peer", "netns", peer.name]);
  inNs(peer.name, "ip", ["link", "set", "tmv-peer", "up"]);
  const netns = openNetns(ctr.path);
  const nl = openRtnlIn(netns);
  t.teardown(() => {
    nl.close();
    netns.close();
  });
  return { ctr, peer, link: { netns, nl, index: getLinkByName(nl, "eth0").index, name: "eth0" } };
}

const addrs = (ns: string) => ipJson<AddrJson[]>(ns, ["addr", "show", "dev", "eth0"])[0]?.addr_info ?? [];
const sysctl = (ns: string, key: string) => inNs(ns, "sysctl", ["-n", key]).trim();

const result: Result = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "host0" }, { name: "eth0", sandbox: "/x" }],
  ips: [
    { address: "10.60.0.2/24", gateway: "10.60.0.1", interface: 1 },
    { address: "fd00:60::2/64", gateway: "fd00:60::1", interface: 1 },
    { address: "10.61.0.9/24", interface: 0 },
    { address: "10.62.0.9/24" },
  ],
  routes: [{ dst: "0.0.0.0/0" }, { dst: "10.63.0.0/16", gw: "10.60.0.254", priority: 7 }, { dst: "fd00:64::1/64" }, { dst: "10.65.0.0/16", table: 100 }],
};

t.test("applies the interface's IPs, sysctls, link up and routes with gateways filled in", async (t) => {
  const { ctr, link } = setup(t);
  configureIface(link, result, 1);
  const v4 = addrs(ctr.name).filter((a) => a.family === "inet");
  t.same(
    v4.map((a) => `${a.local}/${a.prefixlen}`),
    ["10.60.0.2/24"],
    "only the IPs bound to interface 1",
  );
  const v6 = addrs(ctr.name).filter((a) => a.family === "inet6");
  t.ok(v6.some((a) => a.local === "fd00:60::2" && a.nodad), "the IPv6 address is nodad");
  t.ok(v6.every((a) => !a.tentative), "nothing tentative, link-local included");
  t.equal(sysctl(ctr.name, "net.ipv4.conf.eth0.arp_notify"), "1");
  t.equal(sysctl(ctr.name, "net.ipv6.conf.eth0.ndisc_notify"), "1");
  t.equal(sysctl(ctr.name, "net.ipv6.conf.eth0.accept_dad"), "0");
  t.equal(sysctl(ctr.name, "net.ipv6.conf.eth0.keep_addr_on_down"), "1");
  const routes = inNs(ctr.name, "ip", ["route"]);
  t.match(routes, /default via 10\.60\.0\.1 dev eth0/, "default route via the IP's gateway");
  t.match(routes, /10\.63\.0\.0\/16 via 10\.60\.0\.254 dev eth0 metric 7/, "a route's own gateway and priority");
  t.match(inNs(ctr.name, "ip", ["-6", "route"]), /fd00:64::\/64 via fd00:60::1 dev eth0/, "host bits of dst cleared, IPv6 gateway");
  t.match(inNs(ctr.name, "ip", ["route", "show", "table", "100"]), /10\.65\.0\.0\/16 via 10\.60\.0\.1 dev eth0/, "route table");

  t.doesNotThrow(() => checkIfaceConfig(link, result, 1), "CHECK agrees");
  inNs(ctr.name, "ip", ["route", "del", "10.65.0.0/16", "table", "100"]);
  t.match(caught(() => checkIfaceConfig(link, result, 1)), { code: 7, message: 'route 10.65.0.0/16 via 10.60.0.1 table 100 not found on interface "eth0"' });
});

t.test("with dad: DAD runs and ADD waits for it to finish", async (t) => {
  const { ctr, link } = setup(t);
  const started = Date.now();
  configureIface(link, { cniVersion: "1.1.0", ips: [{ address: "fd00:60::2/64", interface: 0 }] }, 0, { dad: true });
  const v6 = addrs(ctr.name).filter((a) => a.local === "fd00:60::2");
  t.equal(v6.length, 1);
  t.notOk(v6[0]?.nodad, "a normal address, with DAD");
  t.notOk(v6[0]?.tentative, "DAD finished before configureIface returned");
  t.ok(Date.now() - started >= 500, "which took DAD's time");
});

t.test("with dad: a duplicate address fails with DADFAILED", async (t) => {
  const { peer, link } = setup(t);
  inNs(peer.name, "ip", ["addr", "add", "fd00:60::2/64", "dev", "tmv-peer", "nodad"]);
  const err = caught(() => configureIface(link, { cniVersion: "1.1.0", ips: [{ address: "fd00:60::2/64", interface: 0 }] }, 0, { dad: true }));
  t.match(err, { code: 999, message: 'link "eth0" has address fd00:60::2/64 in DADFAILED state' });
});

t.test("errors name the interface and the failed step", async (t) => {
  const { link } = setup(t);
  const err = caught(() => configureIface(link, { cniVersion: "1.1.0", ips: [{ address: "10.60.0.2/24", interface: 0 }], routes: [{ dst: "10.70.0.0/16", gw: "10.99.0.1" }] }, 0));
  t.match(err, { code: 999, message: /^failed to configure interface "eth0": add route 10\.70\.0\.0\/16 via 10\.99\.0\.1 dev \d+: ENETUNREACH/ });
});
