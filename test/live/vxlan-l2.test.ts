// vxlan l2 mode (docker overlay semantics): one subnet over three hosts, each host's IPAM its own
// slice; head-end replication; an anycast gateway; peer removal; multicast flood-and-learn.
import t from "tap";
import { inNs, ipJson, isRoot } from "../helpers/netns.ts";
import { addContainer, deviceState, fragmentsCreated, makeLab, ping, runVxlan, tcpTransfer, type Host, type Lab } from "../helpers/vxlan-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const VNI = 5000;
const DEVICE = `vxlan.${VNI}`;
const BRIDGE = `vxbr.${VNI}`;

/** One subnet 10.245.0.0/24; host n allocates .n0–.n9 (n*10 … n*10+9). */
function l2Conf(lab: Lab, host: Host, extra: Record<string, unknown> = {}, peers: Host[] = lab.hosts) {
  return {
    cniVersion: "1.1.0",
    name: "tvx-l2",
    type: "vxlan",
    vni: VNI,
    mode: "l2",
    underlayInterface: "ul0",
    subnet: "10.245.0.0/24",
    peers: peers.map((p) => ({ ip: p.underlayIp })),
    ipam: {
      type: "host-local",
      dataDir: host.dataDir,
      ranges: [[{ subnet: "10.245.0.0/24", rangeStart: `10.245.0.${host.n * 10}`, rangeEnd: `10.245.0.${host.n * 10 + 9}` }]],
    },
    ...extra,
  };
}

t.test("l2 mode: one subnet across three hosts, flood entries, anycast gateway, ping and TCP", async (t) => {
  const lab = makeLab(t);
  const [a, b, c] = lab.hosts as [Host, Host, Host];
  const ca = addContainer(t, a, l2Conf(lab, a), "tvx-la");
  const cb = addContainer(t, b, l2Conf(lab, b), "tvx-lb");
  const cc = addContainer(t, c, l2Conf(lab, c), "tvx-lc");
  t.same([ca.ip, cb.ip, cc.ip], ["10.245.0.10", "10.245.0.20", "10.245.0.30"], "each host allocates from its own slice of the one subnet");
  t.equal(ca.result.ips[0].address, "10.245.0.10/24", "with the whole subnet's prefix");

  const link = ipJson<any[]>(a.ns, ["-d", "link", "show", DEVICE])[0];
  t.match(link.linkinfo.info_data, { id: VNI, port: 4789, learning: true }, "learning on");
  t.equal(link.master, BRIDGE, "the vxlan device is a port of the bridge");
  t.equal(ca.result.interfaces[3].mtu, 1450);
  for (const host of [a, b, c]) {
    t.equal(ipJson<any[]>(host.ns, ["link", "show", BRIDGE])[0].address, "02:67:00:00:13:88", `${host.ns}: bridge has the VNI's anycast gateway MAC`);
  }
  const fdb = deviceState(a.ns, DEVICE).fdb.filter((f) => f.mac === "00:00:00:00:00:00");
  t.same(fdb.map((f) => f.dst).sort(), ["10.200.0.2", "10.200.0.3"], "one all-zeros FDB entry per peer (head-end replication)");
  t.ok(fdb.every((f) => f.state === "permanent"), "permanent");

  t.ok(ping(ca.ns, cb.ip), "A → B");
  t.ok(ping(ca.ns, cc.ip), "A → C");
  t.ok(ping(cb.ns, cc.ip), "B → C");
  t.ok(ping(cb.ns, "10.245.0.1"), "the gateway answers on B");
  t.same(
    ipJson<any[]>(cb.ns, ["neigh", "show", "10.245.0.1"]).map((n) => n.lladdr),
    ["02:67:00:00:13:88"],
    "B's container resolves the gateway to the shared MAC",
  );
  const learned = deviceState(a.ns, DEVICE).fdb.filter((f) => f.mac === cb.result.interfaces[2].mac);
  t.same(learned.map((f) => f.dst), ["10.200.0.2"], "A learned B's container MAC behind B's VTEP");

  const fragsBefore = fragmentsCreated(a.ns) + fragmentsCreated(c.ns);
  const transfer = await tcpTransfer(ca, cc, 4 << 20);
  t.ok(transfer.ok, "4 MiB over TCP from A to C arrive intact", transfer);
  t.ok(ping(ca.ns, cc.ip, { dontFragment: true, size: 1422, count: 1 }), "largest DF ping passes");
  t.notOk(ping(ca.ns, cc.ip, { dontFragment: true, size: 1423, count: 1 }), "one byte more does not");
  t.equal(fragmentsCreated(a.ns) + fragmentsCreated(c.ns), fragsBefore, "no fragmentation on the underlay");
});

t.test("l2 mode: dropping a peer and GC deletes its flood and learned entries; traffic to it stops", async (t) => {
  const lab = makeLab(t);
  const [a, b, c] = lab.hosts as [Host, Host, Host];
  const ca = addContainer(t, a, l2Conf(lab, a), "tvx-ma");
  const cb = addContainer(t, b, l2Conf(lab, b), "tvx-mb");
  const cc = addContainer(t, c, l2Conf(lab, c), "tvx-mc");
  t.ok(ping(ca.ns, cc.ip), "A → C before");
  t.ok(deviceState(a.ns, DEVICE).fdb.some((f) => f.dst === "10.200.0.3" && f.mac !== "00:00:00:00:00:00"), "A has learned entries behind C");

  // C leaves the cluster: A and B drop it from their lists.
  for (const [host, id] of [[a, "tvx-ma"], [b, "tvx-mb"]] as const) {
    const gc = runVxlan(host, { command: "GC" }, l2Conf(lab, host, { "cni.dev/valid-attachments": [{ containerID: id, ifname: "eth0" }] }, [a, b]));
    t.equal(gc.status, 0, `GC on ${host.ns}`, { stdout: gc.stdout });
  }
  t.same(deviceState(a.ns, DEVICE).fdb.filter((f) => f.dst === "10.200.0.3"), [], "no FDB entry of A points at C any more");
  t.notOk(ping(ca.ns, cc.ip, { count: 1 }), "A → C stops");
  t.notOk(ping(cc.ns, ca.ip, { count: 1 }), "C, which still lists A, cannot reach A either (A's source filter drops it)");
  t.same(deviceState(a.ns, DEVICE).fdb.filter((f) => f.dst === "10.200.0.3"), [], "so A learns nothing behind C again");
  t.ok(ping(ca.ns, cb.ip), "A → B still works");
});

t.test("l2 mode with a multicast group instead of peers", async (t) => {
  const lab = makeLab(t, { hosts: 3 });
  const conf = (host: Host) => {
    const { peers: _peers, ...rest } = l2Conf(lab, host, { group: "239.1.1.1" });
    return rest;
  };
  const [a, b, c] = lab.hosts as [Host, Host, Host];
  const ca = addContainer(t, a, conf(a), "tvx-ya");
  const cb = addContainer(t, b, conf(b), "tvx-yb");
  const cc = addContainer(t, c, conf(c), "tvx-yc");
  const link = ipJson<any[]>(a.ns, ["-d", "link", "show", DEVICE])[0];
  t.match(link.linkinfo.info_data, { group: "239.1.1.1", link: "ul0", learning: true }, "group on the underlay link, learning on");
  t.ok(ping(ca.ns, cb.ip), "A → B");
  t.ok(ping(cc.ns, ca.ip), "C → A");
});

t.test("l2 mode: config errors", async (t) => {
  const lab = makeLab(t, { hosts: 1 });
  const [a] = lab.hosts as [Host];
  const ctr = (await import("../helpers/netns.ts")).makeNetns(t, "tvx-c");
  const add = (conf: object) => runVxlan(a, { command: "ADD", containerId: "tvx-le", netns: ctr.path, ifname: "eth0" }, conf);
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["group and peers together", { group: "239.1.1.1" }, /alternatives/],
    ["a group that is not multicast", { group: "10.1.1.1", peers: [] }, /not a multicast address/],
    ["a peer of the other family", { peers: [{ ip: "10.200.0.2" }, { ip: "fd00:200::3" }] }, /not an IPv4 address/],
    ["a peer twice", { peers: [{ ip: "10.200.0.2" }, { ip: "10.200.0.2" }] }, /listed twice/],
    ["an unknown underlay interface", { underlayInterface: "nope0" }, /underlay interface "nope0" not found/],
    ["a local IP the underlay lacks", { localIP: "10.200.0.9" }, /does not have the local IP 10\.200\.0\.9/],
    ["IPAM outside the subnet", { subnet: "10.99.0.0/24" }, /outside "subnet" 10\.99\.0\.0\/24/],
  ];
  for (const [what, extra, msg] of cases) {
    const reply = add(l2Conf(lab, a, extra));
    t.equal(reply.json?.code, 7, `${what}: code 7`);
    t.match(reply.json?.msg, msg, what);
  }
  t.equal(ipJson<any[]>(ctr.name, ["link", "show"]).length, 1, "failed ADDs left nothing in the container");
  t.equal(inNs(a.ns, "ls", [a.dataDir + "/tvx-l2"]).split("\n").filter((f) => /^10\./.test(f)).length, 0, "and no lease behind");
});
