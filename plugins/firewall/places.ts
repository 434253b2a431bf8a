import { bitsOf, type IpAddress } from "../../lib/ip/address.ts";
import {
  accept,
  counter,
  matchCtStateEstablishedRelated,
  matchDaddr,
  matchNfproto,
  matchSaddr,
  type Expr,
  type NftChain,
  type NftChainRef,
  type NftConnection,
  type NftRule,
  type NftSet,
  type NftTable,
} from "../../lib/nft/index.ts";
import { xtCtStateEstablishedRelated } from "./xtables.ts";

// Where the firewall's rules live. Every base chain at the forward hook sees a packet and a drop
// in any of them is final, so an accept only helps in the table that would drop: with iptables-nft
// (Docker's `iptables -P FORWARD DROP`) that is `ip filter` / `ip6 filter`, whose FORWARD jumps to
// our chain TSCNI-FORWARD; on a host without it, our own table's forward chain.

/** Our chain in the iptables-nft `filter` tables (what the reference calls CNI-FORWARD). */
export const IPT_CHAIN = "TSCNI-FORWARD";
export const IPT_TABLE = "filter";
export const IPT_FORWARD = "FORWARD";

export const OWN_TABLE: NftTable = { kind: "table", family: "inet", name: "tscni-firewall" };
export const OWN_FORWARD: NftChain = { kind: "chain", family: "inet", table: OWN_TABLE.name, name: "forward", type: "filter", hook: "forward", priority: 0, policy: "accept" };
/** Drops between isolated bridges; before the filter tables, though a drop anywhere is final. */
export const ISOLATION: NftChain = { kind: "chain", family: "inet", table: OWN_TABLE.name, name: "isolation", type: "filter", hook: "forward", priority: -10, policy: "accept" };
/** Bridges with at least one same-bridge container. */
export const ISOLATED: NftSet = { kind: "set", family: "inet", table: OWN_TABLE.name, name: "isolated-bridges", key: "ifname" };

export type IptFamily = "ip" | "ip6";
export const iptFamilyOf = (a: IpAddress): IptFamily => (a.family === 4 ? "ip" : "ip6");

export const chainRef = (family: NftChainRef["family"], table: string, name: string): NftChainRef => ({ kind: "chain", family, table, name });

export const OWN_ACCEPTS = chainRef("inet", OWN_TABLE.name, OWN_FORWARD.name);
export const OWN_ISOLATION = chainRef("inet", OWN_TABLE.name, ISOLATION.name);

/** Every chain that may hold per-container rules (DEL and GC look in all of them). */
export const OWNED_RULE_CHAINS: readonly NftChainRef[] = [chainRef("ip", IPT_TABLE, IPT_CHAIN), chainRef("ip6", IPT_TABLE, IPT_CHAIN), OWN_ACCEPTS, OWN_ISOLATION];

export const sameChain = (a: NftChainRef, b: NftChainRef): boolean => a.family === b.family && a.table === b.table && a.name === b.name;

/** True when iptables-nft's `filter` table of `family` has its FORWARD base chain. */
export function hasIptablesForward(conn: NftConnection, family: IptFamily): boolean {
  return conn.listChains(family, IPT_TABLE).some((c) => c.name === IPT_FORWARD && c.hook === "forward");
}

/**
 * The two accepts of one container address, in the reference's order:
 *   iptables-nft: -d <ip> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT ; -s <ip> -j ACCEPT
 *   own table:    ip daddr <ip> ct state established,related accept ; ip saddr <ip> accept
 * with a counter, as iptables writes one in every rule.
 */
export function acceptRules(chain: NftChainRef, address: IpAddress, comment: string): NftRule[] {
  const host = { address, prefixLength: bitsOf(address.family) };
  const iptables = chain.table === IPT_TABLE;
  const l3: Expr[] = iptables ? [] : matchNfproto(address.family);
  const established = iptables ? xtCtStateEstablishedRelated() : matchCtStateEstablishedRelated();
  const rule = (exprs: Expr[]): NftRule => ({ kind: "rule", family: chain.family, table: chain.table, chain: chain.name, exprs, comment });
  return [rule([...l3, ...matchDaddr(host), ...established, ...counter(), ...accept()]), rule([...l3, ...matchSaddr(host), ...counter(), ...accept()])];
}

/** The chain holding the accepts of each family in use: TSCNI-FORWARD under iptables-nft, else ours. */
export function acceptChains(conn: NftConnection, addresses: IpAddress[]): Map<IptFamily, NftChainRef> {
  const out = new Map<IptFamily, NftChainRef>();
  for (const a of addresses) {
    const family = iptFamilyOf(a);
    if (!out.has(family)) out.set(family, hasIptablesForward(conn, family) ? chainRef(family, IPT_TABLE, IPT_CHAIN) : OWN_ACCEPTS);
  }
  return out;
}
