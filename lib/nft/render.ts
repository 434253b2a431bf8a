import { formatIp, ipFromBytes } from "../ip/address.ts";
import { formatMac } from "../ip/mac.ts";
import {
  NF_CT_STATE_ESTABLISHED_BIT,
  NF_CT_STATE_INVALID_BIT,
  NF_CT_STATE_NEW_BIT,
  NF_CT_STATE_RELATED_BIT,
  NF_CT_STATE_UNTRACKED_BIT,
  NFPROTO_IPV4,
  NFPROTO_IPV6,
} from "./constants.ts";
import { formatVerdict } from "./data.ts";
import { protocolName } from "./datatypes.ts";
import type { Expr } from "./expr/index.ts";
import type { NatExpr } from "./expr/nat.ts";
import type { PayloadExpr } from "./expr/payload.ts";
import { slotOfReg, slotsFor } from "./registers.ts";
import type { NftConnection } from "./connection.ts";
import { formatElement } from "./elements.ts";
import type { NftChain, NftFamily, NftRule, NftSet } from "./types.ts";

// Renders expressions as nft text by tracking what each register holds, as `nft` does when it
// lists rules. Patterns we do not recognise fall back to nft's raw forms (`@nh,96,32`, hex data).

/** How to print the bytes a register holds. */
type Kind =
  | "ipv4"
  | "ipv6"
  | "port"
  | "proto"
  | "nfproto"
  | "ethertype"
  | "ifname"
  | "mark"
  | "ctstate"
  | "ctstatus"
  | "fibtype"
  | "ether"
  | "hex";

interface RegValue {
  text: string;
  kind: Kind;
  /** Bytes of the whole field; a load of fewer bytes is a prefix (`ip saddr 10.1.0.0/16`). */
  fieldLen: number;
  len: number;
  /** A bitwise AND applied since the load. */
  mask?: Buffer;
  /** Bytes loaded by an immediate (NAT arguments, `meta mark set`). */
  imm?: Buffer;
  /** The data of a map lookup (`ip daddr map @m`). */
  isMap?: boolean;
}

interface Context {
  family: NftFamily;
  /** Network protocol known from the table family or an earlier `meta nfproto` match. */
  l3?: "ip" | "ip6";
}

export function renderExprs(family: NftFamily, exprs: readonly Expr[]): string {
  const ctx: Context = { family };
  if (family === "ip") ctx.l3 = "ip";
  if (family === "ip6") ctx.l3 = "ip6";
  const regs = new Map<number, RegValue>();
  const out: string[] = [];
  const take = (reg: number): RegValue | undefined => {
    const slot = safeSlot(reg);
    const v = slot === undefined ? undefined : regs.get(slot);
    if (slot !== undefined) regs.delete(slot);
    return v;
  };
  const put = (reg: number, v: RegValue): void => {
    const slot = safeSlot(reg);
    if (slot !== undefined) regs.set(slot, v);
  };
  for (const x of exprs) {
    switch (x.type) {
      case "payload":
        put(x.dreg, payloadValue(x, ctx));
        break;
      case "meta":
        if (x.dreg !== undefined) put(x.dreg, metaValue(x.key));
        else out.push(`meta ${x.key} set ${valueText(take(x.sreg!), metaValue(x.key).kind)}`);
        break;
      case "ct":
        put(x.dreg, ctValue(x.key, x.direction));
        break;
      case "fib": {
        const fields = x.flags.filter((f) => f !== "present");
        const head = fields.filter((f) => f === "saddr" || f === "daddr").join(" . ");
        const rest = fields.filter((f) => f !== "saddr" && f !== "daddr");
        const text = `fib ${[head, ...rest].filter(Boolean).join(" . ")} ${x.result}`;
        put(x.dreg, { text, kind: x.result === "type" ? "fibtype" : x.result === "oifname" ? "ifname" : "hex", fieldLen: 4, len: 4 });
        break;
      }
      case "bitwise": {
        const src = take(x.sreg);
        if (src && x.xor.every((b) => b === 0)) put(x.dreg, { ...src, mask: x.mask });
        else put(x.dreg, { text: `(${src?.text ?? "?"} & 0x${x.mask.toString("hex")}) ^ 0x${x.xor.toString("hex")}`, kind: "hex", fieldLen: x.len, len: x.len });
        break;
      }
      case "immediate":
        put(x.dreg, { text: `0x${x.data.toString("hex")}`, kind: "hex", fieldLen: x.data.length, len: x.data.length, imm: x.data });
        break;
      case "cmp": {
        const src = take(x.sreg);
        if (src?.kind === "nfproto" && x.op === "eq") ctx.l3 = x.data[0] === NFPROTO_IPV4 ? "ip" : x.data[0] === NFPROTO_IPV6 ? "ip6" : undefined;
        if (src?.kind === "ethertype" && x.op === "eq") ctx.l3 = x.data.readUInt16BE(0) === 0x0800 ? "ip" : x.data.readUInt16BE(0) === 0x86dd ? "ip6" : undefined;
        out.push(cmpText(src, x.op, x.data));
        break;
      }
      case "range": {
        const src = take(x.sreg);
        const kind = src?.kind ?? "hex";
        out.push(`${src?.text ?? "?"} ${x.op === "neq" ? "!= " : ""}${formatData(kind, x.from)}-${formatData(kind, x.to)}`);
        break;
      }
      case "lookup": {
        const key = takeConcat(regs, x.sreg);
        if (x.dreg === undefined) out.push(`${key} ${x.invert ? "!= " : ""}@${x.set}`);
        else if (x.dreg === 0) out.push(`${key} vmap @${x.set}`);
        else put(x.dreg, { text: `${key} map @${x.set}`, kind: "hex", fieldLen: 0, len: 0, isMap: true });
        break;
      }
      case "nat":
        out.push(natText(x, ctx, take));
        break;
      case "masq": {
        const port = x.protoMin !== undefined ? take(x.protoMin) : undefined;
        const portMax = x.protoMax !== undefined ? take(x.protoMax) : undefined;
        const to = port ? ` to :${portText(port)}${portMax ? `-${portText(portMax)}` : ""}` : "";
        out.push(`masquerade${to}${x.flags?.length ? ` ${x.flags.join(",")}` : ""}`);
        break;
      }
      case "counter":
        out.push(x.packets !== undefined || x.bytes !== undefined ? `counter packets ${x.packets ?? 0n} bytes ${x.bytes ?? 0n}` : "counter");
        break;
      case "verdict":
        out.push(formatVerdict(x.verdict));
        break;
      case "unknown":
        out.push(`# ${x.name}`);
        break;
    }
  }
  return out.join(" ");
}

const safeSlot = (reg: number): number | undefined => {
  try {
    return slotOfReg(reg);
  } catch {
    return undefined;
  }
};

/** The key of a lookup: the value at `reg` and the values concatenated after it. */
function takeConcat(regs: Map<number, RegValue>, reg: number): string {
  let slot = safeSlot(reg);
  const parts: string[] = [];
  while (slot !== undefined && regs.has(slot)) {
    const v = regs.get(slot)!;
    regs.delete(slot);
    parts.push(v.text);
    slot += slotsFor(v.len);
  }
  return parts.join(" . ") || "?";
}

interface Field {
  text: string;
  kind: Kind;
  len: number;
}

const IP_FIELDS: Record<number, Field> = { 9: { text: "ip protocol", kind: "proto", len: 1 }, 12: { text: "ip saddr", kind: "ipv4", len: 4 }, 16: { text: "ip daddr", kind: "ipv4", len: 4 } };
const IP6_FIELDS: Record<number, Field> = { 6: { text: "ip6 nexthdr", kind: "proto", len: 1 }, 8: { text: "ip6 saddr", kind: "ipv6", len: 16 }, 24: { text: "ip6 daddr", kind: "ipv6", len: 16 } };
const TH_FIELDS: Record<number, Field> = { 0: { text: "th sport", kind: "port", len: 2 }, 2: { text: "th dport", kind: "port", len: 2 } };
const ETHER_FIELDS: Record<number, Field> = { 0: { text: "ether daddr", kind: "ether", len: 6 }, 6: { text: "ether saddr", kind: "ether", len: 6 }, 12: { text: "ether type", kind: "ethertype", len: 2 } };
const RAW_BASES = { ll: "@ll", network: "@nh", transport: "@th", inner: "@ih" } as const;

function payloadValue(x: PayloadExpr, ctx: Context): RegValue {
  const table =
    x.base === "network" ? (ctx.l3 === "ip" ? IP_FIELDS : ctx.l3 === "ip6" ? IP6_FIELDS : undefined) : x.base === "transport" ? TH_FIELDS : x.base === "ll" ? ETHER_FIELDS : undefined;
  const f = table?.[x.offset];
  // Addresses may be loaded partially: nft loads only the bytes a byte-aligned prefix covers.
  if (f && (x.len === f.len || ((f.kind === "ipv4" || f.kind === "ipv6") && x.len < f.len))) return { text: f.text, kind: f.kind, fieldLen: f.len, len: x.len };
  return { text: `${RAW_BASES[x.base]},${x.offset * 8},${x.len * 8}`, kind: "hex", fieldLen: x.len, len: x.len };
}

function metaValue(key: string): RegValue {
  const kinds: Record<string, [Kind, number]> = {
    iifname: ["ifname", 16],
    oifname: ["ifname", 16],
    l4proto: ["proto", 1],
    nfproto: ["nfproto", 1],
    protocol: ["ethertype", 2],
    mark: ["mark", 4],
  };
  const [kind, len] = kinds[key] ?? ["hex", 4];
  // nft prints these keys without the `meta` keyword.
  const bare = ["iifname", "oifname", "iif", "oif", "skuid", "skgid"].includes(key);
  return { text: bare ? key : `meta ${key}`, kind, fieldLen: len, len };
}

function ctValue(key: string, direction?: string): RegValue {
  const kind: Kind = key === "state" ? "ctstate" : key === "status" ? "ctstatus" : key === "mark" ? "mark" : "hex";
  return { text: `ct ${direction ? `${direction} ` : ""}${key}`, kind, fieldLen: 4, len: 4 };
}

const CMP_SYMBOLS = { eq: "", neq: "!= ", lt: "< ", lte: "<= ", gt: "> ", gte: ">= " } as const;

function cmpText(src: RegValue | undefined, op: keyof typeof CMP_SYMBOLS, data: Buffer): string {
  if (!src) return `? ${CMP_SYMBOLS[op]}0x${data.toString("hex")}`;
  const { mask } = src;
  // `ct state established,related`: any of the mask bits set.
  if (mask && (src.kind === "ctstate" || src.kind === "ctstatus") && op === "neq" && data.every((b) => b === 0)) {
    return `${src.text} ${formatData(src.kind, mask)}`;
  }
  if (src.kind === "ipv4" || src.kind === "ipv6") {
    const prefix = mask ? maskPrefixLength(mask) : src.len < src.fieldLen ? src.len * 8 : undefined;
    if (prefix !== undefined || !mask) {
      const full = Buffer.alloc(src.fieldLen);
      data.copy(full);
      return `${src.text} ${CMP_SYMBOLS[op]}${formatData(src.kind, full)}${prefix !== undefined ? `/${prefix}` : ""}`;
    }
  }
  if (mask) return `${src.text} & 0x${mask.toString("hex")} ${op === "eq" ? "==" : CMP_SYMBOLS[op].trim()} 0x${data.toString("hex")}`;
  if (src.kind === "ctstate" || src.kind === "ctstatus") return `${src.text} ${op === "eq" ? "== " : CMP_SYMBOLS[op]}${formatData(src.kind, data)}`;
  if (src.kind === "ifname" && data.length < 16 && !data.includes(0)) return `${src.text} ${CMP_SYMBOLS[op]}"${data.toString("latin1")}*"`;
  return `${src.text} ${CMP_SYMBOLS[op]}${formatData(src.kind, data)}`;
}

/** n when mask is n leading one bits. */
function maskPrefixLength(mask: Buffer): number | undefined {
  let n = 0;
  while (n < mask.length * 8 && (mask[n >> 3]! >> (7 - (n & 7))) & 1) n++;
  for (let i = n; i < mask.length * 8; i++) if ((mask[i >> 3]! >> (7 - (i & 7))) & 1) return undefined;
  return n;
}

const CT_STATES: [number, string][] = [
  [NF_CT_STATE_INVALID_BIT, "invalid"],
  [NF_CT_STATE_ESTABLISHED_BIT, "established"],
  [NF_CT_STATE_RELATED_BIT, "related"],
  [NF_CT_STATE_NEW_BIT, "new"],
  [NF_CT_STATE_UNTRACKED_BIT, "untracked"],
];
const CT_STATUSES: [number, string][] = [[1, "expected"], [2, "seen-reply"], [4, "assured"], [8, "confirmed"], [16, "snat"], [32, "dnat"], [512, "dying"]];
// RTN_* route types (linux/rtnetlink.h), by value.
const FIB_TYPES = ["unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit"];

function bitNames(table: [number, string][], v: number): string {
  const names = table.filter(([bit]) => v & bit).map(([, n]) => n);
  const known = table.reduce((m, [bit]) => m | bit, 0);
  if (v & ~known) names.push(`0x${(v & ~known).toString(16)}`);
  return names.join(",") || "0x0";
}

function formatData(kind: Kind, b: Buffer): string {
  switch (kind) {
    case "ipv4":
    case "ipv6":
      return b.length === 4 || b.length === 16 ? formatIp(ipFromBytes(b)) : `0x${b.toString("hex")}`;
    case "port":
      return b.length === 2 ? String(b.readUInt16BE(0)) : `0x${b.toString("hex")}`;
    case "proto":
      return String(protocolName(b[0]!));
    case "nfproto":
      return b[0] === NFPROTO_IPV4 ? "ipv4" : b[0] === NFPROTO_IPV6 ? "ipv6" : String(b[0]);
    case "ethertype":
      return b.length !== 2 ? `0x${b.toString("hex")}` : b.readUInt16BE(0) === 0x0800 ? "ip" : b.readUInt16BE(0) === 0x86dd ? "ip6" : `0x${b.toString("hex")}`;
    case "ifname": {
      const nul = b.indexOf(0);
      return `"${b.toString("latin1", 0, nul < 0 ? b.length : nul)}"`;
    }
    case "mark":
      return b.length === 4 ? `0x${b.readUInt32LE(0).toString(16).padStart(8, "0")}` : `0x${b.toString("hex")}`;
    case "ctstate":
      return bitNames(CT_STATES, b.readUInt32LE(0));
    case "ctstatus":
      return bitNames(CT_STATUSES, b.readUInt32LE(0));
    case "fibtype": {
      const v = b.readUInt32LE(0);
      return FIB_TYPES[v] ?? String(v);
    }
    case "ether":
      return formatMac(b);
    case "hex":
      return `0x${b.toString("hex")}`;
  }
}

function valueText(v: RegValue | undefined, kind: Kind): string {
  if (!v) return "?";
  return v.imm ? formatData(kind, v.imm) : v.text;
}

const portText = (v: RegValue): string => (v.imm && v.imm.length === 2 ? String(v.imm.readUInt16BE(0)) : v.text);

function natText(x: NatExpr, ctx: Context, take: (reg: number) => RegValue | undefined): string {
  const addr = x.addrMin !== undefined ? take(x.addrMin) : undefined;
  const addrMax = x.addrMax !== undefined ? take(x.addrMax) : undefined;
  const flags = x.flags?.length ? ` ${x.flags.join(",")}` : "";
  const kind: Kind = x.family === "ip" ? "ipv4" : "ipv6";
  if (addr?.isMap) {
    // A map to `addr . port`: the port register follows the address.
    const concat = x.protoMin !== undefined;
    if (concat) take(x.protoMin!);
    return `${x.natType} ${concat || ctx.family === "inet" ? `${x.family} ` : ""}to ${addr.text}${flags}`;
  }
  const port = x.protoMin !== undefined ? take(x.protoMin) : undefined;
  const portMax = x.protoMax !== undefined ? take(x.protoMax) : undefined;
  let to = addr ? valueText(addr, kind) : "";
  if (addrMax) to += `-${valueText(addrMax, kind)}`;
  if (port) {
    if (x.family === "ip6" && addr) to = `[${to}]`;
    to += `:${portText(port)}${portMax ? `-${portText(portMax)}` : ""}`;
  }
  return `${x.natType} ${ctx.family === "inet" ? `${x.family} ` : ""}to ${to}${flags}`;
}

/** `type nat hook postrouting priority 100; policy accept;` (empty for a regular chain). */
export function chainSpec(c: NftChain): string {
  if (c.hook === undefined) return "";
  return `type ${c.type} hook ${c.hook} priority ${c.priority};${c.policy ? ` policy ${c.policy};` : ""}`;
}

const typesText = (t: string | string[]): string => (Array.isArray(t) ? t.join(" . ") : t);
const typesLine = (s: NftSet): string => `type ${typesText(s.key)}${s.data !== undefined ? ` : ${typesText(s.data)}` : ""}`;

/** `type ipv4_addr . inet_service : ipv4_addr; flags interval;` */
export function setSpec(s: NftSet): string {
  return `${typesLine(s)};${s.interval ? " flags interval;" : ""}`;
}

export const setWord = (s: Partial<NftSet>): string => (s.data !== undefined ? "map" : "set");

/** A rule's statements and comment, as `nft list` prints them (without the handle). */
export function ruleText(r: Pick<NftRule, "family" | "exprs" | "comment">): string {
  const body = renderExprs(r.family, r.exprs);
  return r.comment !== undefined ? `${body} comment "${r.comment}"` : body;
}

/**
 * The ruleset as `nft list ruleset` prints it, from a connection's listings (sets before chains;
 * elements sorted, no handles; numeric priorities).
 */
export function renderRuleset(conn: NftConnection): string {
  return conn
    .listTables()
    .map((t) => {
      const blocks: string[] = [];
      for (const s of conn.listSets(t.family, t.name)) {
        const lines = [`\t${setWord(s)} ${s.name} {`, `\t\t${typesLine(s)}`];
        if (s.interval) lines.push("\t\tflags interval");
        const elements = conn.listElements(s).map(formatElement).sort();
        if (elements.length) lines.push(`\t\telements = { ${elements.join(", ")} }`);
        blocks.push([...lines, "\t}"].join("\n"));
      }
      for (const c of conn.listChains(t.family, t.name)) {
        const spec = chainSpec(c);
        const rules = conn.listRules(t.family, t.name, c.name).map((r) => `\t\t${ruleText(r)}`);
        blocks.push([`\tchain ${c.name} {`, ...(spec ? [`\t\t${spec}`] : []), ...rules, "\t}"].join("\n"));
      }
      return `table ${t.family} ${t.name} {\n${blocks.join("\n\n")}${blocks.length ? "\n" : ""}}`;
    })
    .join("\n");
}
