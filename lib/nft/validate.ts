import { NftInputError } from "./errors.ts";
import type { NftFamily } from "./types.ts";

const FAMILIES: readonly NftFamily[] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];
// What `nft` accepts unquoted as an identifier, within the kernel's NFT_NAME_MAXLEN.
const NAME = /^[A-Za-z_][A-Za-z0-9_./-]{0,254}$/;

/** Table, chain and set names: an nft identifier (letter or `_`, then letters, digits, `_./-`). */
export function checkName(what: string, name: unknown): void {
  if (typeof name !== "string" || !NAME.test(name)) throw new NftInputError(`invalid ${what} name ${JSON.stringify(name)}`);
}

export function checkFamily(family: unknown): asserts family is NftFamily {
  if (!FAMILIES.includes(family as NftFamily)) throw new NftInputError(`invalid nftables family ${JSON.stringify(family)}`);
}

/** Rule comments: printable ASCII without `"`, at most 253 bytes (the kernel's 256-byte userdata). */
export function checkComment(comment: unknown): void {
  if (typeof comment !== "string" || !/^[\x20-\x21\x23-\x7e]{1,253}$/.test(comment)) {
    throw new NftInputError(`invalid rule comment ${JSON.stringify(comment)}: 1-253 printable ASCII characters without '"'`);
  }
}

/** Handles are positive 64-bit integers; we keep them as safe JS integers. */
export function checkHandle(what: string, handle: unknown): void {
  if (!Number.isSafeInteger(handle) || (handle as number) <= 0) throw new NftInputError(`invalid ${what} ${JSON.stringify(handle)}`);
}
