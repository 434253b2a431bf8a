import { formatIp, ipFromBytes, ipToBytes, lastAddressOf, networkOf, parseIp, parsePrefix, type IpAddress } from "../ip/address.ts";
import { formatMac, parseMac } from "../ip/mac.ts";
import { NFT_BYTEORDER_BIG, NFT_BYTEORDER_HOST, NFT_BYTEORDER_INVALID, NFT_TYPE_BITS } from "./constants.ts";
import { NftInputError } from "./errors.ts";
import type { NftValue } from "./types.ts";

/**
 * Types of set keys and map data, by their `nft` names. `integer` only comes back from listings of
 * sets made by others with a type we do not know; it cannot be created.
 */
export type NftDataType =
  | "ipv4_addr"
  | "ipv6_addr"
  | "ether_addr"
  | "inet_proto"
  | "inet_service"
  | "mark"
  | "ifname"
  | "integer";

interface TypeInfo {
  /** nft's datatype id (include/datatype.h), informational for the kernel. */
  id: number;
  /** Bytes of one value (16 for ifname: IFNAMSIZ). */
  len: number;
  /** nft's byte order tag for the set userdata. */
  order: number;
}

export const DATA_TYPES: Record<NftDataType, TypeInfo> = {
  ipv4_addr: { id: 7, len: 4, order: NFT_BYTEORDER_BIG },
  ipv6_addr: { id: 8, len: 16, order: NFT_BYTEORDER_BIG },
  ether_addr: { id: 9, len: 6, order: NFT_BYTEORDER_BIG },
  inet_proto: { id: 12, len: 1, order: NFT_BYTEORDER_INVALID },
  inet_service: { id: 13, len: 2, order: NFT_BYTEORDER_BIG },
  mark: { id: 19, len: 4, order: NFT_BYTEORDER_HOST },
  ifname: { id: 41, len: 16, order: NFT_BYTEORDER_HOST },
  integer: { id: 4, len: 0, order: NFT_BYTEORDER_HOST },
};
export const VERDICT_TYPE_ID = 1;

const PROTOCOLS: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, sctp: 132 };
const PROTOCOL_NAMES: Record<number, string> = Object.fromEntries(Object.entries(PROTOCOLS).map(([k, v]) => [v, k]));

export type L4Proto = "tcp" | "udp" | "sctp";

/** IP protocol number of `name` (`tcp`, `udp`, `sctp`, `icmp`, ...) or a number 0-255. */
export function protocolNumber(p: string | number): number {
  const n = typeof p === "number" ? p : (PROTOCOLS[p] ?? (/^\d+$/.test(p) ? Number(p) : NaN));
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new NftInputError(`invalid protocol ${JSON.stringify(p)}`);
  return n;
}

export function protocolName(n: number): string | number {
  return PROTOCOL_NAMES[n] ?? n;
}

const typeById = (id: number): NftDataType =>
  (Object.keys(DATA_TYPES) as NftDataType[]).find((t) => DATA_TYPES[t].id === id) ?? "integer";

/** The NFTA_SET_KEY_TYPE/DATA_TYPE value of a type or concatenation. */
export function typeId(types: readonly NftDataType[]): number {
  let id = 0;
  for (const t of types) id = id * (1 << NFT_TYPE_BITS) + DATA_TYPES[t].id;
  return id;
}

/** Splits a (concatenated) type id back into its members. */
export function typesOfId(id: number): NftDataType[] {
  const out: NftDataType[] = [];
  for (let rest = id; rest > 0; rest = Math.floor(rest / (1 << NFT_TYPE_BITS))) out.unshift(typeById(rest % (1 << NFT_TYPE_BITS)));
  return out.length ? out : ["integer"];
}

/** Register-aligned length of a (concatenated) value: each member padded to 4 bytes when concatenated. */
export function typesLength(types: readonly NftDataType[]): number {
  if (types.length === 1) return DATA_TYPES[types[0]!].len;
  return types.reduce((n, t) => n + alignedLen(t), 0);
}

const alignedLen = (t: NftDataType): number => (DATA_TYPES[t].len + 3) & ~3;

export function checkCreatable(types: readonly NftDataType[], what: string): void {
  for (const t of types) {
    if (!(t in DATA_TYPES) || t === "integer") throw new NftInputError(`${what}: unsupported type ${JSON.stringify(t)}`);
  }
}

/** A value as an inclusive range of encoded bytes (start === end for a single value). */
export interface EncodedRange {
  start: Buffer;
  end: Buffer;
}

/**
 * Encodes one value of type `t`. With `interval`, prefixes (`10.0.0.0/8`) and ranges (`a-b`) are
 * allowed and give start and end; otherwise start === end.
 */
export function encodeValue(t: NftDataType, v: NftValue, interval: boolean): EncodedRange {
  if (interval && typeof v === "string") {
    if ((t === "ipv4_addr" || t === "ipv6_addr") && v.includes("/")) {
      const p = parsePrefixOf(t, v);
      return { start: ipToBytes(networkOf(p)), end: ipToBytes(lastAddressOf(p)) };
    }
    const dash = v.indexOf("-", 1);
    if (dash > 0 && t !== "ifname") {
      const start = encodeOne(t, rangePart(t, v.slice(0, dash)));
      const end = encodeOne(t, rangePart(t, v.slice(dash + 1)));
      if (Buffer.compare(start, end) > 0) throw new NftInputError(`invalid ${t} range "${v}": start after end`);
      return { start, end };
    }
  }
  const one = encodeOne(t, v);
  return { start: one, end: one };
}

const rangePart = (t: NftDataType, s: string): NftValue => (t === "inet_service" || t === "mark" ? Number(s) : s);

function parsePrefixOf(t: NftDataType, v: string) {
  let p;
  try {
    p = parsePrefix(v);
  } catch {
    throw new NftInputError(`invalid ${t} prefix "${v}"`);
  }
  if ((p.address.family === 4) !== (t === "ipv4_addr")) throw new NftInputError(`invalid ${t} prefix "${v}"`);
  return p;
}

function encodeOne(t: NftDataType, v: NftValue): Buffer {
  const bad = (): never => {
    throw new NftInputError(`invalid ${t} ${JSON.stringify(v)}`);
  };
  switch (t) {
    case "ipv4_addr":
    case "ipv6_addr": {
      let ip: IpAddress | undefined;
      try {
        ip = typeof v === "string" ? parseIp(v) : undefined;
      } catch {
        ip = undefined;
      }
      if (!ip || (ip.family === 4) !== (t === "ipv4_addr")) return bad();
      return ipToBytes(ip);
    }
    case "ether_addr":
      if (typeof v !== "string") return bad();
      try {
        return parseMac(v);
      } catch {
        return bad();
      }
    case "inet_proto":
      try {
        return Buffer.of(protocolNumber(v));
      } catch {
        return bad();
      }
    case "inet_service": {
      const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) return bad();
      const b = Buffer.alloc(2);
      b.writeUInt16BE(n);
      return b;
    }
    case "mark": {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) return bad();
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v); // host byte order (little-endian on every platform we ship)
      return b;
    }
    case "ifname":
      if (typeof v !== "string") return bad();
      checkIfname(v, false);
      return ifnameBytes(v);
    case "integer":
      return bad();
  }
}

/** `eth0` → 16 NUL-padded bytes, as the kernel compares full interface names. */
export function ifnameBytes(name: string): Buffer {
  const b = Buffer.alloc(16);
  b.write(name, "latin1");
  return b;
}

/** Interface names: 1-15 bytes, no `/`, `:`, whitespace or quotes; `wildcard` allows a trailing `*`. */
export function checkIfname(name: string, wildcard: boolean): void {
  const base = wildcard && name.endsWith("*") ? name.slice(0, -1) : name;
  if (!/^[^\s/:"*]{1,15}$/.test(base) || base === "." || base === "..") {
    throw new NftInputError(`invalid interface name ${JSON.stringify(name)}`);
  }
}

/** Decodes one value of type `t` from exactly its bytes. */
export function decodeValue(t: NftDataType, b: Buffer): NftValue {
  switch (t) {
    case "ipv4_addr":
    case "ipv6_addr":
      return formatIp(ipFromBytes(b));
    case "ether_addr":
      return formatMac(b);
    case "inet_proto":
      return protocolName(b[0]!);
    case "inet_service":
      return b.readUInt16BE(0);
    case "mark":
      return b.readUInt32LE(0);
    case "ifname": {
      const nul = b.indexOf(0);
      return b.toString("latin1", 0, nul < 0 ? b.length : nul);
    }
    case "integer":
      return `0x${b.toString("hex")}`;
  }
}

/** A decoded inclusive range as a value: single, prefix (`a/n`) for addresses, else `a-b`. */
export function decodeRange(t: NftDataType, start: Buffer, end: Buffer): NftValue {
  if (start.equals(end)) return decodeValue(t, start);
  if (t === "ipv4_addr" || t === "ipv6_addr") {
    const len = prefixLenOfRange(start, end);
    if (len !== undefined) return `${decodeValue(t, start)}/${len}`;
  }
  return `${decodeValue(t, start)}-${decodeValue(t, end)}`;
}

/** n if [start, end] is exactly an n-bit prefix. */
function prefixLenOfRange(start: Buffer, end: Buffer): number | undefined {
  const bits = start.length * 8;
  let p = 0;
  while (p < bits && bitAt(start, p) === bitAt(end, p)) p++;
  for (let i = p; i < bits; i++) if (bitAt(start, i) !== 0 || bitAt(end, i) !== 1) return undefined;
  return p;
}

const bitAt = (b: Buffer, i: number): number => (b[i >> 3]! >> (7 - (i & 7))) & 1;

/** The length of each member of a (concatenated) value, and where it sits. */
export function fieldLayout(types: readonly NftDataType[], totalLen?: number): { type: NftDataType; offset: number; len: number }[] {
  if (types.length === 1) return [{ type: types[0]!, offset: 0, len: totalLen ?? DATA_TYPES[types[0]!].len }];
  let offset = 0;
  return types.map((type) => {
    const f = { type, offset, len: DATA_TYPES[type].len };
    offset += alignedLen(type);
    return f;
  });
}
