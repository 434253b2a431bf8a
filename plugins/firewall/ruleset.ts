import {
  NftTransaction,
  ownerComment,
  type NftChainRef,
  type NftConnection,
  type NftRule,
  type RuleOwner,
} from "../../lib/nft/index.ts";
import type { FirewallAttachment } from "./config.ts";
import { queueIptablesChains, queueIptablesTeardown } from "./iptables-nft.ts";
import { bridgeOf, queueIsolation, queueReleasedBridges } from "./isolation.ts";
import { isOwnedBy, ruleOwner } from "./xtables.ts";
import { acceptChains, acceptRules, IPT_CHAIN, IPT_TABLE, iptFamilyOf, OWN_ACCEPTS, OWN_FORWARD, OWN_ISOLATION, OWN_TABLE, OWNED_RULE_CHAINS, sameChain } from "./places.ts";

// The firewall's rules as whole operations on one nftables connection: ADD is one transaction,
// DEL/GC one transaction for the container rules plus a best-effort tidy-up of what is left empty.
// Per-container rules are appended and deleted by handle, never rewritten.

const rulesOf = (conn: NftConnection, c: NftChainRef): NftRule[] => conn.listRules(c.family, c.table, c.name);

/**
 * Installs the rules of one attachment, replacing any it already has (a repeated ADD), in one
 * transaction: all of it or nothing.
 */
export function addRules(conn: NftConnection, owner: RuleOwner, att: FirewallAttachment, adminChain: string): void {
  const comment = ownerComment(owner);
  const tx = new NftTransaction();
  const listed = OWNED_RULE_CHAINS.map((chain) => ({ chain, rules: rulesOf(conn, chain) }));
  for (const { rules } of listed) for (const r of rules) if (isOwnedBy(r, owner)) tx.delete(r);
  const chains = acceptChains(conn, att.addresses);
  for (const [family, chain] of chains) {
    if (chain.table === IPT_TABLE) queueIptablesChains(tx, conn, family, adminChain, listed.find((l) => sameChain(l.chain, chain))!.rules);
  }
  if ([...chains.values()].some((c) => sameChain(c, OWN_ACCEPTS))) tx.add(OWN_TABLE).add(OWN_FORWARD);
  for (const a of att.addresses) for (const r of acceptRules(chains.get(iptFamilyOf(a))!, a, comment)) tx.add(r);
  if (att.bridge) queueIsolation(tx, att.bridge, comment);
  if (tx.length) conn.commit(tx);
}

/**
 * Deletes every rule whose owner `stale` selects, wherever it is, and the isolated bridges no rule
 * needs any more, in one transaction. Returns how many rules went.
 */
export function removeRules(conn: NftConnection, stale: (o: RuleOwner) => boolean): number {
  const tx = new NftTransaction();
  let removed = 0;
  const released: string[] = [];
  const remaining: NftRule[] = [];
  for (const chain of OWNED_RULE_CHAINS) {
    const isolation = sameChain(chain, OWN_ISOLATION);
    for (const r of rulesOf(conn, chain)) {
      const owner = ruleOwner(r);
      if (owner && stale(owner)) {
        tx.delete(r);
        removed++;
        const bridge = isolation ? bridgeOf(r) : undefined;
        if (bridge) released.push(bridge);
      } else if (isolation) {
        remaining.push(r);
      }
    }
  }
  if (released.length) queueReleasedBridges(tx, conn, released, remaining);
  if (tx.length) conn.commit(tx);
  return removed;
}

/**
 * Removes what no container needs any more: TSCNI-FORWARD with the jumps to it (and an admin
 * chain left empty), our table once it holds no rule. Each place on its own; failures are logged,
 * since the containers' own rules are gone by then.
 */
export function tidy(conn: NftConnection, log: (message: string) => void): void {
  const steps: Array<[string, (tx: NftTransaction) => boolean]> = [
    [`remove ip ${IPT_TABLE} ${IPT_CHAIN}`, (tx) => queueIptablesTeardown(tx, conn, "ip")],
    [`remove ip6 ${IPT_TABLE} ${IPT_CHAIN}`, (tx) => queueIptablesTeardown(tx, conn, "ip6")],
    [`remove table inet ${OWN_TABLE.name}`, (tx) => queueOwnTableTeardown(tx, conn)],
  ];
  for (const [what, queue] of steps) {
    try {
      const tx = new NftTransaction();
      if (queue(tx)) conn.commit(tx);
    } catch (e) {
      log(`failed to ${what}: ${(e as Error).message}`);
    }
  }
}

function queueOwnTableTeardown(tx: NftTransaction, conn: NftConnection): boolean {
  if (!conn.listTables(OWN_TABLE.family).some((t) => t.name === OWN_TABLE.name)) return false;
  if (conn.listRules(OWN_TABLE.family, OWN_TABLE.name).length > 0) return false;
  tx.delete(OWN_TABLE);
  return true;
}
