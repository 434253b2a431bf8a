import { networkOf, type IpPrefix } from "../ip/address.ts";
import {
  isOwnedBy,
  masquerade,
  matchNfproto,
  matchNotDaddr,
  matchNotOifname,
  matchSaddr,
  NftTransaction,
  ownerComment,
  type Expr,
  type NftChain,
  type NftConnection,
  type NftRule,
  type NftTable,
  type RuleOwner,
} from "../nft/index.ts";

// Source NAT for containers (`ipMasq`): table inet tscni-masq, one postrouting rule per container
// address, tagged with its owner so DEL and GC find exactly their own rules without the netns.

const TABLE: NftTable = { kind: "table", family: "inet", name: "tscni-masq" };
const POSTROUTING: NftChain = {
  kind: "chain",
  family: "inet",
  table: TABLE.name,
  name: "postrouting",
  type: "nat",
  hook: "postrouting",
  priority: 100, // srcnat
  policy: "accept",
};

const MULTICAST = { 4: "224.0.0.0/4", 6: "ff00::/8" } as const;

/**
 * `ip saddr <ip> ip daddr != <subnet> ip daddr != 224.0.0.0/4 [oifname != "<if>" ...] masquerade
 * comment "<owner>"` for each container address (`address/prefix` as IPAM gave it). Traffic
 * leaving by one of `exceptOifnames` (an overlay's own devices) keeps its source address.
 */
export function queueMasquerade(tx: NftTransaction, owner: RuleOwner, addresses: IpPrefix[], { exceptOifnames = [] }: { exceptOifnames?: string[] } = {}): void {
  tx.add(TABLE).add(POSTROUTING);
  const keepSource: Expr[] = [];
  for (const name of exceptOifnames) keepSource.push(...matchNotOifname(name));
  for (const a of addresses) {
    const family = a.address.family;
    const subnet = { address: networkOf(a), prefixLength: a.prefixLength };
    const exprs = [
      ...matchNfproto(family),
      ...matchSaddr({ address: a.address, prefixLength: family === 4 ? 32 : 128 }),
      ...(a.prefixLength > 0 ? matchNotDaddr(subnet) : []),
      ...matchNotDaddr(MULTICAST[family]),
      ...keepSource,
      ...masquerade(),
    ];
    tx.add({ kind: "rule", family: "inet", table: TABLE.name, chain: POSTROUTING.name, exprs, comment: ownerComment(owner) });
  }
}

/** The masquerade rules of `owner` (all fields given: one attachment; `net` only: a network). */
export function listMasqueradeRules(conn: NftConnection, owner: Partial<RuleOwner>): NftRule[] {
  return conn.listRules(TABLE.family, TABLE.name, POSTROUTING.name).filter((r) => isOwnedBy(r, owner));
}
