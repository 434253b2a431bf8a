import { ipToBytes, maskOf, networkOf, parseIp, parsePrefix, bitsOf, type IpAddress, type IpPrefix } from "../ip/address.ts";
import {
  IPS_DST_NAT,
  NF_CT_STATE_ESTABLISHED_BIT,
  NF_CT_STATE_RELATED_BIT,
  NFPROTO_IPV4,
  NFPROTO_IPV6,
  NFT_REG_1,
} from "./constants.ts";
import { RTN_LOCAL } from "../rtnl/constants.ts";
import { checkIfname, ifnameBytes, protocolNumber, type L4Proto } from "./datatypes.ts";
import { NftInputError } from "./errors.ts";
import type { Expr } from "./expr/index.ts";
import { regForSlot } from "./registers.ts";

// Intent-level building blocks for rules: each returns the expressions `nft` generates for the text
// in its doc comment (in an ip/ip6 table; in inet tables start with matchNfproto). Combine by
// spreading: exprs: [...matchSaddr("10.1.0.0/16"), ...matchNotDaddr("10.1.0.0/16"), ...masquerade()].

const REG = NFT_REG_1;

/** `meta nfproto ipv4` / `meta nfproto ipv6`: needed before address matches in inet tables. */
export function matchNfproto(family: 4 | 6): Expr[] {
  return [
    { type: "meta", key: "nfproto", dreg: REG },
    { type: "cmp", op: "eq", sreg: REG, data: Buffer.of(family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6) },
  ];
}

/** `ip saddr 10.1.2.0/24` (`ip6 saddr ...` for IPv6; a bare address matches exactly). */
export const matchSaddr = (prefix: string | IpPrefix): Expr[] => matchAddress("saddr", prefix, "eq");
/** `ip saddr != 10.1.2.0/24` */
export const matchNotSaddr = (prefix: string | IpPrefix): Expr[] => matchAddress("saddr", prefix, "neq");
/** `ip daddr 10.1.2.0/24` */
export const matchDaddr = (prefix: string | IpPrefix): Expr[] => matchAddress("daddr", prefix, "eq");
/** `ip daddr != 10.1.2.0/24` */
export const matchNotDaddr = (prefix: string | IpPrefix): Expr[] => matchAddress("daddr", prefix, "neq");

function matchAddress(field: "saddr" | "daddr", input: string | IpPrefix, op: "eq" | "neq"): Expr[] {
  const p = toPrefix(input);
  const family = p.address.family;
  const full = family === 4 ? 4 : 16;
  const offset = family === 4 ? (field === "saddr" ? 12 : 16) : field === "saddr" ? 8 : 24;
  if (p.prefixLength === 0) throw new NftInputError(`${field} ${formatInput(input)}: a /0 prefix matches every address; leave the match out`);
  const net = ipToBytes(networkOf(p));
  // Like nft: a byte-aligned prefix loads only its bytes; otherwise load all and mask.
  if (p.prefixLength % 8 === 0) {
    const len = p.prefixLength / 8;
    return [
      { type: "payload", base: "network", offset, len, dreg: REG },
      { type: "cmp", op, sreg: REG, data: net.subarray(0, len) },
    ];
  }
  return [
    { type: "payload", base: "network", offset, len: full, dreg: REG },
    { type: "bitwise", sreg: REG, dreg: REG, len: full, mask: ipToBytes({ family, value: maskOf(family, p.prefixLength) }), xor: Buffer.alloc(full) },
    { type: "cmp", op, sreg: REG, data: net },
  ];
}

function toPrefix(input: string | IpPrefix): IpPrefix {
  if (typeof input !== "string") return input;
  try {
    if (input.includes("/")) return parsePrefix(input);
    const address = parseIp(input);
    return { address, prefixLength: bitsOf(address.family) };
  } catch {
    throw new NftInputError(`invalid address or prefix ${JSON.stringify(input)}`);
  }
}

const formatInput = (input: string | IpPrefix): string => (typeof input === "string" ? input : JSON.stringify(input));

/** `iifname "eth0"`; a trailing `*` matches a prefix (`iifname "veth*"`). */
export const matchIifname = (name: string): Expr[] => matchIfname("iifname", name, "eq");
/** `iifname != "eth0"` */
export const matchNotIifname = (name: string): Expr[] => matchIfname("iifname", name, "neq");
/** `oifname "br0"` */
export const matchOifname = (name: string): Expr[] => matchIfname("oifname", name, "eq");
/** `oifname != "br0"` */
export const matchNotOifname = (name: string): Expr[] => matchIfname("oifname", name, "neq");

function matchIfname(key: "iifname" | "oifname", name: string, op: "eq" | "neq"): Expr[] {
  checkIfname(name, true);
  const data = name.endsWith("*") ? Buffer.from(name.slice(0, -1), "latin1") : ifnameBytes(name);
  return [
    { type: "meta", key, dreg: REG },
    { type: "cmp", op, sreg: REG, data },
  ];
}

/** `meta l4proto tcp` */
export function matchL4proto(proto: L4Proto): Expr[] {
  if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") throw new NftInputError(`invalid l4proto ${JSON.stringify(proto)}`);
  return [
    { type: "meta", key: "l4proto", dreg: REG },
    { type: "cmp", op: "eq", sreg: REG, data: Buffer.of(protocolNumber(proto)) },
  ];
}

/** `th dport 8080`: the transport header's destination port (match the l4proto first). */
export function matchDport(port: number): Expr[] {
  return [
    { type: "payload", base: "transport", offset: 2, len: 2, dreg: REG },
    { type: "cmp", op: "eq", sreg: REG, data: portBytes(port) },
  ];
}

function portBytes(port: number): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NftInputError(`invalid port ${JSON.stringify(port)}`);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port);
  return b;
}

/** `fib daddr type local`: the destination is an address of this host. */
export function matchFibDaddrLocal(): Expr[] {
  const local = Buffer.alloc(4);
  local.writeUInt32LE(RTN_LOCAL); // host byte order
  return [
    { type: "fib", flags: ["daddr"], result: "type", dreg: REG },
    { type: "cmp", op: "eq", sreg: REG, data: local },
  ];
}

/** `ct state established,related` */
export function matchCtStateEstablishedRelated(): Expr[] {
  const mask = Buffer.alloc(4);
  mask.writeUInt32LE(NF_CT_STATE_ESTABLISHED_BIT | NF_CT_STATE_RELATED_BIT); // host byte order
  return [
    { type: "ct", key: "state", dreg: REG },
    { type: "bitwise", sreg: REG, dreg: REG, len: 4, mask, xor: Buffer.alloc(4) },
    { type: "cmp", op: "neq", sreg: REG, data: Buffer.alloc(4) },
  ];
}

/** `ct status dnat`: the connection's destination was rewritten (by any DNAT rule). */
export function matchCtStatusDnat(): Expr[] {
  const mask = Buffer.alloc(4);
  mask.writeUInt32LE(IPS_DST_NAT); // host byte order
  return [
    { type: "ct", key: "status", dreg: REG },
    { type: "bitwise", sreg: REG, dreg: REG, len: 4, mask, xor: Buffer.alloc(4) },
    { type: "cmp", op: "neq", sreg: REG, data: Buffer.alloc(4) },
  ];
}

/**
 * `ip saddr . ip daddr @set` (`ip6 ...` for family 6): the address pair is in the set, whose type
 * is `ipv4_addr . ipv4_addr` (with `flags interval`, elements may be prefixes: `10.0.0.0/24 . 10.0.0.5`).
 */
export function matchAddressPairIn(set: string, family: 4 | 6): Expr[] {
  const alen = family === 4 ? 4 : 16;
  return [
    { type: "payload", base: "network", offset: family === 4 ? 12 : 8, len: alen, dreg: REG },
    { type: "payload", base: "network", offset: family === 4 ? 16 : 24, len: alen, dreg: regForSlot(alen / 4) },
    { type: "lookup", set, sreg: REG },
  ];
}

/** `masquerade` */
export function masquerade(): Expr[] {
  return [{ type: "masq" }];
}

/** `dnat to 10.88.0.5:80` (`dnat to [fd00::5]:80`; without a port, `dnat to 10.88.0.5`). */
export function dnatTo(ip: string | IpAddress, port?: number): Expr[] {
  let addr: IpAddress;
  try {
    addr = typeof ip === "string" ? parseIp(ip) : ip;
  } catch {
    throw new NftInputError(`invalid DNAT address ${JSON.stringify(ip)}`);
  }
  const family = addr.family === 4 ? "ip" : "ip6";
  const out: Expr[] = [{ type: "immediate", dreg: REG, data: ipToBytes(addr) }];
  if (port === undefined) return [...out, { type: "nat", natType: "dnat", family, addrMin: REG }];
  out.push({ type: "immediate", dreg: NFT_REG_1 + 1, data: portBytes(port) });
  return [...out, { type: "nat", natType: "dnat", family, addrMin: REG, protoMin: NFT_REG_1 + 1 }];
}

/**
 * `dnat ip to ip daddr . meta l4proto . th dport map @hostports`: DNAT to the `addr . port` the map
 * holds for (destination address, protocol, destination port). The map's type must be
 * `ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service` (ipv6_addr for family 6).
 */
export function dnatViaMap(map: string, family: 4 | 6): Expr[] {
  const alen = family === 4 ? 4 : 16;
  const addrSlots = alen / 4;
  const l4Reg = regForSlot(addrSlots);
  const portReg = regForSlot(addrSlots + 1);
  return [
    { type: "payload", base: "network", offset: family === 4 ? 16 : 24, len: alen, dreg: REG },
    { type: "meta", key: "l4proto", dreg: l4Reg },
    { type: "payload", base: "transport", offset: 2, len: 2, dreg: portReg },
    { type: "lookup", set: map, sreg: REG, dreg: REG },
    // The looked-up data is `addr . port`: the port sits in the slot after the address.
    { type: "nat", natType: "dnat", family: family === 4 ? "ip" : "ip6", addrMin: REG, protoMin: l4Reg },
  ];
}

/**
 * `dnat ip to meta l4proto . th dport map @hostports`: DNAT to the `addr . port` the map holds for
 * (protocol, destination port), whatever the destination address. The map's type must be
 * `inet_proto . inet_service : ipv4_addr . inet_service` (ipv6_addr for family 6).
 */
export function dnatViaPortMap(map: string, family: 4 | 6): Expr[] {
  const portReg = regForSlot(1);
  return [
    { type: "meta", key: "l4proto", dreg: REG },
    { type: "payload", base: "transport", offset: 2, len: 2, dreg: portReg },
    { type: "lookup", set: map, sreg: REG, dreg: REG },
    // The looked-up data is `addr . port`: the port sits in the slot after the address.
    { type: "nat", natType: "dnat", family: family === 4 ? "ip" : "ip6", addrMin: REG, protoMin: regForSlot(family === 4 ? 1 : 4) },
  ];
}

/** `counter` */
export function counter(): Expr[] {
  return [{ type: "counter" }];
}

/** `accept` */
export const accept = (): Expr[] => [{ type: "verdict", verdict: "accept" }];
/** `drop` */
export const drop = (): Expr[] => [{ type: "verdict", verdict: "drop" }];
/** `return` */
export const returnVerdict = (): Expr[] => [{ type: "verdict", verdict: "return" }];
/** `jump <chain>` */
export const jump = (chain: string): Expr[] => [{ type: "verdict", verdict: { jump: chain } }];
/** `goto <chain>` */
export const goTo = (chain: string): Expr[] => [{ type: "verdict", verdict: { goto: chain } }];
