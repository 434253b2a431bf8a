import { CniCode, CniError } from "../../lib/cni/errors.ts";
import type { NftConnection } from "../../lib/nft/connection.ts";
import { NftCommitError } from "../../lib/nft/errors.ts";
import { NftTransaction } from "../../lib/nft/transaction.ts";
import { formatElement } from "../../lib/nft/elements.ts";
import type { Conditions } from "./conditions.ts";
import { describeKey, familyOf, nftElement, type OwnedElement } from "./plan.ts";
import { queueSetup, STATIC_CHAIN_NAMES, TABLE } from "./ruleset.ts";

// Mappings as map elements, committed in one batch: the previous elements of the attachment go and
// the new ones come in together, or nothing changes.

/** Creation attempts when other ADDs create the same chains at the same time. */
const ATTEMPTS = 4;

/**
 * Replaces `previous` (the attachment's earlier ADD, if any) with `next`. The mappings are
 * `create`d: a key another attachment holds makes the whole batch fail, which is reported as a
 * conflict naming the mapping (code 7). The first batch holds elements only; when the table or a
 * chain is missing (ENOENT) the missing parts are created in the same batch as the elements.
 */
export function commitElements(conn: NftConnection, previous: readonly OwnedElement[], next: readonly OwnedElement[], conditions: readonly Conditions[]): void {
  for (let attempt = 0; ; attempt++) {
    const tx = new NftTransaction();
    if (attempt > 0) queueSetup(tx, missingChains(conn, conditions), conditions);
    for (const e of previous) tx.destroy(nftElement(e));
    for (const e of next) {
      // Hairpin pairs are not exclusive: a container's own pair may already be there.
      if (e.set.startsWith("hairpin")) tx.add(nftElement(e));
      else tx.create(nftElement(e));
    }
    try {
      conn.commit(tx);
      return;
    } catch (e) {
      if (!(e instanceof NftCommitError) || attempt + 1 >= ATTEMPTS) throw e;
      const racedSetup = e.code === "EEXIST" && e.op.startsWith("create chain");
      if (e.code === "ENOENT" || racedSetup) continue;
      if (e.code === "EEXIST") throw conflict(conn, next, e);
      throw e;
    }
  }
}

function missingChains(conn: NftConnection, conditions: readonly Conditions[]): Set<string> {
  const present = new Set(conn.listChains(TABLE.family, TABLE.name).map((c) => c.name));
  return new Set([...STATIC_CHAIN_NAMES, ...conditions.map((c) => c.chain)].filter((n) => !present.has(n)));
}

/** The refused batch as a conflict: which of our keys another attachment holds, and to where. */
function conflict(conn: NftConnection, next: readonly OwnedElement[], cause: NftCommitError): CniError {
  for (const e of next) {
    if (e.set.startsWith("hairpin") || e.set.startsWith("guard-")) continue;
    const held = conn.getElement(nftElement(e).set, e.key);
    if (!held) continue;
    const to = Array.isArray(held.value) ? held.value : [];
    const target = familyOf(e) === 6 ? `[${to[0]}]:${to[1]}` : `${to[0]}:${to[1]}`;
    return new CniError(CniCode.invalidNetworkConfig, `host port ${describeKey(familyOf(e), e.key)} is already mapped (to ${target}) by another container`, "no mapping of this request was made");
  }
  return new CniError(CniCode.invalidNetworkConfig, `a port mapping conflicts with an existing one: ${cause.message}`);
}

/**
 * The recorded elements that are still this attachment's: a DNAT or guard element counts only if
 * the map still holds our value for its key (after a lost DEL, another container may hold the port
 * now); hairpin pairs name the container's address, so they are ours.
 */
export function stillOwned(conn: NftConnection, recorded: readonly OwnedElement[]): OwnedElement[] {
  return recorded.filter((e) => {
    if (e.value === undefined) return true;
    const el = nftElement(e);
    const held = conn.getElement(el.set, e.key);
    return held !== undefined && formatElement(held) === formatElement(el);
  });
}

/** Deletes `elements` in one batch; a table that is gone means there is nothing left to delete. */
export function removeElements(conn: NftConnection, elements: readonly OwnedElement[]): void {
  if (elements.length === 0) return;
  const tx = new NftTransaction();
  for (const e of elements) tx.destroy(nftElement(e));
  try {
    conn.commit(tx);
  } catch (e) {
    if (!(e instanceof NftCommitError) || e.code !== "ENOENT") throw e;
  }
}
