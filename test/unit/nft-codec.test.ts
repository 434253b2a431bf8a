// Expression, value and userdata codecs: round trips for every expression we model, fallbacks for
// what we do not, and the text renderer.
import t from "tap";
import { AttributeEncoder, Attributes, NetlinkDecodeError } from "../../lib/netlink/attributes.ts";
import { NFTA_BITWISE_OP, NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM, NFTA_LOOKUP_SET_ID, NFTA_RULE_EXPRESSIONS } from "../../lib/nft/constants.ts";
import { decodeRange, decodeValue, encodeValue, typeId, typesLength, typesOfId } from "../../lib/nft/datatypes.ts";
import { decodeExprs, encodeExprs, type EncodeContext, type Expr } from "../../lib/nft/expr/index.ts";
import type { NftFamily } from "../../lib/nft/types.ts";
import { renderExprs } from "../../lib/nft/render.ts";
import { decodeRuleComment, encodeRuleComment, findTlv } from "../../lib/nft/userdata.ts";
import * as I from "../../lib/nft/intents.ts";
import { caught } from "../helpers/assert.ts";

const noSets: EncodeContext = { setId: () => undefined };

function encode(exprs: Expr[], ctx = noSets): Buffer {
  const e = new AttributeEncoder("network", true);
  encodeExprs(e, NFTA_RULE_EXPRESSIONS, exprs, ctx);
  return Buffer.from(new Attributes(e.finish(), "network").bytes(NFTA_RULE_EXPRESSIONS)!);
}
const roundTrip = (exprs: Expr[]): Expr[] => decodeExprs(encode(exprs));
const b = (hex: string): Buffer => Buffer.from(hex, "hex");

t.test("every modelled expression survives encode and decode", async (t) => {
  const all: Expr[] = [
    { type: "payload", base: "ll", offset: 12, len: 2, dreg: 1 },
    { type: "payload", base: "inner", offset: 0, len: 4, dreg: 8 },
    ...(["eq", "neq", "lt", "lte", "gt", "gte"] as const).map((op): Expr => ({ type: "cmp", op, sreg: 1, data: b("0a000001") })),
    { type: "meta", key: "mark", dreg: 1 },
    { type: "meta", key: "mark", sreg: 2 },
    { type: "meta", key: "sdifname", dreg: 1 },
    { type: "ct", key: "status", dreg: 1 },
    { type: "ct", key: "proto-dst", dreg: 9, direction: "reply" },
    { type: "bitwise", sreg: 1, dreg: 2, len: 4, mask: b("ffff0000"), xor: b("00000001") },
    { type: "immediate", dreg: 3, data: b("0050") },
    ...(["accept", "drop", "continue", "return", { jump: "a" }, { goto: "b" }] as const).map((verdict): Expr => ({ type: "verdict", verdict })),
    { type: "lookup", set: "s", sreg: 1 },
    { type: "lookup", set: "s", sreg: 1, invert: true },
    { type: "lookup", set: "m", sreg: 1, dreg: 1 },
    { type: "lookup", set: "v", sreg: 9, dreg: 0 },
    { type: "nat", natType: "snat", family: "ip", addrMin: 1, addrMax: 2, protoMin: 3, protoMax: 4, flags: ["random", "persistent"] },
    { type: "nat", natType: "dnat", family: "ip6", addrMin: 1 },
    { type: "nat", natType: "dnat", family: "ip", protoMin: 9, flags: ["fully-random", "netmap"] },
    { type: "masq" },
    { type: "masq", protoMin: 1, protoMax: 2, flags: ["fully-random"] },
    { type: "counter" },
    { type: "counter", packets: 3n, bytes: 1n << 40n },
    { type: "range", op: "neq", sreg: 1, from: b("03e8"), to: b("07d0") },
    { type: "fib", flags: ["saddr", "iif"], result: "oif", dreg: 1 },
    { type: "fib", flags: ["daddr", "mark", "oif", "present"], result: "oifname", dreg: 2 },
    { type: "unknown", name: "log", data: b("0c0002006869000000000000") },
  ];
  t.same(roundTrip(all), all);
});

t.test("what we do not model is kept raw and re-encodes to the same bytes", async (t) => {
  // A bitwise shift (NFTA_BITWISE_OP = NFT_BITWISE_LSHIFT) and an expression we have no codec for.
  const e = new AttributeEncoder("network", true);
  e.nested(NFTA_LIST_ELEM, (el) => el.str(NFTA_EXPR_NAME, "bitwise").nested(NFTA_EXPR_DATA, (d) => d.u32(1, 1).u32(2, 1).u32(3, 4).u32(NFTA_BITWISE_OP, 1)));
  e.nested(NFTA_LIST_ELEM, (el) => el.str(NFTA_EXPR_NAME, "limit").nested(NFTA_EXPR_DATA, (d) => d.u64(1, 10n)));
  const list = Buffer.from(e.finish());
  const exprs = decodeExprs(list);
  t.same(exprs.map((x) => [x.type, x.type === "unknown" ? x.name : ""]), [["unknown", "bitwise"], ["unknown", "limit"]]);
  t.equal(encode(exprs).toString("hex"), list.toString("hex"));
  t.equal(renderExprs("ip", exprs), "# bitwise # limit");
});

t.test("a lookup names its set's batch id only when the set is created in the same batch", async (t) => {
  const lookup: Expr[] = [{ type: "lookup", set: "s", sreg: 1 }];
  const idOf = (buf: Buffer): number | undefined => {
    const el = new Attributes(buf, "network").nested(NFTA_LIST_ELEM)!;
    return el.nested(NFTA_EXPR_DATA)!.u32(NFTA_LOOKUP_SET_ID);
  };
  t.equal(idOf(encode(lookup)), undefined);
  t.equal(idOf(encode(lookup, { setId: (n) => (n === "s" ? 7 : undefined) })), 7);
});

t.test("set data types: ids, lengths, values", async (t) => {
  t.equal(typeId(["ipv4_addr", "inet_proto", "inet_service"]), 0x730d, "as nft: 6 bits per member");
  t.same(typesOfId(0x730d), ["ipv4_addr", "inet_proto", "inet_service"]);
  t.same(typesOfId(0x29), ["ifname"]);
  t.same(typesOfId(0), ["integer"]);
  t.equal(typesLength(["ipv4_addr", "inet_proto", "inet_service"]), 12, "members padded to registers");
  t.equal(typesLength(["ipv6_addr", "inet_service"]), 20);
  t.equal(typesLength(["inet_service"]), 2);

  const hex = (r: { start: Buffer; end: Buffer }): string[] => [r.start.toString("hex"), r.end.toString("hex")];
  t.same(hex(encodeValue("ipv4_addr", "10.1.2.3", false)), ["0a010203", "0a010203"]);
  t.same(hex(encodeValue("ipv4_addr", "10.1.2.3/16", true)), ["0a010000", "0a01ffff"], "host bits cleared");
  t.same(hex(encodeValue("ipv6_addr", "fd00::/8", true)), ["fd000000000000000000000000000000", "fdffffffffffffffffffffffffffffff"]);
  t.same(hex(encodeValue("ipv4_addr", "10.0.0.1-10.0.0.9", true)), ["0a000001", "0a000009"]);
  t.same(hex(encodeValue("inet_service", "1000-2000", true)), ["03e8", "07d0"]);
  t.same(hex(encodeValue("inet_service", "8080", false)), ["1f90", "1f90"]);
  t.same(hex(encodeValue("inet_proto", "udp", false)), ["11", "11"]);
  t.same(hex(encodeValue("inet_proto", 132, false)), ["84", "84"]);
  t.same(hex(encodeValue("mark", 0x10, false)), ["10000000", "10000000"], "host byte order");
  t.same(hex(encodeValue("ether_addr", "02:00:00:00:00:01", false)), ["020000000001", "020000000001"]);
  t.equal(encodeValue("ifname", "eth0", false).start.toString("hex"), "65746830000000000000000000000000");

  t.equal(decodeValue("inet_proto", b("06")), "tcp");
  t.equal(decodeValue("inet_proto", b("63")), 99);
  t.equal(decodeValue("ifname", b("65746830000000000000000000000000")), "eth0");
  t.equal(decodeRange("ipv4_addr", b("0a010000"), b("0a01ffff")), "10.1.0.0/16");
  t.equal(decodeRange("ipv4_addr", b("00000000"), b("ffffffff")), "0.0.0.0/0");
  t.equal(decodeRange("ipv4_addr", b("0a010000"), b("0a01fffe")), "10.1.0.0-10.1.255.254");
  t.equal(decodeRange("ipv6_addr", b("fd000000000000000000000000000000"), b("fd00000000000000ffffffffffffffff")), "fd00::/64");
  t.equal(decodeRange("inet_service", b("03e8"), b("07d0")), "1000-2000");

  for (const [type, value, interval] of [
    ["ipv4_addr", "10.0.0.256", false],
    ["ipv4_addr", "fd00::1", false],
    ["ipv4_addr", "10.0.0.0/8", false],
    ["ipv6_addr", "10.0.0.0/8", true],
    ["inet_service", 65536, false],
    ["inet_service", "http", false],
    ["inet_service", "2000-1000", true],
    ["inet_proto", "tcpx", false],
    ["mark", -1, false],
    ["ifname", "a-very-long-interface", false],
    ["ifname", "eth/0", false],
    ["ether_addr", "02:00", false],
  ] as const) {
    t.match(caught(() => encodeValue(type, value, interval)), { name: "NftInputError", message: new RegExp(type === "ifname" ? "interface name" : type) }, `${type} ${value}`);
  }
});

t.test("rule comments are nft's userdata TLV", async (t) => {
  // From the capture of `add rule ... comment "c1"`: NFTA_RULE_USERDATA 0003633100.
  t.equal(encodeRuleComment("c1").toString("hex"), "0003633100");
  t.equal(decodeRuleComment(b("0003633100")), "c1");
  t.equal(decodeRuleComment(b("0102ffff0003633100")), "c1", "other TLVs are skipped");
  t.equal(decodeRuleComment(undefined), undefined);
  t.ok(caught(() => findTlv(b("0009ab"), 0)) instanceof NetlinkDecodeError);
});

t.test("the renderer reads expressions as nft does", async (t) => {
  const cases: [NftFamily, Expr[], string][] = [
    ["ip", [{ type: "immediate", dreg: 1, data: b("10000000") }, { type: "meta", key: "mark", sreg: 1 }], "meta mark set 0x00000010"],
    ["ip", [{ type: "meta", key: "mark", dreg: 1 }, { type: "cmp", op: "neq", sreg: 1, data: b("01000000") }], "meta mark != 0x00000001"],
    ["ip", [...I.matchDport(1000).slice(0, 1), { type: "range", op: "neq", sreg: 1, from: b("03e8"), to: b("07d0") }], "th dport != 1000-2000"],
    ["ip", [{ type: "payload", base: "network", offset: 9, len: 1, dreg: 1 }, { type: "cmp", op: "eq", sreg: 1, data: b("06") }], "ip protocol tcp"],
    ["inet", [{ type: "payload", base: "network", offset: 12, len: 4, dreg: 1 }, { type: "cmp", op: "eq", sreg: 1, data: b("0a000001") }], "@nh,96,32 0x0a000001"],
    ["inet", [...I.matchNfproto(4), { type: "immediate", dreg: 1, data: b("0a000001") }, { type: "nat", natType: "snat", family: "ip", addrMin: 1 }], "meta nfproto ipv4 snat ip to 10.0.0.1"],
    ["ip", [{ type: "immediate", dreg: 1, data: b("0a000001") }, { type: "immediate", dreg: 2, data: b("0a000009") }, { type: "nat", natType: "snat", family: "ip", addrMin: 1, addrMax: 2, flags: ["persistent"] }], "snat to 10.0.0.1-10.0.0.9 persistent"],
    ["ip", [{ type: "immediate", dreg: 1, data: b("0400") }, { type: "immediate", dreg: 2, data: b("0800") }, { type: "masq", protoMin: 1, protoMax: 2, flags: ["random"] }], "masquerade to :1024-2048 random"],
    ["ip", [{ type: "ct", key: "state", dreg: 1 }, { type: "cmp", op: "eq", sreg: 1, data: b("08000000") }], "ct state == new"],
    ["ip", [{ type: "ct", key: "status", dreg: 1 }, { type: "bitwise", sreg: 1, dreg: 1, len: 4, mask: b("20000000"), xor: b("00000000") }, { type: "cmp", op: "neq", sreg: 1, data: b("00000000") }], "ct status dnat"],
    ["ip", [{ type: "fib", flags: ["saddr", "iif"], result: "oif", dreg: 1 }, { type: "cmp", op: "neq", sreg: 1, data: b("00000000") }], "fib saddr . iif oif != 0x00000000"],
    ["ip6", [...I.matchDaddr("fd00::1"), ...I.dnatTo("fd00::2", 8080)], "ip6 daddr fd00::1 dnat to [fd00::2]:8080"],
    ["ip", [{ type: "payload", base: "network", offset: 12, len: 4, dreg: 1 }, { type: "bitwise", sreg: 1, dreg: 1, len: 4, mask: b("ff00ff00"), xor: b("00000000") }, { type: "cmp", op: "eq", sreg: 1, data: b("0a000100") }], "ip saddr & 0xff00ff00 == 0x0a000100"],
    ["ip", [...I.matchOifname("br-*"), ...I.goTo("x")], 'oifname "br-*" goto x'],
  ];
  for (const [family, exprs, text] of cases) t.equal(renderExprs(family, exprs), text, text);
});
