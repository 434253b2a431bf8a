// The firewall's rule logic against the in-memory nftables (lib/nft FakeNftConnection): where the
// accepts go (iptables-nft's filter tables or our own), what ADD adds, that a repeated ADD
// replaces, that DEL/GC remove exactly their own rules and tidy up what is left empty, the
// isolated-bridge set's reference counting, and what CHECK reports.
import t from "tap";
import { parseIp } from "../../lib/ip/address.ts";
import { FakeNftConnection } from "../../lib/nft/fake.ts";
import { counter, drop, jump, NftTransaction, type NftChain, type RuleOwner } from "../../lib/nft/index.ts";
import { missingRules } from "../../plugins/firewall/check.ts";
import type { FirewallAttachment } from "../../plugins/firewall/config.ts";
import { addRules, removeRules, tidy } from "../../plugins/firewall/ruleset.ts";

const FORWARD: NftChain = { kind: "chain", family: "ip", table: "filter", name: "FORWARD", type: "filter", hook: "forward", priority: 0, policy: "drop" };

/** A host where Docker ran `iptables -P FORWARD DROP` and `-A FORWARD -j DOCKER-USER` (IPv4 only). */
function dockerHost(): FakeNftConnection {
  const conn = new FakeNftConnection();
  conn.commit(
    new NftTransaction()
      .add({ kind: "table", family: "ip", name: "filter" })
      .add(FORWARD)
      .add({ kind: "chain", family: "ip", table: "filter", name: "DOCKER-USER" })
      .add({ kind: "rule", family: "ip", table: "filter", chain: "FORWARD", exprs: [...counter(), ...jump("DOCKER-USER")] }),
  );
  return conn;
}

const DOCKER_ONLY = `table ip filter {
\tchain FORWARD {
\t\ttype filter hook forward priority 0; policy drop;
\t\tcounter packets 0 bytes 0 jump DOCKER-USER
\t}

\tchain DOCKER-USER {
\t}
}`;

const owner = (id: string, net = "net1"): RuleOwner => ({ net, id, ifname: "eth0" });
const att = (addresses: string[], bridge?: string): FirewallAttachment => ({ addresses: addresses.map(parseIp), bridge });
const all = () => true;
const noLog = () => {};
const comment = (id: string, net = "net1") => `comment "tscni net=${net} id=${id} if=eth0"`;

t.test("under iptables-nft: a jump at the top of FORWARD, the accepts in TSCNI-FORWARD; IPv6 in our own table", async (t) => {
  const conn = dockerHost();
  addRules(conn, owner("a"), att(["10.88.0.5", "fd00:88::5"]), "CNI-ADMIN");
  t.equal(
    conn.dump(),
    `table ip filter {
\tchain FORWARD {
\t\ttype filter hook forward priority 0; policy drop;
\t\tcounter packets 0 bytes 0 jump TSCNI-FORWARD comment "tscni firewall"
\t\tcounter packets 0 bytes 0 jump DOCKER-USER
\t}

\tchain DOCKER-USER {
\t}

\tchain CNI-ADMIN {
\t}

\tchain TSCNI-FORWARD {
\t\tcounter packets 0 bytes 0 jump CNI-ADMIN comment "tscni firewall admin overrides"
\t\tip daddr 10.88.0.5 # match counter packets 0 bytes 0 accept ${comment("a")}
\t\tip saddr 10.88.0.5 counter packets 0 bytes 0 accept ${comment("a")}
\t}
}
table inet tscni-firewall {
\tchain forward {
\t\ttype filter hook forward priority 0; policy accept;
\t\tmeta nfproto ipv6 ip6 daddr fd00:88::5 ct state established,related counter packets 0 bytes 0 accept ${comment("a")}
\t\tmeta nfproto ipv6 ip6 saddr fd00:88::5 counter packets 0 bytes 0 accept ${comment("a")}
\t}
}`,
  );
  const tsForward = conn.listRules("ip", "filter", "TSCNI-FORWARD");
  t.same(
    tsForward.map((r) => r.exprs.map((x) => x.type)),
    [["counter", "verdict"], ["payload", "cmp", "unknown", "counter", "verdict"], ["payload", "cmp", "counter", "verdict"]],
    "only expressions iptables-nft writes: payload, cmp, its conntrack match, counter, verdict",
  );
  t.same(missingRules(conn, owner("a"), att(["10.88.0.5", "fd00:88::5"]), "CNI-ADMIN"), [], "CHECK finds everything");
});

t.test("a repeated ADD replaces the attachment's rules; a second container shares the chains", async (t) => {
  const conn = dockerHost();
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  t.equal(conn.listRules("ip", "filter", "TSCNI-FORWARD").length, 3, "admin jump + 2 accepts, no duplicates");
  t.equal(conn.listRules("ip", "filter", "FORWARD").length, 2, "one jump to TSCNI-FORWARD");
  addRules(conn, owner("b"), att(["10.88.0.6"]), "CNI-ADMIN");
  t.equal(conn.listRules("ip", "filter", "TSCNI-FORWARD").length, 5, "appended");
  t.equal(conn.listRules("ip", "filter", "FORWARD").length, 2, "still one jump");
  t.equal(conn.lastTransaction?.length, 4, "the second container's ADD: ensure two chains, two rules; nothing rewritten");
});

t.test("DEL removes exactly its own rules; the last one leaves the host as it was", async (t) => {
  const conn = dockerHost();
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  addRules(conn, owner("b"), att(["10.88.0.6"]), "CNI-ADMIN");
  t.equal(removeRules(conn, (o) => o.id === "a"), 2);
  tidy(conn, noLog);
  t.notMatch(conn.dump(), /10\.88\.0\.5/, "a's accepts are gone");
  t.match(conn.dump(), /ip saddr 10\.88\.0\.6/, "b's stay");
  t.match(conn.dump(), /jump TSCNI-FORWARD/, "the jump stays while b needs it");
  t.equal(removeRules(conn, (o) => o.id === "a"), 0, "a repeated DEL finds nothing");
  t.equal(removeRules(conn, (o) => o.id === "b"), 2);
  tidy(conn, noLog);
  t.equal(conn.dump(), DOCKER_ONLY, "FORWARD, TSCNI-FORWARD and the empty admin chain as before the first ADD");
});

t.test("tidying keeps what is not ours alone", async (t) => {
  const conn = dockerHost();
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  conn.commit(new NftTransaction().add({ kind: "rule", family: "ip", table: "filter", chain: "CNI-ADMIN", exprs: [...counter(), ...drop()] }));
  removeRules(conn, all);
  tidy(conn, noLog);
  t.match(conn.dump(), /chain CNI-ADMIN \{\n\t\tcounter packets 0 bytes 0 drop\n/, "an admin chain with the user's rules stays");
  t.notMatch(conn.dump(), /TSCNI-FORWARD/, "our chain and the jump go");

  const foreign = dockerHost();
  addRules(foreign, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  foreign.commit(new NftTransaction().add({ kind: "rule", family: "ip", table: "filter", chain: "TSCNI-FORWARD", exprs: [...counter()] }));
  removeRules(foreign, all);
  tidy(foreign, noLog);
  t.match(foreign.dump(), /chain TSCNI-FORWARD/, "a rule someone else put in TSCNI-FORWARD keeps it (and the jump)");
});

t.test("without iptables-nft's FORWARD: everything in our table, nothing in iptables tables", async (t) => {
  const conn = new FakeNftConnection();
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  t.same(conn.listTables().map((x) => `${x.family} ${x.name}`), ["inet tscni-firewall"]);
  t.match(conn.dump(), /meta nfproto ipv4 ip daddr 10\.88\.0\.5 ct state established,related counter/);
  t.same(missingRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN"), []);
  removeRules(conn, all);
  tidy(conn, noLog);
  t.equal(conn.dump(), "", "the table goes with the last rule");
});

t.test("same-bridge: one rule per container; the bridge leaves the set with its last one", async (t) => {
  const conn = new FakeNftConnection();
  addRules(conn, owner("a1"), att(["10.88.0.5"], "br-a"), "CNI-ADMIN");
  addRules(conn, owner("a2"), att(["10.88.0.6"], "br-a"), "CNI-ADMIN");
  addRules(conn, owner("b1", "net2"), att(["10.89.0.5"], "br-b"), "CNI-ADMIN");
  const elements = () => conn.listElements({ kind: "set", family: "inet", table: "tscni-firewall", name: "isolated-bridges" }).map((e) => e.key);
  t.same(elements(), ["br-a", "br-b"]);
  t.match(conn.dump(), new RegExp(`oifname "br-a" iifname != "br-a" iifname @isolated-bridges drop ${comment("a1")}`));
  removeRules(conn, (o) => o.id === "a1");
  t.same(elements(), ["br-a", "br-b"], "a2 still isolates br-a");
  t.same(missingRules(conn, owner("a2"), att(["10.88.0.6"], "br-a"), "CNI-ADMIN"), []);
  removeRules(conn, (o) => o.id === "a2");
  t.same(elements(), ["br-b"], "br-a is no longer isolated");
  removeRules(conn, (o) => o.id === "b1");
  tidy(conn, noLog);
  t.equal(conn.dump(), "");
});

t.test("GC removes the rules of this network's attachments that are not valid", async (t) => {
  const conn = dockerHost();
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  addRules(conn, owner("b"), att(["10.88.0.6"]), "CNI-ADMIN");
  addRules(conn, owner("c", "other"), att(["10.90.0.5"]), "CNI-ADMIN");
  const valid = new Set(["a/eth0"]);
  t.equal(removeRules(conn, (o) => o.net === "net1" && !valid.has(`${o.id}/${o.ifname}`)), 2);
  const text = conn.dump();
  t.match(text, /10\.88\.0\.5/, "the valid attachment keeps its rules");
  t.notMatch(text, /10\.88\.0\.6/, "the stale one loses them");
  t.match(text, /10\.90\.0\.5/, "another network's rules are not this GC's business");
});

t.test("rules whose comments iptables-restore turned into comment matches are still found", async (t) => {
  const conn = dockerHost();
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  // What `iptables-save | iptables-restore` does: every comment becomes `-m comment`.
  const restore = new NftTransaction();
  for (const r of conn.listRules("ip", "filter")) {
    if (!r.comment) continue;
    const text = Buffer.alloc(256);
    text.write(r.comment);
    const match = { type: "unknown" as const, name: "match", data: Buffer.concat([Buffer.from("0c000100636f6d6d656e7400080002000000000004010300", "hex"), text]) };
    const { comment: _comment, handle: _handle, ...rest } = r;
    restore.delete(r).add({ ...rest, exprs: [...r.exprs.slice(0, -2), match, ...r.exprs.slice(-2)] });
  }
  conn.commit(restore);
  t.equal(conn.listRules("ip", "filter").filter((r) => r.comment).length, 0, "no userdata comment left");
  t.same(missingRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN"), [], "CHECK still finds everything");
  addRules(conn, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  t.equal(conn.listRules("ip", "filter", "TSCNI-FORWARD").length, 3, "a repeated ADD still replaces them");
  t.equal(removeRules(conn, all), 2, "DEL finds them");
  tidy(conn, noLog);
  t.equal(conn.dump(), DOCKER_ONLY, "and the chains and jumps go");
});

t.test("CHECK names what is missing", async (t) => {
  const conn = dockerHost();
  const a = att(["10.88.0.5"], "br-a");
  addRules(conn, owner("a"), a, "CNI-ADMIN");
  const saddr = conn.listRules("ip", "filter", "TSCNI-FORWARD").find((r) => r.exprs.some((x) => x.type === "payload" && x.offset === 12)); // ip saddr
  conn.commit(new NftTransaction().delete(saddr!));
  t.same(missingRules(conn, owner("a"), a, "CNI-ADMIN"), ["the accept of traffic from 10.88.0.5 in ip filter TSCNI-FORWARD"]);
  conn.commit(new NftTransaction().delete(conn.listRules("ip", "filter", "FORWARD")[0]!));
  t.match(missingRules(conn, owner("a"), a, "CNI-ADMIN"), ["the jump from ip filter FORWARD to TSCNI-FORWARD", /accept of traffic from/]);
  t.same(missingRules(conn, owner("a"), a, "OTHER-ADMIN").slice(0, 2), ["chain ip filter OTHER-ADMIN", "the jump from ip filter FORWARD to TSCNI-FORWARD"]);
  conn.commit(new NftTransaction().delete(conn.listRules("inet", "tscni-firewall", "isolation")[0]!));
  t.match(missingRules(conn, owner("a"), a, "CNI-ADMIN"), [/./, /./, 'the isolation rule of bridge "br-a"']);

  const later = new FakeNftConnection();
  addRules(later, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN");
  later.commit(new NftTransaction().add({ kind: "table", family: "ip", name: "filter" }).add(FORWARD));
  t.match(missingRules(later, owner("a"), att(["10.88.0.5"]), "CNI-ADMIN"), [/chain ip filter TSCNI-FORWARD/, /replies to 10\.88\.0\.5 in ip filter TSCNI-FORWARD/, /traffic from/], "Docker started after ADD: the accepts no longer help, CHECK says so");
});
