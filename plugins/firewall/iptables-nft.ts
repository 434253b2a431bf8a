import { counter, jump, type NftConnection, type NftRule, type NftTransaction } from "../../lib/nft/index.ts";
import { ruleComment } from "./xtables.ts";
import { chainRef, IPT_CHAIN, IPT_FORWARD, IPT_TABLE, type IptFamily } from "./places.ts";

// The reference's layout in iptables-nft's `filter` table, with our chain in place of CNI-FORWARD:
//   -A FORWARD -m comment --comment "tscni firewall" -j TSCNI-FORWARD        (first rule)
//   -A TSCNI-FORWARD -m comment --comment "tscni firewall admin overrides" -j CNI-ADMIN
//   -A TSCNI-FORWARD ... per-container accepts ...
// Only expressions iptables-nft writes itself (counter, jump; comments as rule userdata, which it
// lists as `-m comment`), so `iptables -S` keeps working on the host.

const FORWARD_JUMP_COMMENT = "tscni firewall";
const ADMIN_JUMP_COMMENT = "tscni firewall admin overrides";

/** The chain a rule ends jumping (or going) to. */
const jumpTarget = (r: NftRule): string | undefined => {
  const last = r.exprs.at(-1);
  if (last?.type !== "verdict" || typeof last.verdict !== "object") return undefined;
  return "jump" in last.verdict ? last.verdict.jump : last.verdict.goto;
};

const isForwardJump = (r: NftRule): boolean => ruleComment(r) === FORWARD_JUMP_COMMENT && jumpTarget(r) === IPT_CHAIN;
const isAdminJump = (r: NftRule): boolean => ruleComment(r) === ADMIN_JUMP_COMMENT && jumpTarget(r) !== undefined;

const rule = (family: IptFamily, chain: string, target: string, comment: string): NftRule => ({
  kind: "rule",
  family,
  table: IPT_TABLE,
  chain,
  exprs: [...counter(), ...jump(target)],
  comment,
});

/** What is missing of FORWARD → TSCNI-FORWARD → admin chain, for CHECK (empty: all there). */
export function missingIptablesChains(conn: NftConnection, family: IptFamily, adminChain: string): string[] {
  const chains = conn.listChains(family, IPT_TABLE).map((c) => c.name);
  const missing: string[] = [];
  if (!chains.includes(IPT_CHAIN)) return [`chain ${family} ${IPT_TABLE} ${IPT_CHAIN}`];
  if (!chains.includes(adminChain)) missing.push(`chain ${family} ${IPT_TABLE} ${adminChain}`);
  if (!conn.listRules(family, IPT_TABLE, IPT_FORWARD).some(isForwardJump)) missing.push(`the jump from ${family} ${IPT_TABLE} ${IPT_FORWARD} to ${IPT_CHAIN}`);
  if (!conn.listRules(family, IPT_TABLE, IPT_CHAIN).some((r) => isAdminJump(r) && jumpTarget(r) === adminChain)) missing.push(`the jump from ${IPT_CHAIN} to ${adminChain}`);
  return missing;
}

/**
 * Queues the chains and jumps that are missing: TSCNI-FORWARD and the admin chain, the jump to
 * TSCNI-FORWARD at the top of FORWARD (as the reference inserts CNI-FORWARD), the jump to the
 * admin chain at the top of TSCNI-FORWARD. `ours` are TSCNI-FORWARD's rules as listed.
 */
export function queueIptablesChains(tx: NftTransaction, conn: NftConnection, family: IptFamily, adminChain: string, ours: NftRule[]): void {
  const exists = conn.listChains(family, IPT_TABLE).some((c) => c.name === IPT_CHAIN);
  tx.add({ kind: "chain", family, table: IPT_TABLE, name: adminChain });
  tx.add({ kind: "chain", family, table: IPT_TABLE, name: IPT_CHAIN });
  // A jump to a chain that does not exist cannot exist either: no need to look.
  if (!exists || !conn.listRules(family, IPT_TABLE, IPT_FORWARD).some(isForwardJump)) {
    tx.insert(rule(family, IPT_FORWARD, IPT_CHAIN, FORWARD_JUMP_COMMENT));
  }
  if (!ours.some((r) => isAdminJump(r) && jumpTarget(r) === adminChain)) {
    tx.insert(rule(family, IPT_CHAIN, adminChain, ADMIN_JUMP_COMMENT));
  }
}

/**
 * Once TSCNI-FORWARD holds nothing but admin jumps, queues its removal with the FORWARD jumps to it,
 * and the admin chains that are left empty and unreferenced (the host is as before the first ADD).
 * Returns false when there is nothing to remove.
 */
export function queueIptablesTeardown(tx: NftTransaction, conn: NftConnection, family: IptFamily): boolean {
  const chains = conn.listChains(family, IPT_TABLE).map((c) => c.name);
  if (!chains.includes(IPT_CHAIN)) return false;
  const all = conn.listRules(family, IPT_TABLE);
  const ours = all.filter((r) => r.chain === IPT_CHAIN);
  if (!ours.every(isAdminJump)) return false;
  for (const r of all) if (r.chain === IPT_FORWARD && jumpTarget(r) === IPT_CHAIN) tx.delete(r);
  tx.delete(chainRef(family, IPT_TABLE, IPT_CHAIN));
  for (const admin of new Set(ours.map(jumpTarget))) {
    if (!admin || !chains.includes(admin)) continue;
    const used = all.some((r) => r.chain === admin || (r.chain !== IPT_CHAIN && jumpTarget(r) === admin));
    if (!used) tx.delete(chainRef(family, IPT_TABLE, admin));
  }
  return true;
}
