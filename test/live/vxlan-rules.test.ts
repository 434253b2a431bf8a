// vxlan ipMasq (traffic leaving the overlay is masqueraded, overlay traffic keeps its source) and
// isolation (two overlays on the same hosts cannot reach each other through the hosts' routing).
import t from "tap";
import { spawn } from "node:child_process";
import { inNs, isRoot } from "../helpers/netns.ts";
import { addContainer, makeLab, ping, runVxlan, type Container, type Host, type Lab } from "../helpers/vxlan-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

function conf(lab: Lab, h: Host, vni: number, octet: number, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: "1.1.0",
    name: `tvx-n${vni}`,
    type: "vxlan",
    vni,
    underlayInterface: "ul0",
    subnet: `10.${octet}.${h.n}.0/24`,
    peers: lab.hosts.map((p) => ({ ip: p.underlayIp, subnet: `10.${octet}.${p.n}.0/24` })),
    ipam: { type: "host-local", dataDir: `${h.dataDir}-${vni}`, ranges: [[{ subnet: `10.${octet}.${h.n}.0/24` }]] },
    ...extra,
  };
}

/** The source address `to` sees for a TCP connection from `from` (socat's SOCAT_PEERADDR). */
async function peerAddressSeen(from: Container, to: Container): Promise<string> {
  const server = spawn("ip", ["netns", "exec", to.ns, "socat", "TCP4-LISTEN:5002,reuseaddr", "SYSTEM:echo $SOCAT_PEERADDR"]);
  const closed = new Promise((resolve) => server.on("close", resolve));
  for (let i = 0; i < 50 && !inNs(to.ns, "ss", ["-ltnH", "sport = :5002"]).trim(); i++) await new Promise((r) => setTimeout(r, 50));
  const seen = inNs(from.ns, "socat", ["-u", `TCP4:${to.ip}:5002,connect-timeout=5`, "-"]).trim();
  await closed;
  return seen;
}

t.test("ipMasq: leaving the overlay is masqueraded, crossing it is not; DEL removes the rule", async (t) => {
  const lab = makeLab(t, { hosts: 2 });
  const [a, b] = lab.hosts as [Host, Host];
  // "Outside": an address on the underlay bridge, which has no route back to the container subnets.
  inNs(lab.underlay, "ip", ["addr", "add", "10.200.0.254/24", "dev", "br0"]);
  const plain = addContainer(t, a, conf(lab, a, 4100, 251), "tvx-mq0");
  t.notOk(ping(plain.ns, "10.200.0.254", { count: 1 }), "without ipMasq the outside cannot answer");

  const ca = addContainer(t, a, conf(lab, a, 4200, 252, { ipMasq: true }), "tvx-mqa");
  const cb = addContainer(t, b, conf(lab, b, 4200, 252, { ipMasq: true }), "tvx-mqb");
  t.ok(ping(ca.ns, "10.200.0.254"), "with ipMasq the outside answers (source NAT to the underlay address)");
  t.equal(await peerAddressSeen(ca, cb), ca.ip, "a container on another host sees the real source address");
  const rules = () => inNs(a.ns, "nft", ["list", "chain", "inet", "tscni-masq", "postrouting"]);
  t.match(rules(), /oifname != "vxbr\.4200" oifname != "vxlan\.4200" masquerade/, "rule spares the overlay's devices");
  t.match(rules(), /tvx-mqa/, "owned by the container");

  const del = runVxlan(a, { command: "DEL", containerId: "tvx-mqa", netns: ca.path, ifname: "eth0" }, conf(lab, a, 4200, 252, { ipMasq: true }));
  t.equal(del.status, 0, "DEL");
  t.notMatch(rules(), /tvx-mqa/, "its rule is gone");
});

t.test("isolation: two overlays on the same hosts reach each other only without it", async (t) => {
  const lab = makeLab(t, { hosts: 2 });
  const [a, b] = lab.hosts as [Host, Host];
  const xa = addContainer(t, a, conf(lab, a, 7101, 253), "tvx-ixa");
  const xb = addContainer(t, b, conf(lab, b, 7101, 253), "tvx-ixb");
  const ya = addContainer(t, a, conf(lab, a, 7102, 254), "tvx-iya");
  const yb = addContainer(t, b, conf(lab, b, 7102, 254), "tvx-iyb");
  t.ok(ping(xa.ns, yb.ip), "without isolation, X on A reaches Y on B through the hosts");
  t.ok(ping(xa.ns, ya.ip), "and Y on A");

  // GC applies the changed config on every host.
  for (const host of lab.hosts) {
    for (const [vni, octet, ids] of [[7101, 253, ["tvx-ixa", "tvx-ixb"]], [7102, 254, ["tvx-iya", "tvx-iyb"]]] as const) {
      const valid = ids.map((id) => ({ containerID: id, ifname: "eth0" }));
      const gc = runVxlan(host, { command: "GC" }, conf(lab, host, vni, octet, { isolation: true, "cni.dev/valid-attachments": valid }));
      t.equal(gc.status, 0, `GC with isolation on ${host.ns} for VNI ${vni}`, { stdout: gc.stdout });
    }
  }
  t.notOk(ping(xa.ns, yb.ip, { count: 1 }), "with isolation, X on A no longer reaches Y on B");
  t.notOk(ping(xa.ns, ya.ip, { count: 1 }), "nor Y on A");
  t.ok(ping(xa.ns, xb.ip), "X still reaches X across hosts");
  t.ok(ping(yb.ns, ya.ip), "Y still reaches Y across hosts");
});
