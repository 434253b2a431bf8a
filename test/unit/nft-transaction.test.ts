// NftTransaction: validation when queued, nft text, grouping of elements into messages.
import t from "tap";
import { Attributes } from "../../lib/netlink/attributes.ts";
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL } from "../../lib/netlink/constants.ts";
import { NFTA_SET_ELEM_LIST_ELEMENTS, NFT_MSG_DESTROYRULE, NFT_MSG_DESTROYSETELEM, NFT_MSG_DESTROYTABLE, NFT_MSG_NEWSETELEM } from "../../lib/nft/constants.ts";
import { nftMessageType } from "../../lib/nft/messages.ts";
import { listAttributes } from "../../lib/netlink/attributes.ts";
import { NftTransaction } from "../../lib/nft/transaction.ts";
import * as I from "../../lib/nft/intents.ts";
import type { Expr } from "../../lib/nft/expr/index.ts";
import type { NftChain, NftElement, NftRule, NftSet } from "../../lib/nft/types.ts";
import { caught } from "../helpers/assert.ts";

const T = { family: "inet", table: "cni" } as const;
const hostports: NftSet = { kind: "set", ...T, name: "hostports", key: ["ipv4_addr", "inet_proto", "inet_service"], data: ["ipv4_addr", "inet_service"] };
const post: NftChain = { kind: "chain", ...T, name: "post", type: "nat", hook: "postrouting", priority: 100 };
const rule = (exprs: Expr[], extra: Partial<NftRule> = {}): NftRule => ({ kind: "rule", ...T, chain: "post", exprs, ...extra });

t.test("toString renders the batch as nft -f text, one line per message", async (t) => {
  const tx = new NftTransaction()
    .add({ kind: "table", family: "inet", name: "cni" })
    .add(post)
    .add({ kind: "chain", ...T, name: "fw", type: "filter", hook: "forward", priority: -10, policy: "drop" })
    .add(hostports)
    .add({ kind: "set", ...T, name: "nets", key: "ipv4_addr", interval: true })
    .add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 80], value: ["10.88.0.2", 8080] })
    .add({ kind: "element", set: hostports, key: ["10.0.0.1", "udp", "53"], value: ["10.88.0.2", 53] })
    .add(rule([...I.matchNfproto(4), ...I.matchSaddr("10.88.0.0/16"), ...I.matchNotDaddr("10.88.0.0/16"), ...I.masquerade()], { comment: "tscni net=n id=c if=eth0" }))
    .insert(rule(I.accept(), { position: 7 }))
    .delete({ kind: "rule", ...T, chain: "post", handle: 9 })
    .destroy({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 80], value: ["10.88.0.2", 8080] })
    .flush(hostports)
    .flush(post)
    .create({ kind: "table", family: "ip", name: "x" })
    .destroy({ kind: "table", family: "ip", name: "x" });
  t.equal(
    tx.toString(),
    [
      "add table inet cni",
      "add chain inet cni post { type nat hook postrouting priority 100; }",
      "add chain inet cni fw { type filter hook forward priority -10; policy drop; }",
      "add map inet cni hostports { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }",
      "add set inet cni nets { type ipv4_addr; flags interval; }",
      "add element inet cni hostports { 10.0.0.1 . tcp . 80 : 10.88.0.2 . 8080, 10.0.0.1 . udp . 53 : 10.88.0.2 . 53 }",
      'add rule inet cni post meta nfproto ipv4 ip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 masquerade comment "tscni net=n id=c if=eth0"',
      "insert rule inet cni post position 7 accept",
      "delete rule inet cni post handle 9",
      "destroy element inet cni hostports { 10.0.0.1 . tcp . 80 : 10.88.0.2 . 8080 }",
      "flush map inet cni hostports",
      "flush chain inet cni post",
      "create table ip x",
      "destroy table ip x",
    ].join("\n"),
  );
  t.equal(tx.length, 14);
  t.equal(tx.messages().length, 14);
  t.equal(tx.opText(8), "delete rule inet cni post handle 9");
});

t.test("message types and flags per verb", async (t) => {
  const msgs = new NftTransaction()
    .create({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 80], value: ["10.88.0.2", 80] })
    .destroy({ kind: "rule", ...T, chain: "post", handle: 3 })
    .destroy({ kind: "table", family: "ip", name: "x" })
    .destroy({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 80], value: ["10.88.0.2", 80] })
    .messages();
  t.same(
    msgs.map((m) => [m.type, m.flags]),
    [
      [nftMessageType(NFT_MSG_NEWSETELEM), NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK],
      [nftMessageType(NFT_MSG_DESTROYRULE), NLM_F_ACK],
      [nftMessageType(NFT_MSG_DESTROYTABLE), NLM_F_ACK],
      [nftMessageType(NFT_MSG_DESTROYSETELEM), NLM_F_ACK],
    ],
  );
});

t.test("consecutive elements of one set share a message; interval ends are separate elements", async (t) => {
  const nets: NftSet = { kind: "set", ...T, name: "nets", key: "ipv4_addr", interval: true };
  const el = (key: string): NftElement => ({ kind: "element", set: nets, key });
  const tx = new NftTransaction().add(el("10.1.0.0/16")).add(el("10.2.0.1")).add(el("255.255.255.0/24")).delete(el("10.1.0.0/16")).add(el("10.3.0.0/16"));
  const msgs = tx.messages();
  t.equal(msgs.length, 3, "add, delete, add");
  const count = (i: number): number => listAttributes(new Attributes(Buffer.from(msgs[i]!.body).subarray(4), "network").bytes(NFTA_SET_ELEM_LIST_ELEMENTS)!).length;
  t.equal(count(0), 5, "two [start, end) pairs, and a range that runs to the top has no end");
  t.equal(count(1), 2);
  t.equal(tx.opText(0), "add element inet cni nets { 10.1.0.0/16, 10.2.0.1, 255.255.255.0/24 }");
});

t.test("queued objects are copies", async (t) => {
  const r = rule(I.accept());
  const tx = new NftTransaction().add(r);
  r.exprs.push(...I.drop());
  r.chain = "other";
  t.equal(tx.toString(), "add rule inet cni post accept");
});

t.test("invalid input is refused when queued, with what and why", async (t) => {
  const cases: [string, (tx: NftTransaction) => unknown, RegExp][] = [
    ["bad family", (tx) => tx.add({ kind: "table", family: "ipx" as "ip", name: "t" }), /invalid nftables family "ipx"/],
    ["bad table name", (tx) => tx.add({ kind: "table", family: "ip", name: "a b" }), /invalid table name "a b"/],
    ["empty name", (tx) => tx.add({ kind: "chain", ...T, name: "" }), /invalid chain name ""/],
    ["long name", (tx) => tx.add({ kind: "set", ...T, name: "s".repeat(256), key: "mark" }), /invalid set name/],
    ["half a base chain", (tx) => tx.add({ kind: "chain", ...T, name: "c", type: "nat", hook: "prerouting" }), /needs type, hook and priority/],
    ["policy on a regular chain", (tx) => tx.add({ kind: "chain", ...T, name: "c", policy: "drop" }), /a policy needs a base chain/],
    ["bad hook", (tx) => tx.add({ ...post, hook: "ingress" as "input" }), /invalid hook "ingress"/],
    ["nat forward", (tx) => tx.add({ ...post, hook: "forward" }), /nat chains cannot hook forward/],
    ["fractional priority", (tx) => tx.add({ ...post, priority: 1.5 }), /invalid priority 1.5/],
    ["no expressions", (tx) => tx.add(rule([])), /needs at least one expression/],
    ["bad expression", (tx) => tx.add(rule([{ type: "bogus" } as unknown as Expr])), /unknown expression type "bogus"/],
    ["verdict register as data", (tx) => tx.add(rule([{ type: "payload", base: "network", offset: 12, len: 4, dreg: 0 }])), /payload: 0 is not a data register/],
    ["register overflow", (tx) => tx.add(rule([{ type: "payload", base: "network", offset: 0, len: 20, dreg: 23 }])), /overflow the registers/],
    ["data too long", (tx) => tx.add(rule([{ type: "cmp", op: "eq", sreg: 1, data: Buffer.alloc(65) }])), /cmp: data must be a Buffer of 1-64 bytes/],
    ["bad jump", (tx) => tx.add(rule(I.jump("no such"))), /invalid chain name "no such"/],
    ["bad verdict", (tx) => tx.add(rule([{ type: "verdict", verdict: "reject" as "drop" }])), /invalid verdict "reject"/],
    ["bad comment", (tx) => tx.add(rule(I.accept(), { comment: 'say "hi"' })), /invalid rule comment/],
    ["long comment", (tx) => tx.add(rule(I.accept(), { comment: "x".repeat(254) })), /1-253 printable/],
    ["bad position", (tx) => tx.add(rule(I.accept(), { position: 0 })), /invalid rule position 0/],
    ["delete without handle", (tx) => tx.delete(rule(I.accept())), /invalid rule handle undefined/],
    ["insert a table", (tx) => tx.insert({ kind: "table", family: "ip", name: "t" } as unknown as NftRule), /cannot insert "table"/],
    ["flush a rule", (tx) => tx.flush(rule(I.accept()) as unknown as NftChain), /cannot flush "rule"/],
    ["inet address match without nfproto", (tx) => tx.add(rule([...I.matchSaddr("10.0.0.0/8"), ...I.accept()])), /without matching the protocol first \(add matchNfproto/],
    ["nfproto overwritten first", (tx) => tx.add(rule([{ type: "meta", key: "nfproto", dreg: 1 }, { type: "meta", key: "mark", dreg: 1 }, { type: "cmp", op: "eq", sreg: 1, data: Buffer.of(2) }, ...I.matchSaddr("10.0.0.0/8")])), /without matching the protocol first/],
    ["ip6 nat in an ip table", (tx) => tx.add({ ...rule(I.dnatTo("fd00::1")), family: "ip" }), /ip6 NAT in a table of family ip/],
    ["unknown set type", (tx) => tx.add({ ...hostports, key: "ipv5_addr" as "ipv4_addr" }), /unsupported type "ipv5_addr"/],
    ["integer set", (tx) => tx.add({ ...hostports, key: "integer" }), /unsupported type "integer"/],
    ["element without its set", (tx) => tx.add({ kind: "element", key: "1" } as unknown as NftElement), /needs its set definition/],
    ["element with too few fields", (tx) => tx.add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp"], value: ["10.0.0.2", 80] }), /key must have 3 fields/],
    ["map element without value", (tx) => tx.add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 80] }), /map elements need a value/],
    ["set element with value", (tx) => tx.add({ kind: "element", set: { ...hostports, data: undefined }, key: ["10.0.0.1", "tcp", 80], value: 1 }), /a set element has no value/],
    ["bad element value", (tx) => tx.add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 80], value: ["10.0.0.2", 70000] }), /element of set "hostports": invalid inet_service 70000/],
    ["prefix in a plain set", (tx) => tx.add({ kind: "element", set: hostports, key: ["10.0.0.0/8", "tcp", 80], value: ["10.0.0.2", 80] }), /invalid ipv4_addr "10.0.0.0\/8"/],
    ["bad verdict in a vmap", (tx) => tx.add({ kind: "element", set: { ...hostports, key: "ifname", data: "verdict" }, key: "eth0", value: "reject" }), /invalid verdict "reject"/],
    ["helpers: bad prefix", () => I.matchSaddr("10.0.0.0/33"), /invalid address or prefix "10.0.0.0\/33"/],
    ["helpers: /0", () => I.matchDaddr("0.0.0.0/0"), /a \/0 prefix matches every address/],
    ["helpers: bad port", () => I.matchDport(0), /invalid port 0/],
    ["helpers: bad ifname", () => I.matchIifname("way-too-long-name0"), /invalid interface name/],
    ["helpers: bad l4proto", () => I.matchL4proto("icmp" as "tcp"), /invalid l4proto "icmp"/],
    ["helpers: bad dnat address", () => I.dnatTo("10.0.0.300", 80), /invalid DNAT address/],
  ];
  for (const [what, fn, message] of cases) {
    const tx = new NftTransaction();
    t.match(caught(() => fn(tx)), { name: "NftInputError", message }, what);
    t.equal(tx.length, 0, `${what}: nothing queued`);
  }
});

t.test("intent helpers emit nft's expressions", async (t) => {
  t.same(I.matchSaddr("10.1.2.3/24"), I.matchSaddr("10.1.2.0/24"), "host bits are cleared");
  t.same(I.matchSaddr("10.1.2.3"), [
    { type: "payload", base: "network", offset: 12, len: 4, dreg: 1 },
    { type: "cmp", op: "eq", sreg: 1, data: Buffer.from("0a010203", "hex") },
  ]);
  t.same(I.matchDaddr({ address: { family: 6, value: 0xfd00n << 112n }, prefixLength: 16 }), [
    { type: "payload", base: "network", offset: 24, len: 2, dreg: 1 },
    { type: "cmp", op: "eq", sreg: 1, data: Buffer.from("fd00", "hex") },
  ]);
  t.same(I.dnatTo("10.0.0.1"), [
    { type: "immediate", dreg: 1, data: Buffer.from("0a000001", "hex") },
    { type: "nat", natType: "dnat", family: "ip", addrMin: 1 },
  ]);
  t.same(I.matchNotIifname("eth0")[1], { type: "cmp", op: "neq", sreg: 1, data: Buffer.from("65746830000000000000000000000000", "hex") });
});
