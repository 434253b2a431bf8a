// vxlan over an IPv6 underlay (device vxlan6.<vni>, MTU − 70) and an IPv6 overlay over IPv4.
import t from "tap";
import { ipJson, isRoot } from "../helpers/netns.ts";
import { addContainer, deviceState, fragmentsCreated, makeLab, ping, tcpTransfer, type Host, type Lab } from "../helpers/vxlan-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

function conf(lab: Lab, host: Host, subnetOf: (n: number) => string) {
  return {
    cniVersion: "1.1.0",
    name: "tvx-v6",
    type: "vxlan",
    vni: 77,
    underlayInterface: "ul0",
    subnet: subnetOf(host.n),
    peers: lab.hosts.map((p) => ({ ip: p.underlayIp, subnet: subnetOf(p.n) })),
    ipam: { type: "host-local", dataDir: host.dataDir, ranges: [[{ subnet: subnetOf(host.n) }]] },
  };
}

t.test("routed mode over an IPv6 underlay: vxlan6 device, MTU 1500 − 70, traffic without fragments", async (t) => {
  const lab = makeLab(t, { hosts: 2, family: 6 });
  const [a, b] = lab.hosts as [Host, Host];
  const subnet = (n: number) => `10.247.${n}.0/24`;
  const ca = addContainer(t, a, conf(lab, a, subnet), "tvx-6a");
  const cb = addContainer(t, b, conf(lab, b, subnet), "tvx-6b");
  t.equal(ca.result.interfaces[3].name, "vxlan6.77", "device named for the IPv6 underlay");
  t.equal(ca.result.interfaces[2].mtu, 1430, "container MTU 1500 − 70");
  const link = ipJson<any[]>(a.ns, ["-d", "link", "show", "vxlan6.77"])[0];
  t.match(link.linkinfo.info_data, { id: 77, port: 4789, local6: "fd00:200::1", learning: false });
  t.match(link.address, /^02:36:/, "VTEP MAC derived from the IPv6 underlay address");
  t.same(deviceState(a.ns, "vxlan6.77").fdb.map((f) => f.dst), ["fd00:200::2"], "FDB entry to the peer's IPv6 VTEP");

  t.ok(ping(ca.ns, cb.ip), "A → B");
  const before = fragmentsCreated(a.ns) + fragmentsCreated(b.ns);
  t.ok((await tcpTransfer(ca, cb, 2 << 20)).ok, "2 MiB over TCP intact");
  t.ok(ping(ca.ns, cb.ip, { dontFragment: true, size: 1430 - 28, count: 1 }), "largest DF ping passes");
  t.notOk(ping(ca.ns, cb.ip, { dontFragment: true, size: 1430 - 27, count: 1 }), "one byte more does not");
  t.equal(fragmentsCreated(a.ns) + fragmentsCreated(b.ns), before, "no fragmentation on the underlay");
});

t.test("routed mode: an IPv6 overlay over an IPv4 underlay", async (t) => {
  const lab = makeLab(t, { hosts: 2 });
  const [a, b] = lab.hosts as [Host, Host];
  const subnet = (n: number) => `fd00:244:${n}::/64`;
  const ca = addContainer(t, a, conf(lab, a, subnet), "tvx-46a");
  const cb = addContainer(t, b, conf(lab, b, subnet), "tvx-46b");
  t.match(ca.ip, /^fd00:244:1::/);
  t.same(ca.result.routes, [{ dst: "::/0", gw: "fd00:244:1::1" }], "IPv6 default route via the bridge");
  const state = deviceState(a.ns, "vxlan.77");
  t.same(state.routes.map((r) => [r.dst, r.gateway]), [["fd00:244:2::/64", "fd00:244:2::"]], "route via the peer's VTEP address (its subnet's first address)");
  t.same(state.neighbours.map((n) => n.dst), ["fd00:244:2::"], "IPv6 neighbour for the peer's VTEP");
  t.ok(ping(ca.ns, cb.ip), "A → B over IPv6");
  t.ok(ping(ca.ns, cb.ip, { dontFragment: true, size: 1450 - 48, count: 1 }), "largest IPv6 ping (1450 − 40 − 8) passes");
  t.ok((await tcpTransfer(ca, cb, 1 << 20)).ok, "1 MiB over TCP/IPv6 intact");
});
