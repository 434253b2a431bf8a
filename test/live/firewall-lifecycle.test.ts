// CHECK and GC of the firewall plugin in a throw-away host netns: CHECK passes after ADD and
// fails, naming what is missing, once a rule, the FORWARD jump or a bridge's set element is
// deleted by hand; DEL still cleans up; GC removes exactly the rules of the attachments that are
// not valid (of its own network) and the host ends as it began.
import t, { type Test } from "tap";
import { inNs, isRoot } from "../helpers/netns.ts";
import { checkNetworkList, delNetworkList, gcNetworkList, PluginError } from "../../lib/runtime/index.ts";
import { firewallLab, OUTSIDE, ping, rulesOf, ruleset, type Netns } from "../helpers/firewall-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

/** Deletes the rules `pick` selects from `nft -a list ruleset` of the host, as an admin would by hand. */
function deleteByHand(host: Netns, pick: (r: ReturnType<typeof rulesOf>[number]) => boolean): number {
  const victims = ruleset(host).rules.filter(pick);
  for (const r of victims) inNs(host.name, "nft", ["delete", "rule", r.family, r.table, r.chain, "handle", String(r.handle)]);
  return victims.length;
}

function checkFails(t: Test, fn: () => void, details: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: CHECK succeeded`);
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    t.equal(e.code, 7, `${what}: CHECK fails with code 7`);
    t.match(e.details, details, `${what}: it names what is missing`);
  }
}

t.test("CHECK passes after ADD and fails after a rule is deleted by hand", async (t) => {
  const lab = firewallLab(t, { forwardDrop: true });
  const before = ruleset(lab.host);
  const list = lab.network({ n: 1, firewall: { ingressPolicy: "same-bridge" } });
  const a = lab.attach(list);
  checkNetworkList(lab.runtime, list, a.rt);
  t.pass("CHECK right after ADD");

  t.equal(deleteByHand(lab.host, (r) => r.chain === "TSCNI-FORWARD" && JSON.stringify(r.expr).includes('"saddr"')), 1);
  checkFails(t, () => checkNetworkList(lab.runtime, list, a.rt), new RegExp(`the accept of traffic from ${a.v4} in ip filter TSCNI-FORWARD`), "accept deleted");
  t.notOk(ping(a.ctr, OUTSIDE.v4, false), "and the container is indeed cut off");

  t.equal(deleteByHand(lab.host, (r) => r.chain === "FORWARD" && r.comment === "tscni firewall"), 1);
  checkFails(t, () => checkNetworkList(lab.runtime, list, a.rt), /the jump from ip filter FORWARD to TSCNI-FORWARD/, "FORWARD jump deleted");

  inNs(lab.host.name, "nft", ["delete", "element", "inet", "tscni-firewall", "isolated-bridges", "{ tfw-br1 }"]);
  checkFails(t, () => checkNetworkList(lab.runtime, list, a.rt), /bridge "tfw-br1" in set isolated-bridges/, "set element deleted");

  delNetworkList(lab.runtime, list, a.rt);
  t.same(rulesOf(lab.host, a.v4), [], "DEL removes what is left");
  t.same(ruleset(lab.host), before, "and the host's ruleset is as before");
});

t.test("after iptables-save | iptables-restore (comments become comment matches) CHECK and DEL still find the rules", async (t) => {
  const lab = firewallLab(t, { forwardDrop: true });
  const list = lab.network({ n: 1, ipv6: true });
  const a = lab.attach(list);
  for (const tool of ["iptables", "ip6tables"]) inNs(lab.host.name, "sh", ["-c", `${tool}-save > /tmp/${lab.host.name}.${tool} && ${tool}-restore < /tmp/${lab.host.name}.${tool} && rm /tmp/${lab.host.name}.${tool}`]);
  t.same(rulesOf(lab.host), [], "no userdata comment is left");
  t.ok(ping(a.ctr, OUTSIDE.v4), "the restored rules still accept the container's traffic");
  checkNetworkList(lab.runtime, list, a.rt);
  t.pass("CHECK passes");
  delNetworkList(lab.runtime, list, a.rt);
  const left = inNs(lab.host.name, "iptables-save", []) + inNs(lab.host.name, "ip6tables-save", []);
  t.notMatch(left, /tscni|TSCNI-FORWARD|CNI-ADMIN/, "DEL removed the rules, the chains and the jumps");
});

t.test("GC removes the rules of attachments that are not valid, of its own network only", async (t) => {
  const lab = firewallLab(t, { forwardDrop: true });
  const before = ruleset(lab.host);
  const list = lab.network({ n: 1 });
  const other = lab.network({ n: 2 });
  const [a, b, c] = [lab.attach(list), lab.attach(list), lab.attach(list)];
  const d = lab.attach(other);

  const gc = lab.firewall("GC", list, a, { "cni.dev/valid-attachments": [{ containerID: a.rt.containerId, ifname: "eth0" }] });
  t.equal(gc.status, 0, gc.stdout);
  const owners = new Set(rulesOf(lab.host).map((r) => r.comment));
  t.ok(owners.has(`tscni net=tfw-net1 id=${a.rt.containerId} if=eth0`), "the valid attachment keeps its rules");
  t.notOk(owners.has(`tscni net=tfw-net1 id=${b.rt.containerId} if=eth0`), "b's are gone");
  t.notOk(owners.has(`tscni net=tfw-net1 id=${c.rt.containerId} if=eth0`), "c's are gone");
  t.ok(owners.has(`tscni net=tfw-net2 id=${d.rt.containerId} if=eth0`), "another network's attachment is not touched");
  t.ok(ping(a.ctr, OUTSIDE.v4), "a still reaches the outside");
  t.notOk(ping(b.ctr, OUTSIDE.v4, false), "b no longer does");
  t.ok(ping(d.ctr, OUTSIDE.v4), "nor is d cut off");

  gcNetworkList(lab.runtime, list, []);
  gcNetworkList(lab.runtime, other, []);
  t.same(rulesOf(lab.host), [], "GC with no valid attachment: nothing of ours is left");
  t.same(ruleset(lab.host), before, "the host's ruleset is as before");
});
