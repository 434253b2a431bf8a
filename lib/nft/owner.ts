import type { NftConnection } from "./connection.ts";
import { NftInputError } from "./errors.ts";
import { NftTransaction } from "./transaction.ts";
import type { NftChainRef, NftRule } from "./types.ts";

/** Who made a rule: the CNI network, the container and its interface. */
export interface RuleOwner {
  net: string;
  id: string;
  ifname: string;
}

const PART = /^[^\s"=]+$/;
const COMMENT = /^tscni net=(\S+) id=(\S+) if=(\S+)$/;

/** The comment tagging a rule with its owner: `tscni net=<network> id=<containerID> if=<ifname>`. */
export function ownerComment(o: RuleOwner): string {
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== "string" || !PART.test(v)) throw new NftInputError(`invalid rule owner ${k} ${JSON.stringify(v)}`);
  }
  return `tscni net=${o.net} id=${o.id} if=${o.ifname}`;
}

/** The owner named by a comment, or undefined for rules that are not ours. */
export function parseOwnerComment(comment: string | undefined): RuleOwner | undefined {
  const m = comment === undefined ? null : COMMENT.exec(comment);
  return m ? { net: m[1]!, id: m[2]!, ifname: m[3]! } : undefined;
}

/** True when the rule's owner matches every field given in `owner`. */
export function isOwnedBy(rule: NftRule, owner: Partial<RuleOwner>): boolean {
  const o = parseOwnerComment(rule.comment);
  return !!o && (owner.net === undefined || o.net === owner.net) && (owner.id === undefined || o.id === owner.id) && (owner.ifname === undefined || o.ifname === owner.ifname);
}

/**
 * The rules of `chain` owned by `owner` (with handles), e.g. for DEL:
 *   for (const r of listOwnedRules(conn, chain, { net, id, ifname })) tx.delete(r);
 */
export function listOwnedRules(conn: NftConnection, chain: NftChainRef, owner: Partial<RuleOwner>): NftRule[] {
  return conn.listRules(chain.family, chain.table, chain.name).filter((r) => isOwnedBy(r, owner));
}

/**
 * Deletes, in one transaction, those of `rules` (as listed, with handles) whose owner `keep` does
 * not pick: DEL keeps none, GC keeps the valid attachments'.
 */
export function deleteOwnedRules(conn: NftConnection, rules: readonly NftRule[], keep: (o: RuleOwner) => boolean = () => false): void {
  const stale = rules.filter((r) => !keep(parseOwnerComment(r.comment)!));
  if (stale.length === 0) return;
  const tx = new NftTransaction();
  for (const r of stale) tx.delete(r);
  conn.commit(tx);
}
