import t from "tap";
import { NETLINK_ROUTE } from "../../lib/netlink/constants.ts";
import { NetlinkError, NetlinkSocket } from "../../lib/netlink/socket.ts";
import { openNetns, withNetnsSync } from "../../lib/netns/netns.ts";
import { addAddress, deleteAddress, listAddresses } from "../../lib/rtnl/addresses.ts";
import { createLink, deleteLink, deleteLinkIfPresent, findLinkByName, getLinkByName, listLinks, setLink } from "../../lib/rtnl/links.ts";
import { addRoute, deleteRoute, listRoutes, routeGet } from "../../lib/rtnl/routes.ts";
import { appendFdbEntry, listNeighbours, replaceNeighbour } from "../../lib/rtnl/neighbours.ts";
import { parseIp, parsePrefix, formatPrefix, formatIp } from "../../lib/ip/address.ts";
import { parseMac } from "../../lib/ip/mac.ts";
import { decodeBridgePortData } from "../../lib/rtnl/kinds/bridge.ts";
import { ipJson, isRoot, makeNetns } from "../helpers/netns.ts";
import { caught } from "../helpers/assert.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

function rtnlIn(path: string): NetlinkSocket {
  const ns = openNetns(path);
  try {
    return withNetnsSync(ns.fd, () => NetlinkSocket.open(NETLINK_ROUTE));
  } finally {
    ns.close();
  }
}

t.test("veth pair with the peer created in another netns, bridge, master, up", async (t) => {
  const host = makeNetns(t, "tr-host");
  const ctr = makeNetns(t, "tr-ctr");
  const nl = rtnlIn(host.path);
  t.teardown(() => nl.close());
  const ctrNs = openNetns(ctr.path);
  t.teardown(() => ctrNs.close());

  createLink(nl, { name: "br-t", kind: { kind: "bridge" }, up: true });
  const br = getLinkByName(nl, "br-t");
  t.equal(br.kind, "bridge");

  createLink(nl, {
    name: "veth-t",
    mtu: 1400,
    kind: { kind: "veth", peer: { name: "eth0", netnsFd: ctrNs.fd, mtu: 1400, mac: parseMac("02:11:22:33:44:55") } },
  });
  const veth = getLinkByName(nl, "veth-t");
  t.equal(veth.kind, "veth");
  t.equal(veth.mtu, 1400);
  setLink(nl, veth.index, { master: br.index, up: true, bridgePort: { hairpin: true, isolated: true } });

  const seen = ipJson<Array<{ ifname: string; master?: string; mtu: number; linkinfo?: { info_slave_data?: { hairpin?: boolean; isolated?: boolean } } }>>(host.name, ["-d", "link", "show", "veth-t"]);
  t.equal(seen[0]?.master, "br-t");
  t.equal(seen[0]?.linkinfo?.info_slave_data?.hairpin, true);
  t.equal(seen[0]?.linkinfo?.info_slave_data?.isolated, true);
  const reread = getLinkByName(nl, "veth-t");
  t.same(decodeBridgePortData(reread.portData), { hairpin: true, isolated: true });
  t.equal(reread.master, br.index);

  const inCtr = ipJson<Array<{ ifname: string; address: string; mtu: number }>>(ctr.name, ["link", "show", "eth0"]);
  t.equal(inCtr[0]?.address, "02:11:22:33:44:55");
  t.equal(inCtr[0]?.mtu, 1400);

  t.ok(listLinks(nl).some((l) => l.name === "br-t"));
  deleteLink(nl, veth.index);
  t.equal(findLinkByName(nl, "veth-t"), undefined);
  t.equal(ipJson<unknown[]>(ctr.name, ["link"]).length, 1, "peer went with it");
});

t.test("EEXIST and ENODEV surface by name", async (t) => {
  const host = makeNetns(t, "tr-err");
  const nl = rtnlIn(host.path);
  t.teardown(() => nl.close());
  createLink(nl, { name: "dup0", kind: { kind: "bridge" } });
  const dup = caught(() => createLink(nl, { name: "dup0", kind: { kind: "bridge" } }));
  t.ok(dup instanceof NetlinkError);
  t.match(dup, { code: "EEXIST", errno: 17, message: /^add bridge "dup0": EEXIST/ });
  t.match(caught(() => deleteLink(nl, 99999)), { code: "ENODEV", message: /^delete link 99999: ENODEV/ });
  t.equal(deleteLinkIfPresent(nl, 99999), false, "a link already gone is no error where that is allowed");
  t.equal(deleteLinkIfPresent(nl, getLinkByName(nl, "dup0").index), true);
  t.equal(findLinkByName(nl, "dup0"), undefined);
  t.equal(findLinkByName(nl, "nope0"), undefined);
});

t.test("addresses v4/v6 with nodad, routes with via/onlink/table/mtu", async (t) => {
  const host = makeNetns(t, "tr-addr");
  const nl = rtnlIn(host.path);
  t.teardown(() => nl.close());
  createLink(nl, { name: "d0", kind: { kind: "veth", peer: { name: "d0p" } }, up: true });
  const d0 = getLinkByName(nl, "d0");
  addAddress(nl, d0.index, parsePrefix("10.99.0.1/24"));
  addAddress(nl, d0.index, parsePrefix("fd00:99::1/64"), { noDad: true });
  t.throws(() => addAddress(nl, d0.index, parsePrefix("10.99.0.1/24")), /EEXIST/);
  const addrs = listAddresses(nl, { index: d0.index }).map((a) => formatPrefix(a.prefix));
  t.ok(addrs.includes("10.99.0.1/24"));
  t.ok(addrs.includes("fd00:99::1/64"));
  const v6 = ipJson<Array<{ addr_info: Array<{ local: string; tentative?: boolean }> }>>(host.name, ["-6", "addr", "show", "d0"]);
  t.notOk(v6[0]?.addr_info.find((a) => a.local === "fd00:99::1")?.tentative, "nodad: not tentative");

  addRoute(nl, { dst: parsePrefix("10.50.0.0/16"), gateway: parseIp("10.99.0.254"), oif: d0.index, mtu: 1300 });
  addRoute(nl, { dst: parsePrefix("10.51.0.0/16"), gateway: parseIp("192.0.2.1"), oif: d0.index, onlink: true });
  addRoute(nl, { dst: parsePrefix("10.52.0.0/16"), oif: d0.index, table: 1000 });
  addRoute(nl, { dst: parsePrefix("fd00:50::/64"), gateway: parseIp("fd00:99::fe"), oif: d0.index });
  t.throws(() => addRoute(nl, { dst: parsePrefix("10.50.0.0/16"), gateway: parseIp("10.99.0.254"), oif: d0.index }), /EEXIST/);
  addRoute(nl, { dst: parsePrefix("10.50.0.0/16"), gateway: parseIp("10.99.0.253"), oif: d0.index }, { replace: true });

  const shown = ipJson<Array<{ dst: string; gateway?: string; flags: string[]; metrics?: Array<{ mtu?: number }> }>>(host.name, ["route", "show"]);
  t.equal(shown.find((r) => r.dst === "10.50.0.0/16")?.gateway, "10.99.0.253");
  t.ok(shown.find((r) => r.dst === "10.51.0.0/16")?.flags.includes("onlink"));
  t.equal(ipJson<unknown[]>(host.name, ["route", "show", "table", "1000"]).length, 1);
  const routes = listRoutes(nl, { family: 4, oif: d0.index });
  t.ok(routes.some((r) => formatPrefix(r.dst) === "10.51.0.0/16" && r.onlink));
  t.ok(listRoutes(nl, { family: 6 }).some((r) => formatPrefix(r.dst) === "fd00:50::/64" && r.gateway && formatIp(r.gateway) === "fd00:99::fe"));
  t.equal(routeGet(nl, parseIp("10.99.0.7"))?.oif, d0.index);

  deleteRoute(nl, { dst: parsePrefix("10.51.0.0/16"), gateway: parseIp("192.0.2.1"), oif: d0.index });
  t.notOk(ipJson<Array<{ dst: string }>>(host.name, ["route", "show"]).some((r) => r.dst === "10.51.0.0/16"));
  t.throws(() => deleteRoute(nl, { dst: parsePrefix("10.51.0.0/16"), oif: d0.index }), /ESRCH/);
  deleteAddress(nl, d0.index, parsePrefix("10.99.0.1/24"));
  t.notOk(listAddresses(nl, { index: d0.index, family: 4 }).length);
});

t.test("neighbours and bridge FDB entries", async (t) => {
  const host = makeNetns(t, "tr-neigh");
  const nl = rtnlIn(host.path);
  t.teardown(() => nl.close());
  createLink(nl, { name: "d1", kind: { kind: "veth", peer: { name: "d1p" } }, up: true });
  const d1 = getLinkByName(nl, "d1");
  replaceNeighbour(nl, { index: d1.index, ip: parseIp("10.98.0.2"), mac: parseMac("02:00:00:00:00:02") });
  replaceNeighbour(nl, { index: d1.index, ip: parseIp("10.98.0.2"), mac: parseMac("02:00:00:00:00:03") });
  const neigh = ipJson<Array<{ dst: string; lladdr: string; state: string[] }>>(host.name, ["neigh", "show", "dev", "d1"]);
  t.equal(neigh[0]?.lladdr, "02:00:00:00:00:03");
  t.ok(neigh[0]?.state.includes("PERMANENT"));
  t.equal(listNeighbours(nl, 4, d1.index)[0]?.mac, "02:00:00:00:00:03");

  createLink(nl, { name: "br-f", kind: { kind: "bridge" } });
  createLink(nl, { name: "d2", kind: { kind: "veth", peer: { name: "d2p" } }, master: getLinkByName(nl, "br-f").index });
  const d2 = getLinkByName(nl, "d2");
  appendFdbEntry(nl, { index: d2.index, mac: parseMac("02:aa:00:00:00:01") });
  t.ok(listNeighbours(nl, "bridge", d2.index).some((n) => n.mac === "02:aa:00:00:00:01"));
});
