import type { Expr } from "./expr/index.ts";
import type { NftDataType } from "./datatypes.ts";

/** Address family of a table, as `nft` spells it. */
export type NftFamily = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";
export type ChainType = "filter" | "nat" | "route";
export type ChainHook = "prerouting" | "input" | "forward" | "output" | "postrouting";
export type ChainPolicy = "accept" | "drop";

/** A verdict: `accept`, `drop`, `continue`, `return`, `jump <chain>`, `goto <chain>`. */
export type Verdict = "accept" | "drop" | "continue" | "return" | { jump: string } | { goto: string };

/** `table <family> <name>` */
export interface NftTable {
  kind: "table";
  family: NftFamily;
  name: string;
  /** Set by listings. */
  handle?: number;
}

/** A chain; a base chain when `hook` is set (then `type` and `priority` too). */
export interface NftChain {
  kind: "chain";
  family: NftFamily;
  table: string;
  name: string;
  type?: ChainType;
  hook?: ChainHook;
  priority?: number;
  policy?: ChainPolicy;
  handle?: number;
}

/**
 * A rule. `handle` names an existing rule (delete, listings); `position` is the handle of the rule
 * that `add` puts it after (`insert`: before).
 */
export interface NftRule {
  kind: "rule";
  family: NftFamily;
  table: string;
  chain: string;
  exprs: Expr[];
  /** Stored as the NFTNL_UDATA_RULE_COMMENT userdata `nft` shows as `comment "..."`. */
  comment?: string;
  handle?: number;
  position?: number;
}

/** A set, or a map when `data` is given (`"verdict"` for a verdict map). Arrays are concatenations. */
export interface NftSet {
  kind: "set";
  family: NftFamily;
  table: string;
  name: string;
  key: NftDataType | NftDataType[];
  data?: NftDataType | NftDataType[] | "verdict";
  /** `flags interval`: keys may be prefixes (`10.0.0.0/8`) or ranges (`1000-2000`). */
  interval?: boolean;
  handle?: number;
}

/** One value of a key or data field: `"10.0.0.1"`, `"tcp"`, `8080`, `"eth0"`, `"10.0.0.0/8"`... */
export type NftValue = string | number;

/**
 * An element of `set`. `key` (and `value` for maps) is an array for a concatenated type. The set
 * definition is needed to encode the values; it need not be created in the same transaction.
 */
export interface NftElement {
  kind: "element";
  set: NftSet;
  key: NftValue | NftValue[];
  value?: NftValue | NftValue[] | Verdict;
}

export type NftTableRef = Pick<NftTable, "kind" | "family" | "name">;
export type NftChainRef = Pick<NftChain, "kind" | "family" | "table" | "name">;
export type NftSetRef = Pick<NftSet, "kind" | "family" | "table" | "name">;
export type NftRuleRef = Pick<NftRule, "kind" | "family" | "table" | "chain"> & { handle: number };
