import { NFT_DATA_VALUE_MAXLEN } from "./constants.ts";
import { formatVerdict } from "./data.ts";
import { checkCreatable, decodeRange, decodeValue, encodeValue, fieldLayout, typesLength, type NftDataType } from "./datatypes.ts";
import { NftInputError } from "./errors.ts";
import { checkVerdict } from "./expr/immediate.ts";
import type { NftElement, NftSet, NftValue, Verdict } from "./types.ts";

/** An element with its values encoded: `keyEnd` (inclusive) is set in interval sets. */
export interface EncodedElement {
  key: Buffer;
  keyEnd?: Buffer;
  value?: Buffer;
  verdict?: Verdict;
}

export const keyTypes = (set: Pick<NftSet, "key">): NftDataType[] => (Array.isArray(set.key) ? set.key : [set.key]);
export const dataTypes = (set: Pick<NftSet, "data">): NftDataType[] | undefined =>
  set.data === undefined || set.data === "verdict" ? undefined : Array.isArray(set.data) ? set.data : [set.data];

/** Checks a set definition: key and data types we can encode, sizes within the kernel's limits. */
export function checkSetTypes(set: NftSet): void {
  const what = `set "${set.name}"`;
  const key = keyTypes(set);
  if (key.length === 0) throw new NftInputError(`${what}: empty key type`);
  checkCreatable(key, what);
  if (typesLength(key) > NFT_DATA_VALUE_MAXLEN) throw new NftInputError(`${what}: key longer than ${NFT_DATA_VALUE_MAXLEN} bytes`);
  const data = dataTypes(set);
  if (data) {
    if (data.length === 0) throw new NftInputError(`${what}: empty data type`);
    checkCreatable(data, what);
    if (typesLength(data) > NFT_DATA_VALUE_MAXLEN) throw new NftInputError(`${what}: data longer than ${NFT_DATA_VALUE_MAXLEN} bytes`);
  }
}

/** An element of `set` with just a key (for queries: a map element needs no value to be found). */
export function elementKey(set: NftSet, key: NftValue | NftValue[]): NftElement {
  const { data: _data, ...keyOnly } = set;
  return { kind: "element", set: keyOnly, key };
}

/** Encodes (and so validates) an element against its set's types. */
export function encodeElement(el: NftElement): EncodedElement {
  const set = el.set;
  const what = `element of set "${set.name}"`;
  const ktypes = keyTypes(set);
  const keys = fieldsOf(el.key, ktypes.length, `${what}: key`);
  const interval = set.interval === true;
  const ranges = ktypes.map((t, i) => wrap(what, () => encodeValue(t, keys[i]!, interval)));
  const out: EncodedElement = { key: concat(ktypes, ranges.map((r) => r.start)) };
  if (interval) out.keyEnd = concat(ktypes, ranges.map((r) => r.end));
  if (set.data === undefined) {
    if (el.value !== undefined) throw new NftInputError(`${what}: a set element has no value`);
  } else if (el.value === undefined) {
    throw new NftInputError(`${what}: map elements need a value`);
  } else if (set.data === "verdict") {
    checkVerdict(el.value);
    out.verdict = el.value as Verdict;
  } else {
    const dtypes = dataTypes(set)!;
    const vals = fieldsOf(el.value as NftValue | NftValue[], dtypes.length, `${what}: value`);
    out.value = concat(dtypes, dtypes.map((t, i) => wrap(what, () => encodeValue(t, vals[i]!, false)).start));
  }
  return out;
}

function fieldsOf(v: NftValue | NftValue[] | Verdict, n: number, what: string): NftValue[] {
  const arr = Array.isArray(v) ? v : [v];
  if (arr.length !== n || arr.some((x) => typeof x !== "string" && typeof x !== "number")) {
    throw new NftInputError(`${what} must have ${n} field${n > 1 ? "s" : ""}, got ${JSON.stringify(v)}`);
  }
  return arr as NftValue[];
}

function wrap<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NftInputError) throw new NftInputError(`${what}: ${e.message}`);
    throw e;
  }
}

/** Concatenated members are each padded to 4 bytes (one register slot). */
function concat(types: readonly NftDataType[], parts: Buffer[]): Buffer {
  if (parts.length === 1) return parts[0]!;
  const out = Buffer.alloc(typesLength(types));
  fieldLayout(types).forEach((f, i) => parts[i]!.copy(out, f.offset));
  return out;
}

/** Decodes an element's bytes back into values, with prefixes/ranges for intervals. */
export function decodeElement(set: NftSet, e: EncodedElement): NftElement {
  const ktypes = keyTypes(set);
  const keyFields = fieldLayout(ktypes, e.key.length).map((f) => {
    const start = e.key.subarray(f.offset, f.offset + f.len);
    return e.keyEnd ? decodeRange(f.type, start, e.keyEnd.subarray(f.offset, f.offset + f.len)) : decodeValue(f.type, start);
  });
  const el: NftElement = { kind: "element", set, key: ktypes.length === 1 ? keyFields[0]! : keyFields };
  if (e.verdict !== undefined) el.value = e.verdict;
  else if (e.value) {
    const dtypes = dataTypes(set) ?? ["integer"];
    const vals = fieldLayout(dtypes, e.value.length).map((f) => decodeValue(f.type, e.value!.subarray(f.offset, f.offset + f.len)));
    el.value = dtypes.length === 1 ? vals[0]! : vals;
  }
  return el;
}

/** `10.0.0.1 . tcp . 8080 : 10.88.0.5 . 80` */
export function formatElement(el: NftElement): string {
  const fmt = (v: NftValue, t: NftDataType | undefined): string => (t === "ifname" ? `"${v}"` : String(v));
  const ktypes = keyTypes(el.set);
  const key = (Array.isArray(el.key) ? el.key : [el.key]).map((v, i) => fmt(v, ktypes[i])).join(" . ");
  if (el.value === undefined) return key;
  if (el.set.data === "verdict") return `${key} : ${formatVerdict(el.value as Verdict)}`;
  const dtypes = dataTypes(el.set);
  const vals = (Array.isArray(el.value) ? el.value : [el.value]) as NftValue[];
  return `${key} : ${vals.map((v, i) => fmt(v, dtypes?.[i])).join(" . ")}`;
}

export const elementText = (set: NftSet, e: EncodedElement): string => formatElement(decodeElement(set, e));
