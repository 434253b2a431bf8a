import { AttributeEncoder, Attributes, listAttributes, NetlinkDecodeError } from "../netlink/attributes.ts";
import { NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL } from "../netlink/constants.ts";
import type { NetlinkMessage, OutgoingMessage } from "../netlink/socket.ts";
import {
  NFNETLINK_V0,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_ARP,
  NFPROTO_BRIDGE,
  NFPROTO_INET,
  NFPROTO_IPV4,
  NFPROTO_IPV6,
  NFPROTO_NETDEV,
  NFTA_CHAIN_HANDLE,
  NFTA_CHAIN_HOOK,
  NFTA_CHAIN_NAME,
  NFTA_CHAIN_POLICY,
  NFTA_CHAIN_TABLE,
  NFTA_CHAIN_TYPE,
  NFTA_HOOK_HOOKNUM,
  NFTA_HOOK_PRIORITY,
  NFTA_LIST_ELEM,
  NFTA_RULE_CHAIN,
  NFTA_RULE_EXPRESSIONS,
  NFTA_RULE_HANDLE,
  NFTA_RULE_POSITION,
  NFTA_RULE_TABLE,
  NFTA_RULE_USERDATA,
  NFTA_SET_DATA_LEN,
  NFTA_SET_DATA_TYPE,
  NFTA_SET_DESC,
  NFTA_SET_DESC_CONCAT,
  NFTA_SET_ELEM_DATA,
  NFTA_SET_ELEM_FLAGS,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_KEY_END,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_SET_ID,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_SET_FIELD_LEN,
  NFTA_SET_FLAGS,
  NFTA_SET_HANDLE,
  NFTA_SET_ID,
  NFTA_SET_KEY_LEN,
  NFTA_SET_KEY_TYPE,
  NFTA_SET_NAME,
  NFTA_SET_TABLE,
  NFTA_SET_USERDATA,
  NFTA_TABLE_FLAGS,
  NFTA_TABLE_HANDLE,
  NFTA_TABLE_NAME,
  NFTNL_UDATA_SET_DATABYTEORDER,
  NFTNL_UDATA_SET_DATA_INTERVAL,
  NFTNL_UDATA_SET_DATA_TYPEOF,
  NFTNL_UDATA_SET_KEYBYTEORDER,
  NFTNL_UDATA_SET_KEY_TYPEOF,
  NFT_BYTEORDER_INVALID,
  NFT_DATA_VERDICT,
  NFT_EXPR_CONCAT,
  NFT_MSG_DELCHAIN,
  NFT_MSG_DELRULE,
  NFT_MSG_DELSET,
  NFT_MSG_DELSETELEM,
  NFT_MSG_DELTABLE,
  NFT_MSG_DESTROYCHAIN,
  NFT_MSG_DESTROYRULE,
  NFT_MSG_DESTROYSET,
  NFT_MSG_DESTROYSETELEM,
  NFT_MSG_DESTROYTABLE,
  NFT_MSG_GETSETELEM,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_NEWRULE,
  NFT_MSG_NEWSET,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_NEWTABLE,
  NFT_SET_CONCAT,
  NFT_SET_INTERVAL,
  NFT_SET_MAP,
  NF_ACCEPT,
  NF_DROP,
  NF_INET_FORWARD,
  NF_INET_LOCAL_IN,
  NF_INET_LOCAL_OUT,
  NF_INET_POST_ROUTING,
  NF_INET_PRE_ROUTING,
  NFT_SET_ELEM_INTERVAL_END,
} from "./constants.ts";
import { putValue, putVerdict, readValue, readVerdict } from "./data.ts";
import { DATA_TYPES, typeId, typesLength, typesOfId, VERDICT_TYPE_ID, type NftDataType } from "./datatypes.ts";
import { dataTypes, keyTypes, type EncodedElement } from "./elements.ts";
import { decodeExprs, encodeExprs, type EncodeContext } from "./expr/index.ts";
import type { ChainHook, ChainPolicy, ChainType, NftChain, NftChainRef, NftFamily, NftRule, NftRuleRef, NftSet, NftSetRef, NftTable, NftTableRef } from "./types.ts";
import { decodeRuleComment, encodeRuleComment, encodeTlvs } from "./userdata.ts";

export type Verb = "add" | "create" | "insert" | "delete" | "destroy" | "flush";

/** Elements of one set, queued together; they go out as one message. */
export interface ElementBatch {
  kind: "elements";
  set: NftSet;
  items: EncodedElement[];
}

export type OpObject = NftTableRef | NftChain | NftChainRef | NftRule | NftRuleRef | NftSet | NftSetRef | ElementBatch;

/** One queued operation: one netlink message of the batch. */
export interface Op {
  verb: Verb;
  obj: OpObject;
}

/** Batch ids of the sets created in the transaction, by `family table name`. */
export type SetIds = ReadonlyMap<string, number>;
export const setKey = (family: NftFamily, table: string, name: string): string => `${family} ${table} ${name}`;

export const FAMILY_NUMBERS: Record<NftFamily, number> = {
  ip: NFPROTO_IPV4,
  ip6: NFPROTO_IPV6,
  inet: NFPROTO_INET,
  arp: NFPROTO_ARP,
  bridge: NFPROTO_BRIDGE,
  netdev: NFPROTO_NETDEV,
};

export function familyOf(n: number): NftFamily | undefined {
  return (Object.keys(FAMILY_NUMBERS) as NftFamily[]).find((f) => FAMILY_NUMBERS[f] === n);
}

const HOOKS: Record<ChainHook, number> = {
  prerouting: NF_INET_PRE_ROUTING,
  input: NF_INET_LOCAL_IN,
  forward: NF_INET_FORWARD,
  output: NF_INET_LOCAL_OUT,
  postrouting: NF_INET_POST_ROUTING,
};

export const nftMessageType = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/** struct nfgenmsg {family, version, res_id (big-endian)} */
export function nfgenmsg(family: number, resId = 0): Buffer {
  const b = Buffer.alloc(4);
  b[0] = family;
  b[1] = NFNETLINK_V0;
  b.writeUInt16BE(resId, 2);
  return b;
}

/** nf_tables integers are big-endian and nests carry NLA_F_NESTED, as libmnl writes them. */
function encoderFor(family: NftFamily): AttributeEncoder {
  const e = new AttributeEncoder("network", true, 512);
  return e.raw(nfgenmsg(FAMILY_NUMBERS[family]));
}

function message(msg: number, flags: number, e: AttributeEncoder): OutgoingMessage {
  return { type: nftMessageType(msg), flags: flags | NLM_F_ACK, body: e.finish() };
}

const DESTROY = { table: NFT_MSG_DESTROYTABLE, chain: NFT_MSG_DESTROYCHAIN, rule: NFT_MSG_DESTROYRULE, set: NFT_MSG_DESTROYSET, elements: NFT_MSG_DESTROYSETELEM };
const DELETE = { table: NFT_MSG_DELTABLE, chain: NFT_MSG_DELCHAIN, rule: NFT_MSG_DELRULE, set: NFT_MSG_DELSET, elements: NFT_MSG_DELSETELEM };
// What `nft` sends: NEWTABLE without NLM_F_CREATE, the others with it; `create` adds NLM_F_EXCL.
const NEW = { table: [NFT_MSG_NEWTABLE, 0], chain: [NFT_MSG_NEWCHAIN, NLM_F_CREATE], set: [NFT_MSG_NEWSET, NLM_F_CREATE], elements: [NFT_MSG_NEWSETELEM, NLM_F_CREATE] } as const;

/** The netlink message of one operation (without NLM_F_REQUEST, which the socket adds). */
export function encodeOp(op: Op, setIds: SetIds): OutgoingMessage {
  const { verb, obj } = op;
  const e = encoderFor(obj.kind === "elements" ? obj.set.family : obj.family);
  const removal = verb === "delete" || verb === "destroy" ? (verb === "delete" ? DELETE : DESTROY)[obj.kind] : undefined;
  switch (obj.kind) {
    case "table":
      if (verb === "flush") return message(NFT_MSG_DELRULE, 0, e.str(NFTA_RULE_TABLE, obj.name));
      e.str(NFTA_TABLE_NAME, obj.name);
      if (removal !== undefined) return message(removal, 0, e);
      return message(NEW.table[0], verb === "create" ? NLM_F_EXCL : 0, e.u32(NFTA_TABLE_FLAGS, 0));
    case "chain":
      if (verb === "flush") return message(NFT_MSG_DELRULE, 0, e.str(NFTA_RULE_TABLE, obj.table).str(NFTA_RULE_CHAIN, obj.name));
      e.str(NFTA_CHAIN_TABLE, obj.table).str(NFTA_CHAIN_NAME, obj.name);
      if (removal !== undefined) return message(removal, 0, e);
      encodeChainBody(e, obj as NftChain);
      return message(NEW.chain[0], NEW.chain[1] | (verb === "create" ? NLM_F_EXCL : 0), e);
    case "rule": {
      e.str(NFTA_RULE_TABLE, obj.table).str(NFTA_RULE_CHAIN, obj.chain);
      if (removal !== undefined) return message(removal, 0, e.u64(NFTA_RULE_HANDLE, BigInt(obj.handle!)));
      const rule = obj as NftRule;
      const ctx: EncodeContext = { setId: (name) => setIds.get(setKey(rule.family, rule.table, name)) };
      encodeExprs(e, NFTA_RULE_EXPRESSIONS, rule.exprs, ctx);
      if (rule.position !== undefined) e.u64(NFTA_RULE_POSITION, BigInt(rule.position));
      if (rule.comment !== undefined) e.bytes(NFTA_RULE_USERDATA, encodeRuleComment(rule.comment));
      return message(NFT_MSG_NEWRULE, verb === "insert" ? NLM_F_CREATE : NLM_F_CREATE | NLM_F_APPEND, e);
    }
    case "set":
      if (verb === "flush") return message(NFT_MSG_DELSETELEM, 0, e.str(NFTA_SET_ELEM_LIST_SET, obj.name).str(NFTA_SET_ELEM_LIST_TABLE, obj.table));
      e.str(NFTA_SET_TABLE, obj.table).str(NFTA_SET_NAME, obj.name);
      if (removal !== undefined) return message(removal, 0, e);
      encodeSetBody(e, obj as NftSet, setIds.get(setKey(obj.family, obj.table, obj.name)));
      return message(NEW.set[0], NEW.set[1] | (verb === "create" ? NLM_F_EXCL : 0), e);
    case "elements": {
      const { set } = obj;
      e.str(NFTA_SET_ELEM_LIST_TABLE, set.table).str(NFTA_SET_ELEM_LIST_SET, set.name);
      const id = setIds.get(setKey(set.family, set.table, set.name));
      if (id !== undefined) e.u32(NFTA_SET_ELEM_LIST_SET_ID, id);
      encodeElementList(e, set, obj.items);
      if (removal !== undefined) return message(removal, 0, e);
      return message(NEW.elements[0], NEW.elements[1] | (verb === "create" ? NLM_F_EXCL : 0), e);
    }
  }
}

/** NFT_MSG_GETSETELEM for one element, by its key (`nft get element <family> <table> <set> { <key> }`). */
export function encodeElementQuery(set: NftSet, item: EncodedElement): OutgoingMessage {
  const e = encoderFor(set.family).str(NFTA_SET_ELEM_LIST_TABLE, set.table).str(NFTA_SET_ELEM_LIST_SET, set.name);
  // A single-field interval is looked up by its start alone; concatenations need KEY_END too.
  const key: EncodedElement = keyTypes(set).length > 1 && item.keyEnd ? { key: item.key, keyEnd: item.keyEnd } : { key: item.key };
  encodeElementList(e, { ...set, interval: keyTypes(set).length > 1 && set.interval }, [key]);
  return message(NFT_MSG_GETSETELEM, 0, e);
}

function encodeChainBody(e: AttributeEncoder, c: NftChain): void {
  if (c.hook === undefined) return;
  e.str(NFTA_CHAIN_TYPE, c.type!);
  if (c.policy !== undefined) e.u32(NFTA_CHAIN_POLICY, c.policy === "accept" ? NF_ACCEPT : NF_DROP);
  e.nested(NFTA_CHAIN_HOOK, (h) => h.u32(NFTA_HOOK_HOOKNUM, HOOKS[c.hook!]).s32(NFTA_HOOK_PRIORITY, c.priority!));
}

function encodeSetBody(e: AttributeEncoder, s: NftSet, id: number | undefined): void {
  const key = keyTypes(s);
  const data = dataTypes(s);
  const concatInterval = s.interval === true && key.length > 1;
  let flags = 0;
  if (s.data !== undefined) flags |= NFT_SET_MAP;
  if (s.interval) flags |= NFT_SET_INTERVAL;
  if (concatInterval) flags |= NFT_SET_CONCAT;
  e.u32(NFTA_SET_FLAGS, flags).u32(NFTA_SET_KEY_TYPE, typeId(key)).u32(NFTA_SET_KEY_LEN, typesLength(key));
  if (s.data === "verdict") e.u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT).u32(NFTA_SET_DATA_LEN, 0);
  else if (data) e.u32(NFTA_SET_DATA_TYPE, typeId(data)).u32(NFTA_SET_DATA_LEN, typesLength(data));
  if (id !== undefined) e.u32(NFTA_SET_ID, id);
  // The pipapo backend needs the length of each member of an interval concatenation.
  if (concatInterval) {
    e.nested(NFTA_SET_DESC, (d) =>
      d.nested(NFTA_SET_DESC_CONCAT, (c) => {
        for (const t of key) c.nested(NFTA_LIST_ELEM, (f) => f.u32(NFTA_SET_FIELD_LEN, DATA_TYPES[t].len));
      }),
    );
  }
  e.bytes(NFTA_SET_USERDATA, setUserdata(s, key, data));
}

/** The userdata `nft` writes so that it can print the set: byte orders, concatenation markers. */
function setUserdata(s: NftSet, key: NftDataType[], data: NftDataType[] | undefined): Buffer {
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v); // host order, as libnftnl's nftnl_udata_put_u32
    return b;
  };
  const order = (types: NftDataType[] | undefined): number => (types?.length === 1 ? DATA_TYPES[types[0]!].order : NFT_BYTEORDER_INVALID);
  const concatTag = encodeTlvs([[0, u32(NFT_EXPR_CONCAT)], [1, Buffer.alloc(0)]]);
  const items: [number, Uint8Array][] = [[NFTNL_UDATA_SET_KEYBYTEORDER, u32(order(key))]];
  if (s.data !== undefined) items.push([NFTNL_UDATA_SET_DATABYTEORDER, u32(order(data))]);
  if (key.length > 1) items.push([NFTNL_UDATA_SET_KEY_TYPEOF, concatTag]);
  if (data && data.length > 1) items.push([NFTNL_UDATA_SET_DATA_TYPEOF, concatTag]);
  if (s.data !== undefined) items.push([NFTNL_UDATA_SET_DATA_INTERVAL, u32(0)]);
  return encodeTlvs(items);
}

/**
 * Interval sets with one key field hold [start, end) as two elements, the second flagged
 * INTERVAL_END (none when the range runs to the top of the type); concatenations use KEY_END.
 */
function encodeElementList(e: AttributeEncoder, set: NftSet, items: readonly EncodedElement[]): void {
  const single = keyTypes(set).length === 1;
  // libnftnl numbers the element nests 1, 2, 3...; the kernel ignores their type.
  let n = 0;
  e.nested(NFTA_SET_ELEM_LIST_ELEMENTS, (list) => {
    for (const el of items) {
      list.nested(++n, (x) => {
        putValue(x, NFTA_SET_ELEM_KEY, el.key);
        if (el.keyEnd && !single) putValue(x, NFTA_SET_ELEM_KEY_END, el.keyEnd);
        if (el.verdict !== undefined) putVerdict(x, NFTA_SET_ELEM_DATA, el.verdict);
        else if (el.value) putValue(x, NFTA_SET_ELEM_DATA, el.value);
      });
      const end = el.keyEnd && single ? increment(el.keyEnd) : undefined;
      if (end) list.nested(++n, (x) => putValue(x.u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END), NFTA_SET_ELEM_KEY, end));
    }
  });
}

/** bytes + 1 as a big-endian number, or undefined on overflow. */
function increment(b: Buffer): Buffer | undefined {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i]!++;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}

function decrement(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0) {
      out[i]!--;
      return out;
    }
    out[i] = 0xff;
  }
  return out;
}

// Decoding of dump replies.

function attrsOf(msg: NetlinkMessage): { family: NftFamily | undefined; a: Attributes } {
  if (msg.payload.length < 4) throw new NetlinkDecodeError("short nfgenmsg");
  return { family: familyOf(msg.payload[0]!), a: new Attributes(msg.payload.subarray(4), "network") };
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new NetlinkDecodeError(`missing ${what}`);
  return v;
};
const handleOf = (v: bigint | undefined): number | undefined => (v === undefined ? undefined : Number(v));

export function decodeTable(msg: NetlinkMessage): NftTable | undefined {
  const { family, a } = attrsOf(msg);
  if (!family) return undefined;
  return { kind: "table", family, name: need(a.str(NFTA_TABLE_NAME), "table name"), handle: handleOf(a.u64(NFTA_TABLE_HANDLE)) };
}

export function decodeChain(msg: NetlinkMessage): NftChain | undefined {
  const { family, a } = attrsOf(msg);
  if (!family) return undefined;
  const c: NftChain = { kind: "chain", family, table: need(a.str(NFTA_CHAIN_TABLE), "chain table"), name: need(a.str(NFTA_CHAIN_NAME), "chain name") };
  const hook = a.nested(NFTA_CHAIN_HOOK);
  if (hook) {
    const num = need(hook.u32(NFTA_HOOK_HOOKNUM), "hook number");
    c.type = need(a.str(NFTA_CHAIN_TYPE), "chain type") as ChainType;
    c.hook = (Object.keys(HOOKS) as ChainHook[]).find((h) => HOOKS[h] === num);
    c.priority = need(hook.s32(NFTA_HOOK_PRIORITY), "hook priority");
    const policy = a.u32(NFTA_CHAIN_POLICY);
    if (policy !== undefined) c.policy = (policy === NF_ACCEPT ? "accept" : "drop") satisfies ChainPolicy;
  }
  c.handle = handleOf(a.u64(NFTA_CHAIN_HANDLE));
  return c;
}

export function decodeRule(msg: NetlinkMessage): NftRule | undefined {
  const { family, a } = attrsOf(msg);
  if (!family) return undefined;
  const r: NftRule = {
    kind: "rule",
    family,
    table: need(a.str(NFTA_RULE_TABLE), "rule table"),
    chain: need(a.str(NFTA_RULE_CHAIN), "rule chain"),
    exprs: decodeExprs(a.bytes(NFTA_RULE_EXPRESSIONS) ?? Buffer.alloc(0)),
    handle: handleOf(a.u64(NFTA_RULE_HANDLE)),
  };
  const comment = decodeRuleComment(a.bytes(NFTA_RULE_USERDATA));
  if (comment !== undefined) r.comment = comment;
  return r;
}

export function decodeSet(msg: NetlinkMessage): NftSet | undefined {
  const { family, a } = attrsOf(msg);
  if (!family) return undefined;
  const flags = a.u32(NFTA_SET_FLAGS) ?? 0;
  const key = typesFor(a.u32(NFTA_SET_KEY_TYPE) ?? 0, need(a.u32(NFTA_SET_KEY_LEN), "set key length"));
  const s: NftSet = { kind: "set", family, table: need(a.str(NFTA_SET_TABLE), "set table"), name: need(a.str(NFTA_SET_NAME), "set name"), key: key.length === 1 ? key[0]! : key };
  if (flags & NFT_SET_MAP) {
    const dtype = a.u32(NFTA_SET_DATA_TYPE) ?? 0;
    if (dtype === NFT_DATA_VERDICT) s.data = "verdict";
    else {
      const data = typesFor(dtype, a.u32(NFTA_SET_DATA_LEN) ?? 0);
      s.data = data.length === 1 ? data[0]! : data;
    }
  }
  if (flags & NFT_SET_INTERVAL) s.interval = true;
  s.handle = handleOf(a.u64(NFTA_SET_HANDLE));
  return s;
}

/** Member types of a type id, or one opaque integer when they do not add up to `len`. */
function typesFor(id: number, len: number): NftDataType[] {
  const types = id === VERDICT_TYPE_ID ? ["integer" as const] : typesOfId(id);
  return types.includes("integer") || typesLength(types) !== len ? ["integer"] : types;
}

/** Elements of a GETSETELEM dump, with interval start/end pairs joined back into ranges. */
export function decodeElements(msgs: readonly NetlinkMessage[], set: NftSet): EncodedElement[] {
  const raw: { key: Buffer; keyEnd?: Buffer; flags: number; value?: Buffer; verdict?: EncodedElement["verdict"] }[] = [];
  for (const msg of msgs) {
    const { a } = attrsOf(msg);
    const list = a.bytes(NFTA_SET_ELEM_LIST_ELEMENTS);
    if (!list) continue;
    for (const el of listAttributes(list)) {
      const x = new Attributes(el.data, "network");
      const item: (typeof raw)[number] = { key: need(readValue(x, NFTA_SET_ELEM_KEY), "element key"), flags: x.u32(NFTA_SET_ELEM_FLAGS) ?? 0 };
      const keyEnd = readValue(x, NFTA_SET_ELEM_KEY_END);
      if (keyEnd) item.keyEnd = keyEnd;
      const value = readValue(x, NFTA_SET_ELEM_DATA);
      if (value) item.value = value;
      else if (x.has(NFTA_SET_ELEM_DATA)) item.verdict = readVerdict(x, NFTA_SET_ELEM_DATA);
      raw.push(item);
    }
  }
  const toElement = (r: (typeof raw)[number], keyEnd?: Buffer): EncodedElement => {
    const out: EncodedElement = { key: r.key };
    if (keyEnd) out.keyEnd = keyEnd;
    if (r.value) out.value = r.value;
    if (r.verdict !== undefined) out.verdict = r.verdict;
    return out;
  };
  if (!set.interval) return raw.map((r) => toElement(r));
  if (keyTypes(set).length > 1) return raw.map((r) => toElement(r, r.keyEnd ?? r.key));
  // Single-field intervals: sort by key; each start is closed by the end element after it.
  const endFirst = (x: (typeof raw)[number], y: (typeof raw)[number]): number => (y.flags & NFT_SET_ELEM_INTERVAL_END) - (x.flags & NFT_SET_ELEM_INTERVAL_END);
  const sorted = raw.sort((x, y) => Buffer.compare(x.key, y.key) || endFirst(x, y));
  const out: EncodedElement[] = [];
  sorted.forEach((r, i) => {
    if (r.flags & NFT_SET_ELEM_INTERVAL_END) return;
    const next = sorted[i + 1];
    const end = next && next.flags & NFT_SET_ELEM_INTERVAL_END ? decrement(next.key) : Buffer.alloc(r.key.length, 0xff);
    out.push(toElement(r, end));
  });
  return out;
}
