export type Family = 4 | 6;

/** An IP address as family + integer value (BigInt keeps v4 and v6 arithmetic the same). */
export interface IpAddress {
  readonly family: Family;
  readonly value: bigint;
}

/** An address with a prefix length, as written `10.1.2.3/24` (host bits may be set). */
export interface IpPrefix {
  readonly address: IpAddress;
  readonly prefixLength: number;
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);
export const byteLengthOf = (family: Family): number => (family === 4 ? 4 : 16);

export class IpParseError extends Error {
  constructor(text: string, what = "IP address") {
    super(`invalid ${what} "${text}"`);
    this.name = "IpParseError";
  }
}

// Strict forms: no leading zeros in dotted quads (Go refuses them too), no zone index.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

// node:net's isIP would do, but importing node:net costs Bun ~10 ms of start-up.
export function parseIp(text: string): IpAddress {
  if (IPV4.test(text)) return { family: 4, value: parseIpv4(text) };
  const value = parseIpv6(text);
  if (value === undefined) throw new IpParseError(text);
  return { family: 6, value };
}

export function tryParseIp(text: string): IpAddress | undefined {
  try {
    return parseIp(text);
  } catch {
    return undefined;
  }
}

function parseIpv4(text: string): bigint {
  return text.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** RFC 4291 text forms, including `::` compression and a trailing dotted quad; undefined if invalid. */
function parseIpv6(text: string): bigint | undefined {
  let head = text;
  let tail: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (lastColon < 0) return undefined;
  if (text.includes(".")) {
    const quad = text.slice(lastColon + 1);
    if (!IPV4.test(quad)) return undefined;
    tail = parseIpv4(quad);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const split = (s: string | undefined): string[] => (s ? s.split(":") : []);
  const left = split(halves[0]);
  const right = split(halves[1]);
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...left, ...Array<string>(missing).fill("0"), ...right];
  if (!groups.every((g) => HEXTET.test(g))) return undefined;
  const value = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  return tail === undefined ? value : (value & ~0xffffffffn) | tail;
}

/** Canonical text: dotted quad, or RFC 5952 for IPv6 (what Go's net.IP.String prints). */
export function formatIp(ip: IpAddress): string {
  // Loops, not Array.from/map: JSC compiles such a builtin on its first call, and a plugin process
  // lives for one command, so it pays that every time (Array.from: ~0.2 ms).
  const v = ip.value;
  if (ip.family === 4) return `${(v >> 24n) & 0xffn}.${(v >> 16n) & 0xffn}.${(v >> 8n) & 0xffn}.${v & 0xffn}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(Number((v >> BigInt(112 - 16 * i)) & 0xffffn));
  // Go prints IPv4-mapped IPv6 as plain IPv4; CNI state files never hold those, so we keep RFC 5952.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number): string => {
    let s = "";
    for (let i = from; i < to; i++) s += `${i > from ? ":" : ""}${groups[i]!.toString(16)}`;
    return s;
  };
  return bestStart < 0 ? hex(0, 8) : `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

export function ipToBytes(ip: IpAddress): Buffer {
  const len = byteLengthOf(ip.family);
  const b = Buffer.alloc(len);
  let v = ip.value;
  for (let i = len - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

export function ipFromBytes(bytes: Uint8Array): IpAddress {
  if (bytes.length !== 4 && bytes.length !== 16) throw new IpParseError(Buffer.from(bytes).toString("hex"), "address bytes");
  const value = bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  return { family: bytes.length === 4 ? 4 : 6, value };
}

export function parsePrefix(text: string): IpPrefix {
  const slash = text.indexOf("/");
  if (slash < 0) throw new IpParseError(text, "CIDR");
  const address = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const prefixLength = Number(lenText);
  if (!/^\d{1,3}$/.test(lenText) || prefixLength > bitsOf(address.family)) throw new IpParseError(text, "CIDR");
  return { address, prefixLength };
}

export const formatPrefix = (p: IpPrefix): string => `${formatIp(p.address)}/${p.prefixLength}`;

export function maskOf(family: Family, prefixLength: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefixLength))) & all;
}

/** The network address of a prefix (host bits cleared). */
export function networkOf(p: IpPrefix): IpAddress {
  return { family: p.address.family, value: p.address.value & maskOf(p.address.family, p.prefixLength) };
}

/** The last address of a prefix (all host bits set). */
export function lastAddressOf(p: IpPrefix): IpAddress {
  const hostBits = ~maskOf(p.address.family, p.prefixLength) & ((1n << BigInt(bitsOf(p.address.family))) - 1n);
  return { family: p.address.family, value: networkOf(p).value | hostBits };
}

export function prefixContains(p: IpPrefix, ip: IpAddress): boolean {
  return p.address.family === ip.family && (ip.value & maskOf(ip.family, p.prefixLength)) === networkOf(p).value;
}

export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  return prefixContains(a, networkOf(b)) || prefixContains(b, networkOf(a));
}

export const sameIp = (a: IpAddress, b: IpAddress): boolean => a.family === b.family && a.value === b.value;

export function addToIp(ip: IpAddress, delta: bigint): IpAddress {
  return { family: ip.family, value: ip.value + delta };
}
