// ingressPolicy same-bridge with real packets: containers of two isolated bridge networks cannot
// reach each other but reach the outside and their own bridge's containers; a bridge network
// without the policy is not cut off; the isolation of a bridge ends with its last container.
import t from "tap";
import { inNs, isRoot } from "../helpers/netns.ts";
import { delNetworkList } from "../../lib/runtime/index.ts";
import { firewallLab, OUTSIDE, ping, ruleset, type Netns } from "../helpers/firewall-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

/** The elements of our set of isolated bridges (`nft -j list sets` in the host). */
function isolatedBridges(host: Netns): string[] {
  const out = JSON.parse(inNs(host.name, "nft", ["-j", "list", "sets"])) as { nftables: Array<{ set?: { name: string; elem?: string[] } }> };
  return out.nftables.find((i) => i.set?.name === "isolated-bridges")?.set?.elem ?? [];
}

for (const forwardDrop of [true, false]) {
  t.test(`same-bridge ${forwardDrop ? "under FORWARD DROP (iptables-nft)" : "on a host without iptables"}`, async (t) => {
    const lab = firewallLab(t, { forwardDrop });
    const netA = lab.network({ n: 1, firewall: { ingressPolicy: "same-bridge" } });
    const netB = lab.network({ n: 2, firewall: { ingressPolicy: "same-bridge" } });
    const netOpen = lab.network({ n: 3 });
    const a1 = lab.attach(netA);
    const a2 = lab.attach(netA);
    const b1 = lab.attach(netB);
    const o1 = lab.attach(netOpen);

    t.ok(ping(a1.ctr, a2.v4), "a1 → a2: the same bridge");
    t.notOk(ping(a1.ctr, b1.v4, false), "a1 → b1: isolated bridges");
    t.notOk(ping(b1.ctr, a1.v4, false), "b1 → a1");
    t.ok(ping(a1.ctr, OUTSIDE.v4), "a1 → outside");
    t.ok(ping(b1.ctr, OUTSIDE.v4), "b1 → outside");
    t.ok(ping(o1.ctr, b1.v4), "a bridge without the policy is not isolated (as in the reference)");
    t.same(isolatedBridges(lab.host).sort(), ["tfw-br1", "tfw-br2"]);

    delNetworkList(lab.runtime, netA, a1.rt);
    t.notOk(ping(a2.ctr, b1.v4, false), "a2 → b1: br1 stays isolated while a2 is on it");
    delNetworkList(lab.runtime, netA, a2.rt);
    t.same(isolatedBridges(lab.host), ["tfw-br2"], "br1 left the set with its last container");
    const a3 = lab.attach(lab.network({ n: 1 }));
    t.ok(ping(a3.ctr, b1.v4), "a container of br1 with the open policy now reaches b1");

    for (const [list, a] of [[netB, b1], [netOpen, o1], [lab.network({ n: 1 }), a3]] as const) delNetworkList(lab.runtime, list, a.rt);
    t.same(
      ruleset(lab.host).tables.filter((x) => x === "inet tscni-firewall"),
      [],
      "our table is gone with the last container",
    );
  });
}
