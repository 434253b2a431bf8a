import { formatIp } from "../../lib/ip/address.ts";
import { ownerComment, type Expr, type NftChainRef, type NftConnection, type RuleOwner } from "../../lib/nft/index.ts";
import type { FirewallAttachment } from "./config.ts";
import { missingIptablesChains } from "./iptables-nft.ts";
import { isolationRule } from "./isolation.ts";
import { isOwnedBy, withoutXtComments } from "./xtables.ts";
import { acceptChains, acceptRules, IPT_TABLE, iptFamilyOf, ISOLATED, OWN_ISOLATION } from "./places.ts";

/**
 * What of the attachment's rules is missing or changed, as ADD would make them on this host now
 * (empty when all is in place): the chains and jumps under iptables-nft, both accepts of every
 * address, the isolation rule and the bridge's set element.
 */
export function missingRules(conn: NftConnection, owner: RuleOwner, att: FirewallAttachment, adminChain: string): string[] {
  const comment = ownerComment(owner);
  const missing: string[] = [];
  const chains = acceptChains(conn, att.addresses);
  for (const [family, chain] of chains) if (chain.table === IPT_TABLE) missing.push(...missingIptablesChains(conn, family, adminChain));
  const ownedIn = (c: NftChainRef) => conn.listRules(c.family, c.table, c.name).filter((r) => isOwnedBy(r, owner));
  for (const a of att.addresses) {
    const chain = chains.get(iptFamilyOf(a))!;
    const have = ownedIn(chain);
    const [replies, outgoing] = acceptRules(chain, a, comment);
    const where = `${chain.family} ${chain.table} ${chain.name}`;
    if (!have.some((r) => sameExprs(withoutXtComments(r.exprs), replies!.exprs))) missing.push(`the accept of replies to ${formatIp(a)} in ${where}`);
    if (!have.some((r) => sameExprs(withoutXtComments(r.exprs), outgoing!.exprs))) missing.push(`the accept of traffic from ${formatIp(a)} in ${where}`);
  }
  if (att.bridge) {
    const wanted = isolationRule(att.bridge, comment);
    if (!ownedIn(OWN_ISOLATION).some((r) => sameExprs(r.exprs, wanted.exprs))) missing.push(`the isolation rule of bridge "${att.bridge}"`);
    if (!conn.listElements(ISOLATED).some((e) => e.key === att.bridge)) missing.push(`bridge "${att.bridge}" in set ${ISOLATED.name}`);
  }
  return missing;
}

/** Same expressions, whatever the counters say. */
function sameExprs(a: readonly Expr[], b: readonly Expr[]): boolean {
  return a.length === b.length && a.every((x, i) => canonical(x) === canonical(b[i]!));
}

function canonical(x: Expr): string {
  if (x.type === "counter") return "counter";
  const fields = Object.entries(x)
    .filter(([, v]) => v !== undefined)
    .sort(([k1], [k2]) => (k1 < k2 ? -1 : 1))
    .map(([k, v]) => `${k}=${Buffer.isBuffer(v) ? v.toString("hex") : JSON.stringify(v)}`);
  return fields.join(",");
}
