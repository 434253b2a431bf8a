import t from "tap";
import { formatIp, formatPrefix, parseIp } from "../../lib/ip/address.ts";
import { formatMac, parseMac } from "../../lib/ip/mac.ts";
import { Attributes } from "../../lib/netlink/attributes.ts";
import { NLM_F_ACK, NLM_F_REQUEST } from "../../lib/netlink/constants.ts";
import { parseMessages, type NetlinkSocket } from "../../lib/netlink/socket.ts";
import { readFileSync } from "node:fs";
import { FakeNftConnection } from "../../lib/nft/index.ts";
import { forgetApplied, isApplied, recordApplied } from "../../lib/overlay/applied-state.ts";
import { reconcileSourceFilter } from "../../lib/overlay/source-filter.ts";
import { anycastGatewayMac, vtepMac } from "../../lib/overlay/vtep-mac.ts";
import { IFLA_INFO_DATA, IFLA_LINKINFO } from "../../lib/rtnl/constants.ts";
import { IFINFOMSG_LEN } from "../../lib/rtnl/ifinfomsg.ts";
import { decodeVxlanData, vxlanIncompatibility, type VxlanKind } from "../../lib/rtnl/kinds/vxlan.ts";
import { createLink } from "../../lib/rtnl/links.ts";
import { replaceFdbEntry } from "../../lib/rtnl/neighbours.ts";
import { parseVxlanConfig, remotePeers } from "../../plugins/vxlan/config.ts";
import { caught } from "../helpers/assert.ts";

const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/gi, ""), "hex");

function recorder() {
  const sent: Array<{ type: number; flags: number; body: Buffer }> = [];
  const nl = {
    request: (_op: string, type: number, flags: number, body: Uint8Array) => {
      sent.push({ type, flags: flags | NLM_F_REQUEST | NLM_F_ACK, body: Buffer.from(body) });
      return [];
    },
  } as unknown as NetlinkSocket;
  return { nl, sent };
}

// Captured from iproute2 in a throw-away netns with `strace -e trace=sendmsg -e write=3 <command>`
// (ul0 is ifindex 3); only nlmsg_seq differs between runs.
const golden: Array<{ command: string; hex: string; run: (nl: NetlinkSocket) => void }> = [
  {
    command: "ip link add vxlan.4096 type vxlan id 4096 local 10.200.0.1 dev ul0 dstport 4789 nolearning",
    hex: `6c 00 00 00 10 00 05 06 8a 2b 03 6b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
          0f 00 03 00 76 78 6c 61 6e 2e 34 30 39 36 00 00 3c 00 12 00 09 00 01 00 76 78 6c 61 6e 00 00 00
          2c 00 02 00 08 00 03 00 03 00 00 00 08 00 01 00 00 10 00 00 08 00 04 00 0a c8 00 01 05 00 07 00
          00 00 00 00 06 00 0f 00 12 b5 00 00`,
    run: (nl) => createLink(nl, { name: "vxlan.4096", kind: { kind: "vxlan", vni: 4096, port: 4789, local: parseIp("10.200.0.1"), link: 3, learning: false } }),
  },
  {
    command: "ip link add vxlan6.7 type vxlan id 7 local fd00:200::1 dev ul0 dstport 4789 learning",
    hex: `78 00 00 00 10 00 05 06 d6 2f 03 6b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
          0d 00 03 00 76 78 6c 61 6e 36 2e 37 00 00 00 00 48 00 12 00 09 00 01 00 76 78 6c 61 6e 00 00 00
          38 00 02 00 08 00 03 00 03 00 00 00 08 00 01 00 07 00 00 00 14 00 11 00 fd 00 02 00 00 00 00 00
          00 00 00 00 00 00 00 01 05 00 07 00 01 00 00 00 06 00 0f 00 12 b5 00 00`,
    run: (nl) => createLink(nl, { name: "vxlan6.7", kind: { kind: "vxlan", vni: 7, port: 4789, local: parseIp("fd00:200::1"), link: 3, learning: true } }),
  },
  {
    command: "ip link add vxg.9 type vxlan id 9 group 239.1.1.1 dev ul0 dstport 4789",
    hex: `68 00 00 00 10 00 05 06 8a 2b 03 6b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
          0a 00 03 00 76 78 67 2e 39 00 00 00 3c 00 12 00 09 00 01 00 76 78 6c 61 6e 00 00 00 2c 00 02 00
          08 00 03 00 03 00 00 00 08 00 01 00 09 00 00 00 08 00 02 00 ef 01 01 01 05 00 07 00 01 00 00 00
          06 00 0f 00 12 b5 00 00`,
    run: (nl) => createLink(nl, { name: "vxg.9", kind: { kind: "vxlan", vni: 9, port: 4789, group: parseIp("239.1.1.1"), link: 3, learning: true } }),
  },
  {
    command: "bridge fdb replace 02:76:0a:c8:00:02 dev vxlan.4096 (ifindex 4) dst 10.200.0.2 self permanent",
    hex: `30 00 00 00 1c 00 05 05 8f 2b 03 6b 00 00 00 00 07 00 00 00 04 00 00 00 c0 00 02 00 0a 00 02 00
          02 76 0a c8 00 02 00 00 08 00 01 00 0a c8 00 02`,
    run: (nl) => replaceFdbEntry(nl, { index: 4, mac: parseMac("02:76:0a:c8:00:02"), ip: parseIp("10.200.0.2") }),
  },
];

for (const g of golden) {
  t.test(`encodes like iproute2: ${g.command}`, async (t) => {
    const { nl, sent } = recorder();
    g.run(nl);
    const [want] = parseMessages(hex(g.hex));
    t.equal(sent.length, 1);
    t.equal(sent[0]!.type, want!.type, "message type");
    t.equal(sent[0]!.flags, want!.flags, "flags");
    t.equal(sent[0]!.body.toString("hex"), want!.payload.toString("hex"), "body");
  });
}

t.test("decodes the vxlan settings back and tells what makes a device incompatible", async (t) => {
  const [msg] = parseMessages(hex(golden[0]!.hex));
  const data = new Attributes(msg!.payload.subarray(IFINFOMSG_LEN)).nested(IFLA_LINKINFO)!.nested(IFLA_INFO_DATA);
  const have = decodeVxlanData(data);
  t.match(have, { vni: 4096, port: 4789, link: 3, learning: false, group: undefined });
  t.equal(formatIp(have.local!), "10.200.0.1");
  const want: VxlanKind = { kind: "vxlan", vni: 4096, port: 4789, local: parseIp("10.200.0.1"), link: 3, learning: false };
  t.equal(vxlanIncompatibility(have, want), undefined, "same settings: compatible");
  t.equal(vxlanIncompatibility(have, { ...want, port: 8472 }), "port 4789 instead of 8472");
  t.equal(vxlanIncompatibility(have, { ...want, learning: true }), "learning off");
  t.equal(vxlanIncompatibility(have, { ...want, local: parseIp("10.200.0.9") }), "a different local address");
  t.equal(vxlanIncompatibility(have, { ...want, group: parseIp("239.1.1.1") }), "a different multicast group");
});

t.test("VTEP MACs: IPv4 bytes verbatim, IPv6 hashed; anycast gateway MAC from the VNI", async (t) => {
  t.equal(formatMac(vtepMac(parseIp("10.200.0.1"))), "02:76:0a:c8:00:01");
  t.equal(formatMac(vtepMac(parseIp("192.0.2.254"))), "02:76:c0:00:02:fe");
  const v6 = formatMac(vtepMac(parseIp("fd00:200::1")));
  t.match(v6, /^02:36:/);
  t.equal(formatMac(vtepMac(parseIp("fd00:200::1"))), v6, "deterministic");
  t.not(formatMac(vtepMac(parseIp("fd00:200::2"))), v6, "differs per address");
  t.equal(formatMac(anycastGatewayMac(4096)), "02:67:00:00:10:00");
  t.equal(formatMac(anycastGatewayMac(0xffffff)), "02:67:00:ff:ff:ff");
});

const base = { cniVersion: "1.1.0", name: "ov", type: "vxlan", vni: 4096, subnet: "10.244.1.0/24" };

t.test("config: defaults", async (t) => {
  const cfg = parseVxlanConfig({ ...base, peers: [{ ip: "192.0.2.2", subnet: "10.244.2.0/24" }] });
  t.match(cfg, { vni: 4096, port: 4789, mode: "routed", family: 4, device: "vxlan.4096", bridge: "vxbr.4096", mtu: undefined, ipMasq: false, isolation: false, ipamType: undefined });
  t.equal(formatPrefix(cfg.subnet!), "10.244.1.0/24");
  t.equal(formatPrefix(cfg.peers[0]!.subnet!), "10.244.2.0/24");
  const v6 = parseVxlanConfig({ ...base, localIP: "fd00::1", port: 8472, mtu: 1400 });
  t.match(v6, { family: 6, device: "vxlan6.4096", port: 8472, mtu: 1400 });
  t.equal(formatPrefix(parseVxlanConfig({ ...base, subnet: "10.244.1.7/24" }).subnet!), "10.244.1.0/24", "host bits cleared");
  t.equal(parseVxlanConfig({ ...base, vni: 16777215 }).device, "vxlan.16777215", "largest VNI fits a link name");
  const l2 = parseVxlanConfig({ ...base, subnet: undefined, mode: "l2", peers: [{ ip: "192.0.2.2" }] });
  t.match(l2, { mode: "l2", subnet: undefined });
});

t.test("config: errors are code 7 naming the key", async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ vni: undefined }, /"vni" is required/],
    [{ vni: 0 }, /"vni" is required/],
    [{ vni: 16777216 }, /invalid "vni"/],
    [{ vni: "1" }, /invalid "vni"/],
    [{ port: 70000 }, /invalid "port"/],
    [{ mode: "l3" }, /invalid "mode"/],
    [{ subnet: undefined }, /routed mode needs "subnet"/],
    [{ subnet: "10.244.1.0/31" }, /too small/],
    [{ subnet: "nope" }, /invalid "subnet"/],
    [{ localIP: "1.2.3" }, /invalid "localIP"/],
    [{ mtu: 60 }, /below the IPv4 minimum/],
    [{ peers: {} }, /invalid "peers": must be a list/],
    [{ peers: [{ ip: "192.0.2.2" }] }, /needs the peer's "subnet"/],
    [{ peers: [{ ip: "192.0.2.2", subnet: "10.244.2.0/24" }, { ip: "192.0.2.3", subnet: "10.244.2.128/25" }] }, /overlap/],
    [{ peers: [{ ip: "192.0.2.2", subnet: "fd00::/64" }] }, /same family/],
    [{ peers: [{ ip: "192.0.2.2", subnet: "10.244.2.0/24" }, { ip: "2001:db8::1", subnet: "10.244.3.0/24" }] }, /not an IPv4 address/],
    [{ group: "239.1.1.1" }, /"group" needs "mode": "l2"/],
    [{ mode: "l2", group: "fd00::1" }, /not a multicast address/],
    [{ mode: "l2", group: "ff02::1" }, /not of the underlay's family/],
    [{ bridge: "a/b" }, /invalid "bridge"/],
  ];
  for (const [change, msg] of cases) {
    const err = caught(() => parseVxlanConfig({ ...base, ...change, localIP: change.localIP ?? "192.0.2.1" }));
    t.equal(err.code, 7, `${JSON.stringify(change)}: code 7`);
    t.match(err.message, msg, JSON.stringify(change));
  }
});

t.test("config: a shared peer list skips this host; a remote peer overlapping this host's subnet is refused", async (t) => {
  const peers = [
    { ip: "192.0.2.1", subnet: "10.244.1.0/24" },
    { ip: "192.0.2.2", subnet: "10.244.2.0/24" },
  ];
  const cfg = parseVxlanConfig({ ...base, peers });
  t.same(remotePeers(cfg, parseIp("192.0.2.1")).map((p) => formatIp(p.ip)), ["192.0.2.2"]);
  const err = caught(() => remotePeers(cfg, parseIp("192.0.2.9")));
  t.match(err.message, /subnet of 192\.0\.2\.1 overlaps this host's "subnet"/);
});

t.test("source filter: created once, elements follow the peers, a new port replaces it, a group removes it", async (t) => {
  const conn = new FakeNftConnection();
  const f = { device: "vxlan.4096", vni: 4096, port: 4789, family: 4 as const, peers: [parseIp("10.200.0.2"), parseIp("10.200.0.3")] };
  t.same(reconcileSourceFilter(conn, f), { added: ["source filter of vxlan.4096", "source 10.200.0.2", "source 10.200.0.3"], removed: [] }, "first run creates all");
  t.match(conn.dump(), /meta nfproto ipv4 meta l4proto udp th dport 4789 @th,96,24 0x001000 ip saddr != @vxlan_4096_4789 drop comment "tscni vxlan vxlan\.4096 port 4789"/, "the rule (rendered)");
  t.same(reconcileSourceFilter(conn, f), { added: [], removed: [] }, "second run changes nothing");
  t.same(reconcileSourceFilter(conn, { ...f, peers: [parseIp("10.200.0.2")] }, { apply: false }), { added: [], removed: ["source 10.200.0.3"] }, "apply: false only reports");
  t.same(reconcileSourceFilter(conn, { ...f, peers: [parseIp("10.200.0.2"), parseIp("10.200.0.4")] }), { added: ["source 10.200.0.4"], removed: ["source 10.200.0.3"] });
  t.same(reconcileSourceFilter(conn, { ...f, port: 8472 }).removed, ["source filter of vxlan.4096"], "another port replaces the rule and set");
  t.notMatch(conn.dump(), /vxlan_4096_4789/, "the old set is gone");
  t.match(conn.dump(), /th dport 8472 .* @vxlan_4096_8472 drop/);
  reconcileSourceFilter(conn, { ...f, port: 8472, peers: undefined });
  t.notMatch(conn.dump(), /vxlan_4096/, "no peers list (multicast group): no filter");
  const v6 = { device: "vxlan6.7", vni: 7, port: 4789, family: 6 as const, peers: [parseIp("fd00:200::2")] };
  reconcileSourceFilter(conn, v6);
  t.match(conn.dump(), /ip6 saddr != @vxlan6_7_4789 drop/, "IPv6 underlay");
});

t.test("applied-state record: per namespace, exact, forgotten before changes", async (t) => {
  const dir = t.testdir({});
  t.notOk(isApplied("vxlan-1", "dev=3 peer=a", dir), "nothing recorded yet");
  recordApplied("vxlan-1", "dev=3 peer=a", dir);
  t.ok(isApplied("vxlan-1", "dev=3 peer=a", dir), "the same record");
  t.notOk(isApplied("vxlan-1", "dev=3 peer=b", dir), "another peer list");
  t.notOk(isApplied("vxlan-2", "dev=3 peer=a", dir), "another VNI");
  t.match(readFileSync(`${dir}/vxlan-1.applied`, "utf8"), /^\d+ dev=3 peer=a$/, "prefixed with this netns's inode");
  forgetApplied("vxlan-1", dir);
  t.notOk(isApplied("vxlan-1", "dev=3 peer=a", dir), "forgotten");
});
