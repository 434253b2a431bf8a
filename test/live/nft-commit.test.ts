// lib/nft against the kernel in throw-away namespaces: what we commit is what `nft` lists, listings
// decode back to what we wrote, transactions are all or nothing, and the fake agrees with the
// kernel on semantics and errors.
import t from "tap";
import { openNetns } from "../../lib/netns/netns.ts";
import { openNft } from "../../lib/nft/connection.ts";
import { NftCommitError } from "../../lib/nft/errors.ts";
import { FakeNftConnection } from "../../lib/nft/fake.ts";
import { NftTransaction } from "../../lib/nft/transaction.ts";
import { listOwnedRules, ownerComment } from "../../lib/nft/owner.ts";
import { renderRuleset } from "../../lib/nft/render.ts";
import type { Expr } from "../../lib/nft/expr/index.ts";
import * as I from "../../lib/nft/intents.ts";
import type { NftChain, NftConnection, NftRule, NftSet, NftTable } from "../../lib/nft/index.ts";
import { caught } from "../helpers/assert.ts";
import { inNs, isRoot, makeNetns } from "../helpers/netns.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

function nftIn(t: Parameters<typeof makeNetns>[0], prefix: string) {
  const ns = makeNetns(t, prefix);
  const fd = openNetns(ns.path);
  t.teardown(() => fd.close());
  const conn = openNft(fd);
  t.teardown(() => conn.close());
  return { name: ns.name, conn };
}

interface NftJson {
  nftables: Array<Record<string, Record<string, unknown>>>;
}
const nftJson = (ns: string): NftJson => JSON.parse(inNs(ns, "nft", ["-j", "list", "ruleset"])) as NftJson;
const objects = (j: NftJson, kind: string): Record<string, unknown>[] => j.nftables.flatMap((o) => (o[kind] ? [o[kind]] : []));

const T = { family: "inet", table: "tnft" } as const;
const table: NftTable = { kind: "table", family: "inet", name: "tnft" };
const post: NftChain = { kind: "chain", ...T, name: "post", type: "nat", hook: "postrouting", priority: 100 };
const pre: NftChain = { kind: "chain", ...T, name: "pre", type: "nat", hook: "prerouting", priority: -100 };
const fwd: NftChain = { kind: "chain", ...T, name: "filt", type: "filter", hook: "forward", priority: 0, policy: "accept" };
const isolation: NftChain = { kind: "chain", ...T, name: "isolation" };
const hostports: NftSet = { kind: "set", ...T, name: "hostports", key: ["ipv4_addr", "inet_proto", "inet_service"], data: ["ipv4_addr", "inet_service"] };
const bridges: NftSet = { kind: "set", ...T, name: "bridges", key: "ifname", data: "verdict" };
const nets: NftSet = { kind: "set", ...T, name: "nets", key: "ipv4_addr", interval: true };
const owner = ownerComment({ net: "mynet", id: "0123abcd", ifname: "eth0" });
const rule = (chain: string, exprs: Expr[], comment?: string): NftRule => ({ kind: "rule", ...T, chain, exprs, ...(comment ? { comment } : {}) });

const stripCounts = (x: Expr): Expr => (x.type === "counter" ? { type: "counter" } : x);

/** A bridge/portmap-like ruleset. */
function ruleset(): NftTransaction {
  return new NftTransaction()
    .add(table)
    .add(hostports)
    .add(bridges)
    .add(nets)
    .add(post)
    .add(pre)
    .add(isolation)
    .add(fwd)
    .add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 8080], value: ["10.88.0.5", 80] })
    .add({ kind: "element", set: bridges, key: "br0", value: { jump: "isolation" } })
    .add({ kind: "element", set: nets, key: "10.88.0.0/16" })
    .add({ kind: "element", set: nets, key: "10.99.0.0-10.99.0.9" })
    .add(rule("post", [...I.matchNfproto(4), ...I.matchSaddr("10.88.0.0/16"), ...I.matchNotDaddr("10.88.0.0/16"), ...I.masquerade()], owner))
    .add(rule("pre", [...I.matchFibDaddrLocal(), ...I.matchNfproto(4), ...I.dnatViaMap("hostports", 4)]))
    .add(rule("filt", [...I.matchCtStateEstablishedRelated(), ...I.accept()]))
    .add(rule("filt", [{ type: "meta", key: "iifname", dreg: 1 }, { type: "lookup", set: "bridges", sreg: 1, dreg: 0 }]))
    .add(rule("isolation", [...I.matchIifname("br0"), ...I.matchNotOifname("br0"), ...I.counter(), ...I.drop()], owner))
    .add(rule("isolation", [...I.matchNfproto(4), { type: "payload", base: "network", offset: 16, len: 4, dreg: 1 }, { type: "lookup", set: "nets", sreg: 1 }, ...I.returnVerdict()]));
}

t.test("what we commit is what nft lists, and listings decode to what we wrote", async (t) => {
  const { name, conn } = nftIn(t, "tnft-list");
  const tx = ruleset();
  conn.commit(tx);

  const j = nftJson(name);
  t.same(objects(j, "table").map((o) => [o.family, o.name]), [["inet", "tnft"]]);
  t.same(objects(j, "chain").map((o) => o.name), ["post", "pre", "isolation", "filt"]);
  t.match(objects(j, "chain").find((o) => o.name === "post"), { family: "inet", table: "tnft", name: "post", type: "nat", hook: "postrouting", prio: 100, policy: "accept" });
  t.same(objects(j, "map").map((o) => [o.name, o.type, o.map]), [["hostports", ["ipv4_addr", "inet_proto", "inet_service"], "ipv4_addr . inet_service"], ["bridges", "ifname", "verdict"]]);
  t.same(objects(j, "set").find((o) => o.name === "nets")?.elem, [{ prefix: { addr: "10.88.0.0", len: 16 } }, { range: ["10.99.0.0", "10.99.0.9"] }]);
  t.same(objects(j, "rule").map((o) => o.comment).filter(Boolean), [owner, owner], "comments as nft shows them");
  const text = inNs(name, "nft", ["list", "ruleset"]);
  t.match(text, 'dnat ip to ip daddr . meta l4proto . th dport map @hostports');
  t.match(text, "ct state established,related accept");
  t.match(text, "fib daddr type local");
  t.match(text, 'iifname vmap @bridges');

  // Round trip: listed rules decode to the expressions we wrote (counters now carry counts).
  const written = tx.operations.flatMap((op) => (op.obj.kind === "rule" ? [op.obj as NftRule] : []));
  const listed = conn.listRules("inet", "tnft");
  t.equal(listed.length, written.length);
  for (const w of written) {
    const got = listed.find((r) => r.chain === w.chain && JSON.stringify(r.exprs.map(stripCounts)) === JSON.stringify(w.exprs.map(stripCounts)));
    t.ok(got, `rule in ${w.chain} listed back`);
    t.equal(got?.comment, w.comment);
    t.ok(got?.handle! > 0);
  }
  t.same(conn.listElements(nets).map((e) => e.key), ["10.88.0.0/16", "10.99.0.0-10.99.0.9"]);
  t.same(conn.listElements(bridges).map((e) => [e.key, e.value]), [["br0", { jump: "isolation" }]]);
  t.same(conn.listChains("inet", "tnft").map((c) => [c.name, c.hook ?? null, c.policy ?? null]), [["post", "postrouting", "accept"], ["pre", "prerouting", "accept"], ["isolation", null, null], ["filt", "forward", "accept"]]);
  t.same(conn.listSets("inet", "tnft").map((s) => s.name), ["hostports", "bridges", "nets"]);
  t.same(conn.listRules("inet", "nope"), [], "missing table: no rules");
  t.same(conn.listElements({ kind: "set", ...T, name: "nope" }), [], "missing set: no elements");

  // The fake applies the same transaction to the same listing.
  const fake = new FakeNftConnection();
  fake.commit(ruleset());
  t.equal(fake.dump(), renderRuleset(conn));
});

t.test("tx.toString() is nft input that builds the same ruleset", async (t) => {
  const ours = nftIn(t, "tnft-ours");
  const theirs = makeNetns(t, "tnft-text");
  const tx = ruleset();
  ours.conn.commit(tx);
  inNs(theirs.name, "nft", ["-f", "-"], { input: tx.toString() });
  const strip = (j: NftJson): string => JSON.stringify(j.nftables.filter((o) => !o.metainfo), (k, v: unknown) => (k === "handle" ? undefined : v));
  t.same(strip(nftJson(ours.name)), strip(nftJson(theirs.name)));
});

t.test("a failed transaction leaves nothing and names the operation", async (t) => {
  const { name, conn } = nftIn(t, "tnft-fail");
  const tx = new NftTransaction()
    .add(table)
    .add(post)
    .add(rule("post", [...I.matchNfproto(4), ...I.masquerade()]))
    .add(rule("post", I.jump("missing")));
  const err = caught(() => conn.commit(tx));
  t.ok(err instanceof NftCommitError);
  t.match(err, { code: "ENOENT", op: "add rule inet tnft post jump missing" });
  t.equal(inNs(name, "nft", ["list", "ruleset"]).trim(), "", "nothing was created");
  t.same(conn.listTables(), []);

  conn.commit(ruleset());
  const before = inNs(name, "nft", ["list", "ruleset"]);
  const bad = new NftTransaction().add({ kind: "element", set: hostports, key: ["10.0.0.2", "udp", 53], value: ["10.88.0.6", 53] }).delete(isolation);
  t.match(caught(() => conn.commit(bad)), { code: "EBUSY", op: "delete chain inet tnft isolation" }, "a map still jumps to it");
  t.equal(inNs(name, "nft", ["list", "ruleset"]), before, "the element of the failed batch is not there");
});

t.test("a batch that declares existing chains again: its rules land, a failure names the operation as queued", async (t) => {
  const { name, conn } = nftIn(t, "tnft-again");
  conn.commit(new NftTransaction().add(table).add(fwd).add(isolation));
  // Every ADD declares its table and chains; those that exist as declared are left out of the
  // batch, so the kernel's error index no longer counts them.
  conn.commit(new NftTransaction().add(table).add(fwd).add(isolation).add(rule("filt", I.accept(), "kept")));
  t.same(conn.listRules("inet", "tnft", "filt").map((r) => r.comment), ["kept"], "the rule of the same batch landed");

  const failing = new NftTransaction().add(table).add(fwd).add(isolation).add(rule("filt", I.accept())).add(rule("filt", I.jump("missing")));
  t.match(caught(() => conn.commit(failing)), { code: "ENOENT", op: "add rule inet tnft filt jump missing" });
  t.same(conn.listRules("inet", "tnft", "filt").map((r) => r.comment), ["kept"], "nothing of the failed batch stayed");

  inNs(name, "nft", ["chain", "inet", "tnft", "filt", "{", "policy", "drop", ";", "}"]);
  conn.commit(new NftTransaction().add(fwd));
  t.equal(objects(nftJson(name), "chain").find((c) => c.name === "filt")?.policy, "accept", "a chain that differs from its declaration is still updated");
});

t.test("DEL deletes exactly the rules its comment names; destroy tolerates what is gone", async (t) => {
  const { conn } = nftIn(t, "tnft-own");
  const a = ownerComment({ net: "n", id: "a", ifname: "eth0" });
  const b = ownerComment({ net: "n", id: "b", ifname: "eth0" });
  conn.commit(
    new NftTransaction()
      .add(table)
      .add(nets)
      .add(isolation)
      .add(rule("isolation", [...I.matchIifname("veth-a"), ...I.drop()], a))
      .add(rule("isolation", [...I.matchIifname("veth-b"), ...I.drop()], b))
      .add(rule("isolation", [...I.matchOifname("veth-a"), ...I.drop()], a))
      .add(rule("isolation", I.accept())),
  );
  const mine = listOwnedRules(conn, isolation, { net: "n", id: "a" });
  t.equal(mine.length, 2);
  const del = new NftTransaction();
  for (const r of mine) del.delete(r);
  conn.commit(del);
  t.same(conn.listRules("inet", "tnft", "isolation").map((r) => r.comment ?? null), [b, null]);

  // A DEL run twice: the rules are gone, destroy does not care; delete does.
  const again = new NftTransaction();
  for (const r of mine) again.destroy(r);
  again.destroy({ kind: "element", set: nets, key: "10.1.0.0/16" });
  again.destroy({ kind: "chain", ...T, name: "gone" }).destroy({ kind: "table", family: "ip", name: "gone" });
  conn.commit(again);
  t.match(caught(() => conn.commit(new NftTransaction().delete(mine[0]!))), { code: "ENOENT" });

  conn.commit(new NftTransaction().flush(isolation));
  t.same(conn.listRules("inet", "tnft", "isolation"), []);
  conn.commit(new NftTransaction().delete(table));
  t.same(conn.listTables(), []);
});

t.test("insert and positions put rules where asked", async (t) => {
  const { conn } = nftIn(t, "tnft-pos");
  conn.commit(new NftTransaction().add(table).add(isolation).add(rule("isolation", I.accept(), "first")).add(rule("isolation", I.drop(), "last")));
  const [first, last] = conn.listRules("inet", "tnft", "isolation");
  conn.commit(
    new NftTransaction()
      .insert(rule("isolation", I.returnVerdict(), "top"))
      .add({ ...rule("isolation", I.counter(), "after-first"), position: first!.handle! })
      .insert({ ...rule("isolation", I.counter(), "before-last"), position: last!.handle! }),
  );
  t.same(conn.listRules("inet", "tnft", "isolation").map((r) => r.comment), ["top", "first", "after-first", "before-last", "last"]);
});

// Each case: a transaction applied on top of ruleset(), to the kernel and to the fake.
const cases: [string, (tx: NftTransaction) => NftTransaction, string | undefined][] = [
  ["create an existing table", (tx) => tx.create(table), "EEXIST"],
  ["create an existing chain", (tx) => tx.create(isolation), "EEXIST"],
  ["create an existing set", (tx) => tx.create(nets), "EEXIST"],
  ["add existing table, chain, set again", (tx) => tx.add(table).add(post).add(nets), undefined],
  ["add a base chain again with another priority", (tx) => tx.add({ ...post, priority: 50 }), "EOPNOTSUPP"],
  ["add a base chain again with another type", (tx) => tx.add({ ...fwd, type: "route", hook: "output" }), "EOPNOTSUPP"],
  ["add a regular chain again as a base chain", (tx) => tx.add({ ...post, name: "isolation" }), "EEXIST"],
  ["add a regular chain again with a policy", (tx) => tx.add({ ...fwd, name: "isolation" }), "EOPNOTSUPP"],
  ["add a set again with another type", (tx) => tx.add({ ...nets, key: "ipv6_addr" }), "EEXIST"],
  ["change a base chain's policy", (tx) => tx.add({ ...fwd, policy: "drop" }), undefined],
  ["delete a missing chain", (tx) => tx.delete({ kind: "chain", ...T, name: "nope" }), "ENOENT"],
  ["delete a missing table", (tx) => tx.delete({ kind: "table", family: "ip", name: "nope" }), "ENOENT"],
  ["delete a missing set", (tx) => tx.delete({ kind: "set", ...T, name: "nope" }), "ENOENT"],
  ["delete a missing rule", (tx) => tx.delete({ kind: "rule", ...T, chain: "filt", handle: 9999 }), "ENOENT"],
  ["delete a chain with rules (they go with it)", (tx) => tx.delete(post), undefined],
  ["delete a chain a map jumps to", (tx) => tx.flush(isolation).delete(isolation), "EBUSY"],
  ["delete a set a rule uses", (tx) => tx.delete(nets), "EBUSY"],
  ["delete a chain after its rules and references", (tx) => tx.flush({ kind: "chain", ...T, name: "filt" }).flush(isolation).flush(bridges).delete(isolation), undefined],
  ["destroy an element of a missing set", (tx) => tx.destroy({ kind: "element", set: { ...nets, name: "nope" }, key: "10.1.1.1" }), "ENOENT"],
  ["destroy a chain of a missing table", (tx) => tx.destroy({ kind: "chain", family: "ip", table: "nope", name: "x" }), "ENOENT"],
  ["flush a missing chain", (tx) => tx.flush({ kind: "chain", ...T, name: "nope" }), "ENOENT"],
  ["destroy what does not exist", (tx) => tx.destroy({ kind: "table", family: "ip6", name: "x" }).destroy({ kind: "chain", ...T, name: "x" }).destroy({ kind: "set", ...T, name: "x" }).destroy({ kind: "rule", ...T, chain: "filt", handle: 9999 }).destroy({ kind: "element", set: nets, key: "10.1.1.1" }), undefined],
  ["add an element that maps elsewhere", (tx) => tx.add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 8080], value: ["10.88.0.6", 80] }), "EEXIST"],
  ["add an element again", (tx) => tx.add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 8080], value: ["10.88.0.5", 80] }), undefined],
  ["create an existing element", (tx) => tx.create({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 8080], value: ["10.88.0.5", 80] }), "EEXIST"],
  ["delete a missing element", (tx) => tx.delete({ kind: "element", set: hostports, key: ["10.0.0.9", "tcp", 8080], value: ["10.88.0.5", 80] }), "ENOENT"],
  ["add an overlapping interval", (tx) => tx.add({ kind: "element", set: nets, key: "10.88.1.0/24" }), "EEXIST"],
  ["add an element to a missing set", (tx) => tx.add({ kind: "element", set: { ...nets, name: "nope" }, key: "10.1.0.0/16" }), "ENOENT"],
  ["map to a missing chain", (tx) => tx.add({ kind: "element", set: bridges, key: "br1", value: { goto: "nope" } }), "ENOENT"],
  ["masquerade in prerouting", (tx) => tx.add(rule("pre", I.masquerade())), "EOPNOTSUPP"],
  ["dnat in postrouting", (tx) => tx.add(rule("post", I.dnatTo("10.1.1.1"))), "EOPNOTSUPP"],
  ["nat in a filter chain", (tx) => tx.add(rule("filt", I.dnatTo("10.1.1.1"))), "EOPNOTSUPP"],
  ["jump to a base chain", (tx) => tx.add(rule("isolation", I.jump("filt"))), "EOPNOTSUPP"],
  ["jump to a missing chain", (tx) => tx.add(rule("filt", I.jump("nope"))), "ENOENT"],
  ["look up a missing set", (tx) => tx.add(rule("filt", [...I.matchNfproto(4), { type: "payload", base: "network", offset: 12, len: 4, dreg: 1 }, { type: "lookup", set: "nope", sreg: 1 }, ...I.drop()])), "ENOENT"],
  ["a rule in a missing chain", (tx) => tx.add(rule("nope", I.accept())), "ENOENT"],
  ["a rule after a missing handle", (tx) => tx.add({ ...rule("filt", I.accept()), position: 9999 }), "ENOENT"],
  ["flush everything", (tx) => tx.flush(table).flush(nets).flush(hostports), undefined],
];

t.test("the fake agrees with the kernel", async (t) => {
  const { conn } = nftIn(t, "tnft-diff");
  for (const [what, build, code] of cases) {
    conn.commit(new NftTransaction().destroy(table));
    conn.commit(ruleset());
    const fake = new FakeNftConnection();
    fake.commit(ruleset());
    const kernelErr = attempt(conn, build(new NftTransaction()));
    const fakeErr = attempt(fake, build(new NftTransaction()));
    t.equal(kernelErr, code, `${what}: kernel`);
    t.equal(fakeErr, code, `${what}: fake`);
    t.equal(fake.dump(), renderRuleset(conn), `${what}: same ruleset after`);
  }
});

function attempt(conn: NftConnection, tx: NftTransaction): string | undefined {
  try {
    conn.commit(tx);
    return undefined;
  } catch (e) {
    if (e instanceof NftCommitError) return e.code;
    throw e;
  }
}
