import { NFT_REG_1 } from "../../lib/nft/constants.ts";
import { drop, matchNotIifname, matchOifname, type NftConnection, type NftRule, type NftTransaction } from "../../lib/nft/index.ts";
import { ISOLATED, ISOLATION, OWN_TABLE } from "./places.ts";

// ingressPolicy same-bridge (the reference's CNI-ISOLATION-STAGE-1/2): traffic forwarded into a
// container's bridge from another isolated bridge is dropped; inside the bridge and from or to the
// outside it flows. In our own table, since a drop in any table is final. One rule per container,
// so DEL removes exactly its own; the set holds the bridges that have such a rule:
//   oifname "<bridge>" iifname != "<bridge>" iifname @isolated-bridges drop

/** The isolation rule of a container on `bridge`. */
export function isolationRule(bridge: string, comment: string): NftRule {
  const exprs = [
    ...matchOifname(bridge),
    ...matchNotIifname(bridge),
    { type: "meta" as const, key: "iifname" as const, dreg: NFT_REG_1 },
    { type: "lookup" as const, set: ISOLATED.name, sreg: NFT_REG_1 },
    ...drop(),
  ];
  return { kind: "rule", family: ISOLATION.family, table: ISOLATION.table, chain: ISOLATION.name, exprs, comment };
}

/** The bridge an isolation rule protects (its `oifname`). */
export function bridgeOf(rule: NftRule): string | undefined {
  const [load, cmp] = rule.exprs;
  if (load?.type !== "meta" || load.key !== "oifname" || cmp?.type !== "cmp") return undefined;
  const nul = cmp.data.indexOf(0);
  return cmp.data.toString("latin1", 0, nul < 0 ? cmp.data.length : nul);
}

/** Queues table, set, chain, the bridge's element and the container's rule. */
export function queueIsolation(tx: NftTransaction, bridge: string, comment: string): void {
  tx.add(OWN_TABLE).add(ISOLATED).add(ISOLATION);
  tx.add({ kind: "element", set: ISOLATED, key: bridge });
  tx.add(isolationRule(bridge, comment));
}

/** Queues the removal of the set elements of `bridges` that no rule in `remaining` still needs. */
export function queueReleasedBridges(tx: NftTransaction, conn: NftConnection, bridges: Iterable<string>, remaining: NftRule[]): void {
  const present = new Set(conn.listElements(ISOLATED).map((e) => String(e.key)));
  const needed = new Set(remaining.map(bridgeOf));
  for (const bridge of new Set(bridges)) {
    if (present.has(bridge) && !needed.has(bridge)) tx.delete({ kind: "element", set: ISOLATED, key: bridge });
  }
}
