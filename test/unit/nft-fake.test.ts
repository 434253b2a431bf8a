// FakeNftConnection as a plugin test would use it (test/live/nft-commit.test.ts checks it against
// the kernel case by case).
import t from "tap";
import { FakeNftConnection } from "../../lib/nft/fake.ts";
import { NftCommitError } from "../../lib/nft/errors.ts";
import { NftTransaction } from "../../lib/nft/transaction.ts";
import { isOwnedBy, listOwnedRules, ownerComment, parseOwnerComment } from "../../lib/nft/owner.ts";
import * as I from "../../lib/nft/intents.ts";
import type { NftChain, NftSet, NftTable } from "../../lib/nft/types.ts";
import { caught } from "../helpers/assert.ts";

const T = { family: "ip", table: "cni" } as const;
const table: NftTable = { kind: "table", family: "ip", name: "cni" };
const post: NftChain = { kind: "chain", ...T, name: "post", type: "nat", hook: "postrouting", priority: 100 };
const pre: NftChain = { kind: "chain", ...T, name: "pre", type: "nat", hook: "prerouting", priority: -100 };
const hostports: NftSet = { kind: "set", ...T, name: "hostports", key: ["ipv4_addr", "inet_proto", "inet_service"], data: ["ipv4_addr", "inet_service"] };

const setup = (): NftTransaction =>
  new NftTransaction().add(table).add(hostports).add(post).add(pre).add({ kind: "rule", ...T, chain: "pre", exprs: I.dnatViaMap("hostports", 4) });

/** What a portmap-like ADD for one container commits. */
function add(id: string, containerIp: string, hostPort: number): NftTransaction {
  const comment = ownerComment({ net: "net1", id, ifname: "eth0" });
  return new NftTransaction()
    .add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", hostPort], value: [containerIp, 80] })
    .add({ kind: "rule", ...T, chain: "post", exprs: [...I.matchSaddr(containerIp), ...I.matchDaddr(containerIp), ...I.counter(), ...I.masquerade()], comment });
}

t.test("a plugin's ADD and DEL against the fake", async (t) => {
  const fake = new FakeNftConnection();
  fake.commit(setup());
  fake.commit(add("a", "10.88.0.2", 8080));
  fake.commit(add("b", "10.88.0.3", 8081));
  t.equal(
    fake.dump(),
    `table ip cni {
\tmap hostports {
\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
\t\telements = { 10.0.0.1 . tcp . 8080 : 10.88.0.2 . 80, 10.0.0.1 . tcp . 8081 : 10.88.0.3 . 80 }
\t}

\tchain post {
\t\ttype nat hook postrouting priority 100; policy accept;
\t\tip saddr 10.88.0.2 ip daddr 10.88.0.2 counter packets 0 bytes 0 masquerade comment "tscni net=net1 id=a if=eth0"
\t\tip saddr 10.88.0.3 ip daddr 10.88.0.3 counter packets 0 bytes 0 masquerade comment "tscni net=net1 id=b if=eth0"
\t}

\tchain pre {
\t\ttype nat hook prerouting priority -100; policy accept;
\t\tdnat ip to ip daddr . meta l4proto . th dport map @hostports
\t}
}`,
  );
  t.equal(fake.lastTransaction?.length, 2);
  fake.commit(setup());
  t.equal(fake.listRules("ip", "cni", "pre").length, 2, "add appends, as the kernel does: ensure rules exist by listing first");
  fake.commit(new NftTransaction().delete(fake.listRules("ip", "cni", "pre")[1]!));

  // DEL for "a": its rules by handle, its map element by key.
  const del = new NftTransaction();
  for (const r of listOwnedRules(fake, post, { id: "a" })) del.delete(r);
  del.delete({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 8080], value: ["10.88.0.2", 80] });
  fake.commit(del);
  t.same(fake.listRules("ip", "cni", "post").map((r) => parseOwnerComment(r.comment)?.id), ["b"]);
  t.same(fake.listElements(hostports).map((e) => e.key), [["10.0.0.1", "tcp", 8081]]);
  t.equal(listOwnedRules(fake, post, { id: "a" }).length, 0, "a second DEL finds nothing");
});

t.test("all or nothing, and the error names the operation", async (t) => {
  const fake = new FakeNftConnection();
  fake.commit(setup());
  fake.commit(add("a", "10.88.0.2", 8080));
  const before = fake.dump();
  const tx = new NftTransaction()
    .add({ kind: "element", set: hostports, key: ["10.0.0.1", "tcp", 9090], value: ["10.88.0.9", 80] })
    .add({ kind: "rule", ...T, chain: "post", exprs: I.jump("missing") });
  const err = caught(() => fake.commit(tx));
  t.ok(err instanceof NftCommitError);
  t.match(err, { code: "ENOENT", errno: 2, op: "add rule ip cni post jump missing", message: 'nft transaction failed at "add rule ip cni post jump missing": ENOENT' });
  t.equal(fake.dump(), before);
  t.equal(fake.lastTransaction?.length, 2, "lastTransaction is the last one that went through");
});

t.test("handles, append after and insert before", async (t) => {
  const fake = new FakeNftConnection();
  const chain: NftChain = { kind: "chain", ...T, name: "c" };
  const r = (comment: string, position?: number) => ({ kind: "rule" as const, ...T, chain: "c", exprs: I.accept(), comment, ...(position ? { position } : {}) });
  fake.commit(new NftTransaction().add(table).add(chain).add(r("1")).add(r("2")));
  const [one, two] = fake.listRules("ip", "cni", "c");
  t.same([one?.handle, two?.handle], [2, 3], "chain 1, rules 2 and 3: one generator per table");
  fake.commit(new NftTransaction().insert(r("0")).add(r("1.5", one!.handle)).insert(r("1.9", two!.handle)));
  t.same(fake.listRules("ip", "cni", "c").map((x) => x.comment), ["0", "1", "1.5", "1.9", "2"]);
  t.same(fake.listTables(), [{ kind: "table", family: "ip", name: "cni", handle: 1 }]);
  t.same(fake.listChains("ip", "cni"), [{ kind: "chain", ...T, name: "c", handle: 1 }]);
  t.same(fake.listRules("ip", "other"), []);
  t.same(fake.listElements({ kind: "set", ...T, name: "nope" }), []);
});

t.test("interval sets list prefixes and ranges", async (t) => {
  const fake = new FakeNftConnection();
  const nets: NftSet = { kind: "set", ...T, name: "nets", key: "ipv4_addr", interval: true };
  fake.commit(new NftTransaction().add(table).add(nets).add({ kind: "element", set: nets, key: "10.1.2.3/16" }).add({ kind: "element", set: nets, key: "10.2.0.1-10.2.0.7" }));
  t.same(fake.listElements(nets).map((e) => e.key), ["10.1.0.0/16", "10.2.0.1-10.2.0.7"]);
  t.match(caught(() => fake.commit(new NftTransaction().add({ kind: "element", set: nets, key: "10.2.0.5" }))), { code: "EEXIST" }, "overlap");
});

t.test("owner comments", async (t) => {
  const o = { net: "net1", id: "abc", ifname: "eth0" };
  t.equal(ownerComment(o), "tscni net=net1 id=abc if=eth0");
  t.same(parseOwnerComment("tscni net=net1 id=abc if=eth0"), o);
  t.equal(parseOwnerComment("someone else's"), undefined);
  t.equal(parseOwnerComment(undefined), undefined);
  const rule = { kind: "rule" as const, ...T, chain: "c", exprs: I.accept(), comment: ownerComment(o) };
  t.ok(isOwnedBy(rule, { id: "abc" }));
  t.ok(isOwnedBy(rule, { net: "net1", ifname: "eth0" }));
  t.notOk(isOwnedBy(rule, { id: "abd" }));
  t.notOk(isOwnedBy({ ...rule, comment: undefined }, {}));
  t.match(caught(() => ownerComment({ ...o, id: "a b" })), { name: "NftInputError", message: 'invalid rule owner id "a b"' });
});
