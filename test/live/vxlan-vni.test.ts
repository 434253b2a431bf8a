// Two VNIs on the same hosts: separate devices, separate peer state, separate L2 segments.
import t from "tap";
import { inNs, ipJson, isRoot } from "../helpers/netns.ts";
import { addContainer, deviceState, makeLab, ping, type Host, type Lab } from "../helpers/vxlan-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

t.test("l2 mode: two VNIs are separate segments even with the same addresses in both", async (t) => {
  const lab = makeLab(t, { hosts: 2 });
  const [a, b] = lab.hosts as [Host, Host];
  // No IPAM: the containers get their addresses here, the same ones in both networks.
  const conf = (vni: number) => ({ cniVersion: "1.1.0", name: `tvx-seg${vni}`, type: "vxlan", vni, mode: "l2", underlayInterface: "ul0", peers: lab.hosts.map((h) => ({ ip: h.underlayIp })) });
  const xa = addContainer(t, a, conf(6001), "tvx-xa");
  const xb = addContainer(t, b, conf(6001), "tvx-xb");
  const ya = addContainer(t, a, conf(6002), "tvx-ya");
  const yb = addContainer(t, b, conf(6002), "tvx-yb");
  for (const [c, ip] of [[xa, "10.250.0.1"], [xb, "10.250.0.2"], [ya, "10.250.0.3"], [yb, "10.250.0.2"]] as const) {
    inNs(c.ns, "ip", ["addr", "add", `${ip}/24`, "dev", "eth0"]);
  }
  t.same(
    ipJson<any[]>(a.ns, ["-d", "link", "show", "type", "vxlan"]).map((l) => [l.ifname, l.linkinfo.info_data.id, l.master]).sort(),
    [["vxlan.6001", 6001, "vxbr.6001"], ["vxlan.6002", 6002, "vxbr.6002"]],
    "one device per VNI, each in its own bridge",
  );
  t.ok(ping(xa.ns, "10.250.0.2"), "X on A reaches 10.250.0.2");
  t.same(ipJson<any[]>(xa.ns, ["neigh", "show", "10.250.0.2"]).map((n) => n.lladdr), [xb.result.interfaces[2].mac], "and it is X on B, not Y on B");
  t.ok(ping(ya.ns, "10.250.0.2"), "Y on A reaches 10.250.0.2");
  t.same(ipJson<any[]>(ya.ns, ["neigh", "show", "10.250.0.2"]).map((n) => n.lladdr), [yb.result.interfaces[2].mac], "which is Y on B");
  t.notOk(ping(xa.ns, "10.250.0.3", { count: 1 }), "X on A does not reach Y on A (other bridge)");
  t.notOk(
    ipJson<any[]>(yb.ns, ["neigh", "show"]).some((n) => n.dst === "10.250.0.1"),
    "X's ARP requests never reached Y on B",
  );
});

t.test("routed mode: two VNIs side by side keep their own devices and peer entries", async (t) => {
  const lab = makeLab(t, { hosts: 2 });
  const [a, b] = lab.hosts as [Host, Host];
  const conf = (l: Lab, h: Host, vni: number, octet: number) => ({
    cniVersion: "1.1.0",
    name: `tvx-r${vni}`,
    type: "vxlan",
    vni,
    underlayInterface: "ul0",
    subnet: `10.${octet}.${h.n}.0/24`,
    peers: l.hosts.map((p) => ({ ip: p.underlayIp, subnet: `10.${octet}.${p.n}.0/24` })),
    ipam: { type: "host-local", dataDir: `${h.dataDir}-${vni}`, ranges: [[{ subnet: `10.${octet}.${h.n}.0/24` }]] },
  });
  const xa = addContainer(t, a, conf(lab, a, 7001, 248), "tvx-ra1");
  const xb = addContainer(t, b, conf(lab, b, 7001, 248), "tvx-rb1");
  const ya = addContainer(t, a, conf(lab, a, 7002, 249), "tvx-ra2");
  const yb = addContainer(t, b, conf(lab, b, 7002, 249), "tvx-rb2");
  t.same(deviceState(a.ns, "vxlan.7001").routes.map((r) => r.dst), ["10.248.2.0/24"], "VNI 7001's device routes only its network");
  t.same(deviceState(a.ns, "vxlan.7002").routes.map((r) => r.dst), ["10.249.2.0/24"], "VNI 7002's device routes only its network");
  t.ok(ping(xa.ns, xb.ip), "7001: A → B");
  t.ok(ping(ya.ns, yb.ip), "7002: A → B");
});
