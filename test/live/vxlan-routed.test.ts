// vxlan routed mode (flannel style) across three hosts: kernel state per peer, ping and TCP between
// containers on different hosts, MTU, peer removal by GC, concurrent ADDs, DEL keeping shared state.
import t from "tap";
import { inNs, ipJson, isRoot } from "../helpers/netns.ts";
import { addContainer, deviceState, fragmentsCreated, makeLab, ping, runVxlan, runVxlanAsync, tcpTransfer, type Host, type Lab } from "../helpers/vxlan-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const VNI = 4096;
const DEVICE = `vxlan.${VNI}`;

/** The elements of the device's source filter set. */
const filterSources = (ns: string): string[] =>
  (JSON.parse(inNs(ns, "nft", ["-j", "list", "set", "inet", "tscni-vxlan", "vxlan_4096_4789"])).nftables as any[]).flatMap((o) => o.set?.elem ?? []).sort();

/** Host n owns 10.244.n.0/24; every host gets the same peer list (its own entry is skipped). */
function routedConf(lab: Lab, host: Host, extra: Record<string, unknown> = {}, peers: Host[] = lab.hosts) {
  return {
    cniVersion: "1.1.0",
    name: "tvx-routed",
    type: "vxlan",
    vni: VNI,
    underlayInterface: "ul0",
    subnet: `10.244.${host.n}.0/24`,
    peers: peers.map((p) => ({ ip: p.underlayIp, subnet: `10.244.${p.n}.0/24` })),
    ipam: { type: "host-local", dataDir: host.dataDir, ranges: [[{ subnet: `10.244.${host.n}.0/24` }]] },
    ...extra,
  };
}

t.test("routed mode: three hosts, per-peer state, ping and TCP across hosts, MTU", async (t) => {
  const lab = makeLab(t);
  const [a, b, c] = lab.hosts as [Host, Host, Host];
  const ca = addContainer(t, a, routedConf(lab, a), "tvx-ra");
  const cb = addContainer(t, b, routedConf(lab, b), "tvx-rb");
  const cc = addContainer(t, c, routedConf(lab, c), "tvx-rc");

  t.match(ca.ip, /^10\.244\.1\./, "IPAM address from host A's subnet");
  t.same(
    ca.result.interfaces.map((i: { name: string; mtu?: number }) => [i.name, i.mtu]),
    [["vxbr.4096", 1450], [ca.result.interfaces[1].name, 1450], ["eth0", 1450], [DEVICE, 1450]],
    "1.1 result: bridge, host veth, container, vxlan device, all with MTU 1500 − 50",
  );
  t.same(ca.result.routes, [{ dst: "0.0.0.0/0", gw: "10.244.1.1" }], "default route via the bridge gateway");

  const link = ipJson<any[]>(a.ns, ["-d", "link", "show", DEVICE])[0];
  t.equal(link.linkinfo.info_kind, "vxlan");
  t.match(link.linkinfo.info_data, { id: VNI, port: 4789, local: "10.200.0.1", learning: false }, "vxlan: VNI, dstport 4789 (not 8472), local, no learning");
  t.notOk(link.linkinfo.info_data.l2miss || link.linkinfo.info_data.l3miss, "no miss notifications");
  t.equal(link.address, "02:76:0a:c8:00:01", "VTEP MAC derived from the underlay IP");
  t.same(
    ipJson<any[]>(a.ns, ["addr", "show", "dev", DEVICE])[0].addr_info.filter((x: any) => x.family === "inet").map((x: any) => `${x.local}/${x.prefixlen}`),
    ["10.244.1.0/32"],
    "VTEP address: the host subnet's network address /32",
  );
  t.same(
    ipJson<any[]>(a.ns, ["addr", "show", "dev", "vxbr.4096"])[0].addr_info.filter((x: any) => x.family === "inet").map((x: any) => `${x.local}/${x.prefixlen}`),
    ["10.244.1.1/24"],
    "bridge holds the subnet's gateway",
  );

  const state = deviceState(a.ns, DEVICE);
  t.same(
    state.routes.map((r) => [r.dst, r.gateway, r.flags.includes("onlink")]).sort(),
    [["10.244.2.0/24", "10.244.2.0", true], ["10.244.3.0/24", "10.244.3.0", true]],
    "one onlink route per peer via its VTEP address",
  );
  t.same(state.neighbours.map((n) => [n.dst, n.lladdr]).sort(), [["10.244.2.0", "02:76:0a:c8:00:02"], ["10.244.3.0", "02:76:0a:c8:00:03"]], "one permanent neighbour per peer");
  t.same(state.fdb.map((f) => [f.mac, f.dst]).sort(), [["02:76:0a:c8:00:02", "10.200.0.2"], ["02:76:0a:c8:00:03", "10.200.0.3"]], "one FDB entry per peer");
  t.same(filterSources(a.ns), ["10.200.0.2", "10.200.0.3"], "the source filter admits the two peers");
  t.match(
    inNs(a.ns, "nft", ["list", "chain", "inet", "tscni-vxlan", "input"]),
    /udp dport 4789 @th,96,24 0x1000 ip saddr != @vxlan_4096_4789 drop comment "tscni vxlan vxlan\.4096 port 4789"/,
    "drops VXLAN for VNI 4096 from anyone else",
  );

  t.ok(ping(ca.ns, cb.ip), "A → B");
  t.ok(ping(ca.ns, cc.ip), "A → C");
  t.ok(ping(cc.ns, cb.ip), "C → B");

  const fragsBefore = fragmentsCreated(a.ns) + fragmentsCreated(b.ns);
  const transfer = await tcpTransfer(ca, cb, 4 << 20);
  t.ok(transfer.ok, "4 MiB over TCP from A to B arrive intact", transfer);
  t.ok(ping(ca.ns, cb.ip, { dontFragment: true, size: 1450 - 28, count: 1 }), "DF ping of 1422 bytes (1450 on the wire) passes");
  t.notOk(ping(ca.ns, cb.ip, { dontFragment: true, size: 1450 - 28 + 1, count: 1 }), "one byte more does not");
  t.equal(fragmentsCreated(a.ns) + fragmentsCreated(b.ns), fragsBefore, "no fragmentation on the underlay");
});

t.test("routed mode: MTU follows the underlay, an explicit MTU too large is refused", async (t) => {
  const lab = makeLab(t, { hosts: 2, underlayMtu: 9000 });
  const [a, b] = lab.hosts as [Host, Host];
  const ca = addContainer(t, a, routedConf(lab, a), "tvx-ja");
  const cb = addContainer(t, b, routedConf(lab, b), "tvx-jb");
  t.equal(ca.result.interfaces[2].mtu, 8950, "9000 − 50");
  t.equal(ipJson<any[]>(ca.ns, ["link", "show", "eth0"])[0].mtu, 8950, "container interface has it");
  t.ok(ping(ca.ns, cb.ip, { dontFragment: true, size: 8950 - 28, count: 1 }), "largest DF ping passes");
  t.notOk(ping(ca.ns, cb.ip, { dontFragment: true, size: 8950 - 28 + 1, count: 1 }), "one byte more does not");

  const tooBig = runVxlan(a, { command: "ADD", containerId: "tvx-jbig", netns: ca.path, ifname: "eth1" }, routedConf(lab, a, { mtu: 8951 }));
  t.equal(tooBig.json?.code, 7, "mtu 8951 on a 9000 underlay: code 7");
  t.match(tooBig.json?.msg, /does not fit the underlay/);
});

t.test("routed mode: removing a peer and GC deletes its route, neighbour and FDB entry; traffic stops", async (t) => {
  const lab = makeLab(t);
  const [a, b, c] = lab.hosts as [Host, Host, Host];
  const ca = addContainer(t, a, routedConf(lab, a), "tvx-ga");
  const cb = addContainer(t, b, routedConf(lab, b), "tvx-gb");
  const cc = addContainer(t, c, routedConf(lab, c), "tvx-gc");
  t.ok(ping(ca.ns, cc.ip), "A → C before");

  const withoutC = routedConf(lab, a, { "cni.dev/valid-attachments": [{ containerID: "tvx-ga", ifname: "eth0" }] }, [a, b]);
  const gc = runVxlan(a, { command: "GC" }, withoutC);
  t.equal(gc.status, 0, "GC succeeds", { stdout: gc.stdout, stderr: gc.stderr });
  const state = deviceState(a.ns, DEVICE);
  t.same(state.routes.map((r) => r.dst), ["10.244.2.0/24"], "only B's route is left");
  t.same(state.neighbours.map((n) => n.dst), ["10.244.2.0"], "only B's neighbour is left");
  t.same(state.fdb.map((f) => f.dst), ["10.200.0.2"], "only B's FDB entry is left");
  t.same(filterSources(a.ns), ["10.200.0.2"], "only B may send");
  t.notOk(ping(ca.ns, cc.ip, { count: 1 }), "A → C stops");
  t.notOk(ping(cc.ns, ca.ip, { count: 1 }), "C, which still lists A, cannot reach A's containers either: A drops its packets");
  t.ok(ping(ca.ns, cb.ip), "A → B still works");
  t.equal(inNs(ca.ns, "ip", ["-br", "addr", "show", "eth0"]).includes(ca.ip), true, "the valid attachment keeps its address (IPAM GC)");

  addContainer(t, a, routedConf(lab, a), "tvx-ga2");
  t.same(deviceState(a.ns, DEVICE).routes.map((r) => r.dst).sort(), ["10.244.2.0/24", "10.244.3.0/24"], "an ADD with C back in the list re-programs C");
  t.ok(ping(ca.ns, cc.ip), "A → C again");
});

t.test("routed mode: concurrent ADDs on one host, DEL leaves shared state, recreates an incompatible device", async (t) => {
  const lab = makeLab(t, { hosts: 2 });
  const [a, b] = lab.hosts as [Host, Host];
  const conf = routedConf(lab, a);
  const containers = await Promise.all(
    [0, 1, 2, 3, 4, 5].map(async (i) => {
      const { makeNetns } = await import("../helpers/netns.ts");
      const ns = makeNetns(t, "tvx-c");
      const reply = await runVxlanAsync(a, { command: "ADD", containerId: `tvx-p${i}`, netns: ns.path, ifname: "eth0" }, conf);
      return { ns, reply };
    }),
  );
  t.same(containers.map((c) => c.reply.status), [0, 0, 0, 0, 0, 0], "six concurrent ADDs succeed", { errors: containers.map((c) => c.reply.stdout) });
  const ips = new Set(containers.map((c) => c.reply.json?.ips?.[0]?.address));
  t.equal(ips.size, 6, "six distinct addresses");
  t.equal(ipJson<any[]>(a.ns, ["-d", "link", "show", "type", "vxlan"]).length, 1, "one vxlan device");
  const state = deviceState(a.ns, DEVICE);
  t.equal(state.routes.length + state.neighbours.length + state.fdb.length, 3, "three entries for the one peer");
  const cb = addContainer(t, b, routedConf(lab, b), "tvx-pb");
  t.ok(ping(containers[0]!.ns.name, cb.ip), "works across hosts");

  const del = runVxlan(a, { command: "DEL", containerId: "tvx-p0", netns: containers[0]!.ns.path, ifname: "eth0" }, conf);
  t.equal(del.status, 0, "DEL");
  t.equal(ipJson<any[]>(containers[0]!.ns.name, ["link", "show"]).length, 1, "container veth gone");
  t.ok(ping(containers[1]!.ns.name, cb.ip), "other containers keep working");
  t.equal(deviceState(a.ns, DEVICE).routes.length, 1, "peer state kept");
  t.equal(runVxlan(a, { command: "DEL", containerId: "tvx-p0", netns: containers[0]!.ns.path, ifname: "eth0" }, conf).status, 0, "DEL again is fine");

  // An old device with another port is recreated, and its peers re-programmed.
  inNs(a.ns, "ip", ["link", "del", DEVICE]);
  inNs(a.ns, "ip", ["link", "add", DEVICE, "type", "vxlan", "id", String(VNI), "dstport", "8472", "local", "10.200.0.1", "dev", "ul0"]);
  const again = addContainer(t, a, conf, "tvx-p9");
  t.equal(ipJson<any[]>(a.ns, ["-d", "link", "show", DEVICE])[0].linkinfo.info_data.port, 4789, "device recreated with port 4789");
  t.ok(ping(again.ns, cb.ip), "and it carries traffic");
  t.ok(ping(containers[1]!.ns.name, cb.ip), "existing containers too");

  // A link of another kind by the device's name is an error, not deleted.
  inNs(a.ns, "ip", ["link", "del", DEVICE]);
  inNs(a.ns, "ip", ["link", "add", DEVICE, "type", "bridge"]);
  const clash = runVxlan(a, { command: "ADD", containerId: "tvx-px", netns: again.path, ifname: "eth1" }, conf);
  t.equal(clash.json?.code, 7, "name taken by a bridge: code 7");
  t.match(clash.json?.msg, /not a vxlan device/);
  t.equal(ipJson<any[]>(again.ns, ["link", "show"]).length, 2, "the failed ADD rolled back its veth");
});

t.test("routed mode: the underlay found by the default route, or by localIP", async (t) => {
  const lab = makeLab(t, { hosts: 2 });
  const [a, b] = lab.hosts as [Host, Host];
  inNs(a.ns, "ip", ["route", "add", "default", "via", "10.200.0.254", "dev", "ul0"]);
  const { underlayInterface: _a, ...byRoute } = routedConf(lab, a);
  const { underlayInterface: _b, ...byLocalIp } = routedConf(lab, b, { localIP: "10.200.0.2" });
  const ca = addContainer(t, a, byRoute, "tvx-ua");
  const cb = addContainer(t, b, byLocalIp, "tvx-ub");
  t.match(ipJson<any[]>(a.ns, ["-d", "link", "show", DEVICE])[0].linkinfo.info_data, { local: "10.200.0.1", link: "ul0" }, "A: ul0 and its address, from the default route");
  t.match(ipJson<any[]>(b.ns, ["-d", "link", "show", DEVICE])[0].linkinfo.info_data, { local: "10.200.0.2", link: "ul0" }, "B: the link holding localIP");
  t.ok(ping(ca.ns, cb.ip), "A → B");
  const { underlayInterface: _c, ...nowhere } = routedConf(lab, b);
  const reply = runVxlan(b, { command: "ADD", containerId: "tvx-un", netns: cb.path, ifname: "eth1" }, nowhere);
  t.equal(reply.json?.code, 7, "no underlayInterface, localIP or default route: code 7");
  t.match(reply.json?.msg, /no IPv4 default route/);
});
