import { NetlinkDecodeError, type AttributeEncoder, type Attributes } from "../../netlink/attributes.ts";

/** What encoding needs from the transaction: the batch id of a set created in it, if any. */
export interface EncodeContext {
  setId(name: string): number | undefined;
}

/**
 * One nf_tables expression type: `name` as the kernel knows it, its NFTA_EXPR_DATA attributes both
 * ways, and the checks made when a rule is queued.
 */
export interface ExprCodec<T> {
  name: string;
  encode(e: AttributeEncoder, x: T, ctx: EncodeContext): void;
  decode(a: Attributes): T;
  check(x: T): void;
}

/** A required attribute, or a decode error naming it. */
export function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new NetlinkDecodeError(`missing ${what}`);
  return v;
}

/** Index of `v` in a uapi-ordered name table, or a decode error. */
export function nameAt<T extends string>(names: readonly T[], v: number, what: string): T {
  const n = names[v];
  if (n === undefined) throw new NetlinkDecodeError(`unknown ${what} ${v}`);
  return n;
}

export function indexOf<T extends string>(names: readonly T[], v: T, what: string): number {
  const i = names.indexOf(v);
  if (i < 0) throw new NetlinkDecodeError(`unknown ${what} ${JSON.stringify(v)}`);
  return i;
}
