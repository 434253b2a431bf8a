import {
  drop,
  matchIifname,
  matchNotOifname,
  NftTransaction,
  type Expr,
  type NftChain,
  type NftConnection,
  type NftSet,
  type NftTable,
} from "../nft/index.ts";
import { NFT_REG_1 } from "../nft/constants.ts";

// Isolation between networks (docker's user-defined bridges): traffic forwarded from one isolated
// bridge to another is dropped; inside a bridge and to the outside it flows. Table inet
// tscni-isolation holds the set of isolated bridges and one rule per bridge:
//   iifname "<bridge>" oifname @bridges oifname != "<bridge>" drop

const TABLE: NftTable = { kind: "table", family: "inet", name: "tscni-isolation" };
const BRIDGES: NftSet = { kind: "set", family: "inet", table: TABLE.name, name: "bridges", key: "ifname" };
const FORWARD: NftChain = {
  kind: "chain",
  family: "inet",
  table: TABLE.name,
  name: "forward",
  type: "filter",
  hook: "forward",
  priority: -10, // before the filter tables: a drop anywhere is final
  policy: "accept",
};

const commentFor = (bridge: string): string => `tscni isolation bridge=${bridge}`;

const oifnameInBridges: Expr[] = [
  { type: "meta", key: "oifname", dreg: NFT_REG_1 },
  { type: "lookup", set: BRIDGES.name, sreg: NFT_REG_1 },
];

/** True when `bridge` is already isolated (its rule exists). */
export function isIsolated(conn: NftConnection, bridge: string): boolean {
  return conn.listRules(TABLE.family, TABLE.name, FORWARD.name).some((r) => r.comment === commentFor(bridge));
}

/**
 * Queues what isolates `bridge` from every other isolated bridge (table, set, element, rule).
 * `sameNetwork` names the other isolated interfaces of its own network (an overlay's vxlan device),
 * to which traffic from `bridge` still flows (`oifname != "<each>"` in the rule).
 */
export function queueIsolation(tx: NftTransaction, bridge: string, sameNetwork: string[] = []): void {
  tx.add(TABLE).add(BRIDGES).add(FORWARD);
  tx.add({ kind: "element", set: BRIDGES, key: bridge });
  tx.add({
    kind: "rule",
    family: TABLE.family,
    table: TABLE.name,
    chain: FORWARD.name,
    exprs: [...matchIifname(bridge), ...oifnameInBridges, ...matchNotOifname(bridge), ...sameNetwork.flatMap(matchNotOifname), ...drop()],
    comment: commentFor(bridge),
  });
}
