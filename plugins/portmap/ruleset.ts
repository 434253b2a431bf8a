import type { Expr } from "../../lib/nft/expr/index.ts";
import {
  accept,
  dnatViaMap,
  dnatViaPortMap,
  jump,
  masquerade,
  matchAddressPairIn,
  matchCtStatusDnat,
  matchFibDaddrLocal,
  matchNfproto,
  returnVerdict,
} from "../../lib/nft/intents.ts";
import type { NftTransaction } from "../../lib/nft/transaction.ts";
import type { NftChain, NftSet } from "../../lib/nft/types.ts";
import { NFT_REG_1, NFT_REG_VERDICT } from "../../lib/nft/constants.ts";
import type { Conditions } from "./conditions.ts";

// The portmap ruleset: one inet table of ours, a few chains and rules created once, and maps whose
// elements are the mappings. Per pod only elements are added and removed, so an ADD or DEL costs
// the same whatever the number of pods.
//
//   table inet tscni-portmap {
//     map hostip4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }
//     map any4 { type inet_proto . inet_service : ipv4_addr . inet_service }
//     map hostip6, any6 (the same with ipv6_addr)
//     map guard-hostip4, guard-any4, guard-hostip6, guard-any6 { same keys : verdict }
//     set hairpin4 { type ipv4_addr . ipv4_addr; flags interval }   (source prefix . container)
//     set hairpin6 { type ipv6_addr . ipv6_addr; flags interval }
//     chain prerouting { type nat hook prerouting priority dstnat; fib daddr type local jump hostports }
//     chain output { type nat hook output priority dstnat; fib daddr type local jump hostports }
//     chain hostports {
//       meta nfproto ipv4 ip daddr . meta l4proto . th dport vmap @guard-hostip4
//       meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @hostip4
//       meta nfproto ipv4 meta l4proto . th dport vmap @guard-any4
//       meta nfproto ipv4 dnat ip to meta l4proto . th dport map @any4
//       (the same four for ipv6)
//     }
//     chain postrouting { type nat hook postrouting priority srcnat;
//       meta nfproto ipv4 ct status dnat ip saddr . ip daddr @hairpin4 masquerade
//       meta nfproto ipv6 ct status dnat ip6 saddr . ip6 daddr @hairpin6 masquerade
//     }
//     chain cond4-<hash> { <conditions> return; accept }   (one per distinct condition list)
//   }
//
// A mapping on a host address is looked up before the any-address ones, so it takes precedence.
// The guard maps hold an element (→ jump cond…) only for mappings of networks with conditions: a
// packet that fails them is accepted un-NATed.

export const TABLE = { kind: "table", family: "inet", name: "tscni-portmap" } as const;
const T = { family: "inet", table: TABLE.name } as const;

export type SetName = "hostip4" | "any4" | "hostip6" | "any6" | "guard-hostip4" | "guard-any4" | "guard-hostip6" | "guard-any6" | "hairpin4" | "hairpin6";

const addr = (f: 4 | 6) => (f === 4 ? "ipv4_addr" : "ipv6_addr") as "ipv4_addr" | "ipv6_addr";
const hostipKey = (f: 4 | 6) => [addr(f), "inet_proto" as const, "inet_service" as const];
const anyKey = ["inet_proto", "inet_service"] as NftSet["key"];
const target = (f: 4 | 6) => [addr(f), "inet_service" as const];
const set = (name: SetName, rest: Pick<NftSet, "key"> & Partial<NftSet>): NftSet => ({ kind: "set", ...T, name, ...rest });

export const SETS: Record<SetName, NftSet> = {
  hostip4: set("hostip4", { key: hostipKey(4), data: target(4) }),
  any4: set("any4", { key: anyKey, data: target(4) }),
  hostip6: set("hostip6", { key: hostipKey(6), data: target(6) }),
  any6: set("any6", { key: anyKey, data: target(6) }),
  "guard-hostip4": set("guard-hostip4", { key: hostipKey(4), data: "verdict" }),
  "guard-any4": set("guard-any4", { key: anyKey, data: "verdict" }),
  "guard-hostip6": set("guard-hostip6", { key: hostipKey(6), data: "verdict" }),
  "guard-any6": set("guard-any6", { key: anyKey, data: "verdict" }),
  hairpin4: set("hairpin4", { key: [addr(4), addr(4)], interval: true }),
  hairpin6: set("hairpin6", { key: [addr(6), addr(6)], interval: true }),
};

export const isSetName = (name: string): name is SetName => Object.hasOwn(SETS, name);

const chain = (name: string, base?: Pick<NftChain, "type" | "hook" | "priority">): NftChain => ({ kind: "chain", ...T, name, ...base });

const DSTNAT = -100;
const SRCNAT = 100;
const HOSTPORTS = "hostports";

/** `ip daddr . meta l4proto . th dport vmap @map` (ip6 for family 6): the key loads of dnatViaMap. */
function guardViaHostipMap(map: string, f: 4 | 6): Expr[] {
  return [...dnatViaMap(map, f).slice(0, 3), { type: "lookup", set: map, sreg: NFT_REG_1, dreg: NFT_REG_VERDICT }];
}

/** `meta l4proto . th dport vmap @map` (the key loads of dnatViaPortMap). */
function guardViaPortMap(map: string, f: 4 | 6): Expr[] {
  return [...dnatViaPortMap(map, f).slice(0, 2), { type: "lookup", set: map, sreg: NFT_REG_1, dreg: NFT_REG_VERDICT }];
}

function hostportsRules(f: 4 | 6): Expr[][] {
  const nf = matchNfproto(f);
  return [
    [...nf, ...guardViaHostipMap(`guard-hostip${f}`, f)],
    [...nf, ...dnatViaMap(`hostip${f}`, f)],
    [...nf, ...guardViaPortMap(`guard-any${f}`, f)],
    [...nf, ...dnatViaPortMap(`any${f}`, f)],
  ];
}

export const STATIC_CHAIN_NAMES = [HOSTPORTS, "prerouting", "output", "postrouting"];

/** The fixed chains and their rules, in STATIC_CHAIN_NAMES order (built only when the ruleset is made). */
function staticChains(): { chain: NftChain; rules: Expr[][] }[] {
  return [
    { chain: chain(HOSTPORTS), rules: [...hostportsRules(4), ...hostportsRules(6)] },
    { chain: chain("prerouting", { type: "nat", hook: "prerouting", priority: DSTNAT }), rules: [[...matchFibDaddrLocal(), ...jump(HOSTPORTS)]] },
    { chain: chain("output", { type: "nat", hook: "output", priority: DSTNAT }), rules: [[...matchFibDaddrLocal(), ...jump(HOSTPORTS)]] },
    {
      chain: chain("postrouting", { type: "nat", hook: "postrouting", priority: SRCNAT }),
      rules: ([4, 6] as const).map((f) => [...matchNfproto(f), ...matchCtStatusDnat(), ...matchAddressPairIn(`hairpin${f}`, f), ...masquerade()]),
    },
  ];
}

/** The chain holding a network's conditions: pass them to return to the mappings, else accept un-NATed. */
function conditionChain(c: Conditions): { chain: NftChain; rules: Expr[][] } {
  return { chain: chain(c.chain), rules: [[...c.exprs, ...returnVerdict()], accept()] };
}

/**
 * Queues what is missing of the ruleset: the table and sets (`add`: idempotent) and each chain in
 * `missing` (`create` with its rules: if another ADD created it meanwhile the batch fails with
 * EEXIST instead of duplicating the rules, and the caller retries).
 */
export function queueSetup(tx: NftTransaction, missing: ReadonlySet<string>, conditions: readonly Conditions[]): void {
  tx.add(TABLE);
  for (const s of Object.values(SETS)) tx.add(s);
  const wanted = [...staticChains(), ...conditions.map(conditionChain)];
  for (const { chain: c, rules } of wanted) {
    if (!missing.has(c.name)) continue;
    tx.create(c);
    for (const exprs of rules) tx.add({ kind: "rule", ...T, chain: c.name, exprs });
  }
}
