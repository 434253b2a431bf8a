// The firewall plugin on a host with Docker's `iptables -P FORWARD DROP` (iptables-nft) and on a
// host without iptables: real packets between a container (our bridge plugin) and an outside
// netns routed through the host netns, blocked without the firewall, flowing with it, blocked
// again after its DEL, with nothing of ours left behind.
import t from "tap";
import { inNs, isRoot } from "../helpers/netns.ts";
import { delNetworkList } from "../../lib/runtime/index.ts";
import { firewallLab, OUTSIDE, ping, rulesOf, ruleset } from "../helpers/firewall-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

t.test("FORWARD DROP: the firewall opens the container's traffic, its DEL closes it again", async (t) => {
  const lab = firewallLab(t, { forwardDrop: true });
  const before = ruleset(lab.host);
  const bridgeOnly = lab.network({ n: 1, firewall: false, ipv6: true });
  const a = lab.attach(bridgeOnly);
  t.notOk(ping(a.ctr, OUTSIDE.v4, false), "bridge alone: IPv4 to the outside is dropped by the FORWARD policy");
  t.notOk(ping(a.ctr, OUTSIDE.v6!, false), "and IPv6 by ip6tables' FORWARD policy");

  const add = lab.firewall("ADD", lab.network({ n: 1, ipv6: true }), a);
  t.equal(add.status, 0, add.stdout);
  t.same(add.json, a.result, "the result passes prevResult through");
  t.ok(ping(a.ctr, OUTSIDE.v4), "with the firewall: container → outside (IPv4)");
  t.ok(ping(a.ctr, OUTSIDE.v6), "and IPv6");
  t.notOk(ping(lab.outside, a.v4, false), "outside → container is still dropped: only replies are accepted inbound");

  const owner = `tscni net=tfw-net1 id=${a.rt.containerId} if=eth0`;
  const ipt = inNs(lab.host.name, "iptables", ["-S"]);
  t.match(ipt, /^-A FORWARD -m comment --comment "tscni firewall" -j TSCNI-FORWARD$/m, "iptables -S lists the jump");
  t.match(ipt, /^-A TSCNI-FORWARD -m comment --comment "tscni firewall admin overrides" -j CNI-ADMIN$/m);
  t.match(ipt, new RegExp(`^-A TSCNI-FORWARD -d ${a.v4}/32 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "${owner}" -j ACCEPT$`, "m"));
  t.match(ipt, new RegExp(`^-A TSCNI-FORWARD -s ${a.v4}/32 -m comment --comment "${owner}" -j ACCEPT$`, "m"));
  t.match(inNs(lab.host.name, "ip6tables", ["-S"]), new RegExp(`^-A TSCNI-FORWARD -s ${a.v6}/128 -m comment --comment "${owner}" -j ACCEPT$`, "m"), "ip6tables -S too");
  inNs(lab.host.name, "iptables", ["-A", "FORWARD", "-s", "10.93.250.1", "-j", "DROP"]);
  inNs(lab.host.name, "iptables", ["-D", "FORWARD", "-s", "10.93.250.1", "-j", "DROP"]);
  t.pass("iptables can still change the table");
  t.notOk(ruleset(lab.host).tables.includes("inet tscni-firewall"), "no table of our own is needed");

  const del = lab.firewall("DEL", lab.network({ n: 1, ipv6: true }), a);
  t.equal(del.status, 0, del.stdout);
  t.notOk(ping(a.ctr, OUTSIDE.v4, false), "after DEL: dropped again");
  t.same(rulesOf(lab.host, a.v4), [], "no rule of ours is left");
  t.same(ruleset(lab.host), before, "the host's ruleset is as before the ADD");
  t.equal(lab.firewall("DEL", lab.network({ n: 1, ipv6: true }), a).status, 0, "DEL again");
  delNetworkList(lab.runtime, bridgeOnly, a.rt);
});

t.test("chained by the runtime: bridge → firewall; two containers share the chains; the last DEL removes them", async (t) => {
  const lab = firewallLab(t, { forwardDrop: true });
  const before = ruleset(lab.host);
  const list = lab.network({ n: 2 });
  const a = lab.attach(list);
  const b = lab.attach(list);
  t.ok(ping(a.ctr, OUTSIDE.v4), "a → outside");
  t.ok(ping(b.ctr, OUTSIDE.v4), "b → outside");
  t.ok(ping(a.ctr, b.v4), "a → b on the same bridge");
  t.equal(rulesOf(lab.host).filter((r) => r.chain === "FORWARD").length, 1, "one jump in FORWARD for both");
  delNetworkList(lab.runtime, list, a.rt);
  t.same(rulesOf(lab.host, a.v4).filter((r) => JSON.stringify(r.expr).includes(a.v4)), [], "a's accepts are gone");
  t.ok(ping(b.ctr, OUTSIDE.v4), "b still reaches the outside");
  delNetworkList(lab.runtime, list, b.rt);
  t.same(rulesOf(lab.host), [], "nothing of ours is left");
  t.same(ruleset(lab.host), before, "the host's ruleset is as before");
});

t.test("a host without iptables-nft: the accepts in our own table, nothing added to iptables tables", async (t) => {
  const lab = firewallLab(t, { forwardDrop: false });
  const list = lab.network({ n: 3, ipv6: true });
  const a = lab.attach(list);
  t.ok(ping(a.ctr, OUTSIDE.v4), "container → outside");
  const rs = ruleset(lab.host);
  t.same(rs.tables, ["inet tscni-firewall"], "only our table");
  t.same(
    rs.rules.map((r) => `${r.chain} ${r.comment}`),
    Array(4).fill(`forward tscni net=tfw-net3 id=${a.rt.containerId} if=eth0`),
    "two accepts per address",
  );
  delNetworkList(lab.runtime, list, a.rt);
  t.same(ruleset(lab.host).tables, [], "DEL removed our table with its last rule");
});

t.test("ADD is all or nothing", async (t) => {
  const lab = firewallLab(t, { forwardDrop: true });
  // A base chain cannot be jumped to: the admin jump fails in the kernel, after the chains and the
  // FORWARD jump were queued in the same transaction.
  inNs(lab.host.name, "nft", ["add chain ip filter TFW-BASE { type filter hook forward priority 5; }"]);
  const before = ruleset(lab.host);
  const a = lab.attach(lab.network({ n: 4, firewall: false }));
  const add = lab.firewall("ADD", lab.network({ n: 4, firewall: { iptablesAdminChainName: "TFW-BASE" } }), a);
  t.not(add.status, 0, "ADD fails");
  t.match(add.json?.msg, /TFW-BASE/, "naming what failed");
  t.same(ruleset(lab.host), before, "nothing of it was applied");
  t.notOk(ping(a.ctr, OUTSIDE.v4, false), "the container stays blocked");
});
