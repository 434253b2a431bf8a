// plugins/portmap/apply.ts against lib/nft's in-memory fake: the ruleset made on first use, one
// batch of elements per ADD, conflicts, replacement, removal of what is still ours.
import t from "tap";
import { CniError } from "../../lib/cni/errors.ts";
import { FakeNftConnection, NftTransaction } from "../../lib/nft/index.ts";
import { commitElements, removeElements, stillOwned } from "../../plugins/portmap/apply.ts";
import { parseConditions } from "../../plugins/portmap/conditions.ts";
import type { OwnedElement } from "../../plugins/portmap/plan.ts";
import { SETS, TABLE } from "../../plugins/portmap/ruleset.ts";

const podA: OwnedElement[] = [
  { set: "any4", key: ["tcp", 8080], value: ["10.88.0.5", 80] },
  { set: "hostip4", key: ["10.0.0.1", "udp", 53], value: ["10.88.0.5", 53] },
  { set: "hairpin4", key: ["10.88.0.0/16", "10.88.0.5"] },
  { set: "hairpin4", key: ["127.0.0.0/8", "10.88.0.5"] },
];
const podB: OwnedElement[] = [
  { set: "any4", key: ["tcp", 9090], value: ["10.88.0.6", 90] },
  { set: "any4", key: ["tcp", 8080], value: ["10.88.0.6", 80] },
  { set: "hairpin4", key: ["10.88.0.0/16", "10.88.0.6"] },
];
const listed = (conn: FakeNftConnection, set: keyof typeof SETS) => conn.listElements(SETS[set]).map((e) => [e.key, e.value]);

t.test("the first ADD makes the table, chains and rules, then only elements are sent", async (t) => {
  const conn = new FakeNftConnection();
  commitElements(conn, [], podA, []);
  t.same(conn.listTables().map((x) => `${x.family} ${x.name}`), ["inet tscni-portmap"]);
  t.same(conn.listChains("inet", TABLE.name).map((c) => c.name).sort(), ["hostports", "output", "postrouting", "prerouting"]);
  t.equal(conn.listRules("inet", TABLE.name).length, 12, "8 + 1 + 1 + 2 rules");
  t.same(listed(conn, "any4"), [[["tcp", 8080], ["10.88.0.5", 80]]]);
  t.same(conn.listElements(SETS.hairpin4).map((e) => e.key), [["10.88.0.0/16", "10.88.0.5"], ["127.0.0.0/8", "10.88.0.5"]]);

  commitElements(conn, [], [{ set: "any4", key: ["tcp", 7070], value: ["10.88.0.7", 70] }], []);
  t.same(
    conn.lastTransaction?.toString(),
    "create element inet tscni-portmap any4 { tcp . 7070 : 10.88.0.7 . 70 }",
    "a later ADD is one message: its elements",
  );
  t.equal(conn.listRules("inet", TABLE.name).length, 12, "no rule added twice");
});

t.test("a host port held by another attachment: code 7 naming it, nothing changed", async (t) => {
  const conn = new FakeNftConnection();
  commitElements(conn, [], podA, []);
  const before = conn.dump();
  t.throws(() => commitElements(conn, [], podB, []), new CniError(7, "host port 8080/tcp is already mapped (to 10.88.0.5:80) by another container", "no mapping of this request was made"));
  t.equal(conn.dump(), before, "all or nothing: 9090 was not mapped either");
});

t.test("re-ADD: the previous elements go in the same batch", async (t) => {
  const conn = new FakeNftConnection();
  commitElements(conn, [], podA, []);
  const next: OwnedElement[] = [{ set: "any4", key: ["tcp", 8080], value: ["10.88.0.5", 8080] }, podA[2]!, podA[3]!];
  commitElements(conn, podA, next, []);
  t.same(listed(conn, "any4"), [[["tcp", 8080], ["10.88.0.5", 8080]]]);
  t.same(listed(conn, "hostip4"), []);
  t.equal(conn.listElements(SETS.hairpin4).length, 2);
});

t.test("stillOwned keeps only the elements whose value is still ours", async (t) => {
  const conn = new FakeNftConnection();
  t.same(stillOwned(conn, podA), podA.slice(2), "no table: only the hairpin pairs (they carry no value to check)");
  commitElements(conn, [], podA, []);
  t.same(stillOwned(conn, podA), podA);
  // The port went to another pod after a lost DEL of pod A.
  removeElements(conn, [podA[0]!]);
  commitElements(conn, [], [podB[1]!], []);
  t.same(stillOwned(conn, podA), [podA[1]!, podA[2]!, podA[3]!], "8080 now points to pod B: not ours");
  removeElements(conn, stillOwned(conn, podA));
  t.same(listed(conn, "any4"), [[["tcp", 8080], ["10.88.0.6", 80]]], "pod A's DEL leaves pod B's mapping");
  t.same(listed(conn, "hostip4"), []);
  t.same(conn.listElements(SETS.hairpin4), []);
  removeElements(new FakeNftConnection(), podA);
  t.pass("removing from a missing table is fine");
});

t.test("conditions: a guard element jumping to a chain made once per condition list", async (t) => {
  const conn = new FakeNftConnection();
  commitElements(conn, [], [], []);
  const cond = parseConditions(["ip saddr 10.0.0.0/8"], 4, "conditionsV4")!;
  const els: OwnedElement[] = [
    { set: "any4", key: ["tcp", 8080], value: ["10.88.0.5", 80] },
    { set: "guard-any4", key: ["tcp", 8080], value: { jump: cond.chain } },
  ];
  commitElements(conn, [], els, [cond]);
  t.same(conn.listRules("inet", TABLE.name, cond.chain).map((r) => r.exprs.at(-1)), [{ type: "verdict", verdict: "return" }, { type: "verdict", verdict: "accept" }]);
  t.same(listed(conn, "guard-any4"), [[["tcp", 8080], { jump: cond.chain }]]);
  commitElements(conn, [], [{ set: "guard-any4", key: ["tcp", 9090], value: { jump: cond.chain } }], [cond]);
  t.equal(conn.listRules("inet", TABLE.name, cond.chain).length, 2, "the chain's rules are not repeated");
});

t.test("a table deleted by hand is made again by the next ADD", async (t) => {
  const conn = new FakeNftConnection();
  commitElements(conn, [], podA, []);
  conn.commit(new NftTransaction().delete({ kind: "table", family: "inet", name: TABLE.name }));
  commitElements(conn, [], [{ set: "any4", key: ["tcp", 2], value: ["10.88.0.9", 2] }], []);
  t.equal(conn.listRules("inet", TABLE.name).length, 12, "table, chains and rules again");
  t.same(listed(conn, "any4"), [[["tcp", 2], ["10.88.0.9", 2]]]);
});

t.test("getElement finds map and interval-concatenation elements by key", async (t) => {
  const conn = new FakeNftConnection();
  commitElements(conn, [], podA, []);
  t.same(conn.getElement(SETS.any4, ["tcp", 8080])?.value, ["10.88.0.5", 80]);
  t.equal(conn.getElement(SETS.any4, ["udp", 8080]), undefined);
  t.same(conn.getElement(SETS.hairpin4, ["10.88.0.0/16", "10.88.0.5"])?.key, ["10.88.0.0/16", "10.88.0.5"]);
  t.equal(conn.getElement(SETS.hairpin4, ["10.88.0.0/24", "10.88.0.5"]), undefined, "another prefix is another element");
});
