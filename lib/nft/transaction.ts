import type { OutgoingMessage } from "../netlink/socket.ts";
import { NFPROTO_IPV4, NFPROTO_IPV6 } from "./constants.ts";
import { checkSetTypes, elementText, encodeElement } from "./elements.ts";
import { NftInputError } from "./errors.ts";
import { checkExpr, type Expr } from "./expr/index.ts";
import { encodeOp, setKey, type ElementBatch, type Op, type OpObject, type Verb } from "./messages.ts";
import { chainSpec, ruleText, setSpec, setWord } from "./render.ts";
import type { NftChain, NftChainRef, NftElement, NftFamily, NftRule, NftRuleRef, NftSet, NftSetRef, NftTable, NftTableRef } from "./types.ts";
import { checkComment, checkFamily, checkHandle, checkName } from "./validate.ts";

const TYPES = ["filter", "nat", "route"];
const HOOKS = ["prerouting", "input", "forward", "output", "postrouting"];

/**
 * A set of nftables changes applied all or nothing by `commit` (one NFNL batch). Every operation is
 * validated when queued and throws NftInputError; `toString()` renders the batch as `nft -f` text.
 *
 *   const tx = new NftTransaction()
 *     .add({ kind: "table", family: "inet", name: "cni" })
 *     .add({ kind: "chain", family: "inet", table: "cni", name: "post", type: "nat", hook: "postrouting", priority: 100 })
 *     .add({ kind: "rule", family: "inet", table: "cni", chain: "post", exprs: [...matchNfproto(4), ...masquerade()], comment: "x" });
 *   conn.commit(tx);
 */
export class NftTransaction {
  private readonly ops: Op[] = [];
  private readonly setIds = new Map<string, number>();

  /** Number of messages the batch will hold. */
  get length(): number {
    return this.ops.length;
  }

  /** The queued operations, in order. */
  get operations(): readonly Op[] {
    return this.ops;
  }

  /**
   * `add table|chain|set|map|element|rule`: create if missing, else leave as is (elements: EEXIST
   * only if the key maps to other data). A rule is appended, or put after the rule `position`.
   */
  add(obj: NftTable | NftTableRef | NftChain | NftSet | NftElement | NftRule): this {
    return this.queue("add", obj);
  }

  /** `create ...`: like add, but EEXIST when it exists. */
  create(obj: NftTable | NftTableRef | NftChain | NftSet | NftElement): this {
    return this.queue("create", obj);
  }

  /** `insert rule`: prepended, or put before the rule `position`. */
  insert(rule: NftRule): this {
    return this.queue("insert", rule);
  }

  /** `delete ...`: ENOENT when missing; a table goes with everything in it; rules by handle (as listed). */
  delete(obj: NftTableRef | NftChainRef | NftSetRef | NftRuleRef | NftRule | NftElement): this {
    return this.queue("delete", obj);
  }

  /** `destroy ...`: delete, without an error when it is missing (Linux >= 6.3). */
  destroy(obj: NftTableRef | NftChainRef | NftSetRef | NftRuleRef | NftRule | NftElement): this {
    return this.queue("destroy", obj);
  }

  /** `flush table|chain|set`: delete all rules of the table or chain, all elements of the set. */
  flush(obj: NftTableRef | NftChainRef | NftSetRef): this {
    return this.queue("flush", obj);
  }

  /** This transaction less the operations `leaveOut` picks (its sets keep their batch ids). */
  without(leaveOut: (op: Op) => boolean): NftTransaction {
    const tx = new NftTransaction();
    tx.ops.push(...this.ops.filter((op) => !leaveOut(op)));
    for (const [key, id] of this.setIds) tx.setIds.set(key, id);
    return tx;
  }

  /** The batch's messages, without the NFNL_MSG_BATCH_BEGIN/END around them. */
  messages(): OutgoingMessage[] {
    return this.ops.map((op) => encodeOp(op, this.setIds));
  }

  /** nft text of operation `i` (one line of toString). */
  opText(i: number): string {
    const op = this.ops[i];
    return op ? renderOp(op) : "";
  }

  toString(): string {
    return this.ops.map(renderOp).join("\n");
  }

  private queue(verb: Verb, input: OpObject | NftElement): this {
    const obj = checked(verb, input);
    if (obj.kind === "elements") {
      const last = this.ops.at(-1);
      const key = setKey(obj.set.family, obj.set.table, obj.set.name);
      if (last && last.verb === verb && last.obj.kind === "elements" && setKey(last.obj.set.family, last.obj.set.table, last.obj.set.name) === key) {
        last.obj.items.push(...obj.items);
        return this;
      }
    }
    if (obj.kind === "set" && (verb === "add" || verb === "create")) {
      const key = setKey(obj.family, obj.table, obj.name);
      if (!this.setIds.has(key)) this.setIds.set(key, this.setIds.size + 1);
    }
    this.ops.push({ verb, obj });
    return this;
  }
}

const ALLOWED: Record<OpObject["kind"] | "element", readonly Verb[]> = {
  table: ["add", "create", "delete", "destroy", "flush"],
  chain: ["add", "create", "delete", "destroy", "flush"],
  set: ["add", "create", "delete", "destroy", "flush"],
  rule: ["add", "insert", "delete", "destroy"],
  element: ["add", "create", "delete", "destroy"],
  elements: [],
};

/** Validates `input` for `verb` and returns a private copy (callers may reuse their objects). */
function checked(verb: Verb, input: OpObject | NftElement): OpObject {
  const kind = (input as { kind?: unknown })?.kind;
  if (typeof kind !== "string" || !(kind in ALLOWED) || !ALLOWED[kind as keyof typeof ALLOWED].includes(verb)) {
    throw new NftInputError(`cannot ${verb} ${JSON.stringify(kind ?? input)}`);
  }
  const adding = verb === "add" || verb === "create" || verb === "insert";
  switch (input.kind) {
    case "table":
      checkFamily(input.family);
      checkName("table", input.name);
      return { kind: "table", family: input.family, name: input.name };
    case "chain": {
      checkFamily(input.family);
      checkName("table", input.table);
      checkName("chain", input.name);
      const c: NftChain = { kind: "chain", family: input.family, table: input.table, name: input.name };
      if (adding) Object.assign(c, checkedBaseChain(input as NftChain));
      return c;
    }
    case "rule": {
      checkFamily(input.family);
      checkName("table", input.table);
      checkName("chain", input.chain);
      if (!adding) {
        checkHandle("rule handle", input.handle);
        return { kind: "rule", family: input.family, table: input.table, chain: input.chain, handle: input.handle! };
      }
      return checkedRule(input as NftRule);
    }
    case "set": {
      checkFamily(input.family);
      checkName("table", input.table);
      checkName("set", input.name);
      if (!adding) return { kind: "set", family: input.family, table: input.table, name: input.name, ...("data" in input && input.data !== undefined ? { data: input.data } : {}) } as NftSet;
      const s = input as NftSet;
      checkSetTypes(s);
      const out: NftSet = { kind: "set", family: s.family, table: s.table, name: s.name, key: s.key };
      if (s.data !== undefined) out.data = s.data;
      if (s.interval) out.interval = true;
      return out;
    }
    case "element": {
      const set = input.set;
      if (set?.kind !== "set") throw new NftInputError(`element needs its set definition, got ${JSON.stringify(set)}`);
      const s = checked("add", set) as NftSet;
      return { kind: "elements", set: s, items: [encodeElement({ ...input, set: s })] } satisfies ElementBatch;
    }
    default:
      throw new NftInputError(`cannot ${verb} ${JSON.stringify(kind)}`);
  }
}

function checkedBaseChain(c: NftChain): Partial<NftChain> {
  const given = [c.type, c.hook, c.priority].filter((v) => v !== undefined).length;
  if (given === 0) {
    if (c.policy !== undefined) throw new NftInputError(`chain "${c.name}": a policy needs a base chain (type, hook, priority)`);
    return {};
  }
  if (given !== 3) throw new NftInputError(`chain "${c.name}": a base chain needs type, hook and priority`);
  if (!TYPES.includes(c.type!)) throw new NftInputError(`chain "${c.name}": invalid type ${JSON.stringify(c.type)}`);
  if (!HOOKS.includes(c.hook!)) throw new NftInputError(`chain "${c.name}": invalid hook ${JSON.stringify(c.hook)}`);
  if (!Number.isInteger(c.priority) || c.priority! < -0x80000000 || c.priority! > 0x7fffffff) {
    throw new NftInputError(`chain "${c.name}": invalid priority ${JSON.stringify(c.priority)}`);
  }
  if (c.type === "nat" && c.hook === "forward") throw new NftInputError(`chain "${c.name}": nat chains cannot hook forward`);
  if (c.policy !== undefined && c.policy !== "accept" && c.policy !== "drop") throw new NftInputError(`chain "${c.name}": invalid policy ${JSON.stringify(c.policy)}`);
  const out: Partial<NftChain> = { type: c.type, hook: c.hook, priority: c.priority };
  if (c.policy !== undefined) out.policy = c.policy;
  return out;
}

function checkedRule(r: NftRule): NftRule {
  const what = `rule in chain "${r.chain}"`;
  if (!Array.isArray(r.exprs) || r.exprs.length === 0) throw new NftInputError(`${what}: needs at least one expression`);
  for (const x of r.exprs) {
    try {
      checkExpr(x);
    } catch (e) {
      if (e instanceof NftInputError) throw new NftInputError(`${what}: ${e.message}`);
      throw e;
    }
  }
  checkLayer3(r.family, r.exprs, what);
  const out: NftRule = { kind: "rule", family: r.family, table: r.table, chain: r.chain, exprs: [...r.exprs] };
  if (r.comment !== undefined) {
    checkComment(r.comment);
    out.comment = r.comment;
  }
  if (r.position !== undefined) {
    checkHandle("rule position", r.position);
    out.position = r.position;
  }
  return out;
}

/**
 * In ip/ip6 tables the network header is known; in the others a rule must first match the protocol
 * (`meta nfproto ipv4`), which `nft` adds by itself and we make explicit (see matchNfproto).
 */
function checkLayer3(family: NftFamily, exprs: readonly Expr[], what: string): void {
  const fixed = family === "ip" ? "ip" : family === "ip6" ? "ip6" : undefined;
  let known = fixed;
  // Registers holding the protocol (meta nfproto, meta protocol, ether type), until overwritten.
  const protoRegs = new Set<number>();
  for (const x of exprs) {
    if (x.type === "cmp" && protoRegs.has(x.sreg)) {
      protoRegs.delete(x.sreg);
      if (x.op !== "eq") continue;
      const v = x.data.length === 1 ? x.data[0] : x.data.readUInt16BE(0);
      known = v === NFPROTO_IPV4 || v === 0x0800 ? "ip" : v === NFPROTO_IPV6 || v === 0x86dd ? "ip6" : undefined;
    } else if (x.type === "payload" && x.base === "network" && !known) {
      throw new NftInputError(`${what}: matches a network header field in a table of family ${family} without matching the protocol first (add matchNfproto(4) or matchNfproto(6) before it)`);
    } else if (x.type === "nat" && fixed && x.family !== fixed) {
      throw new NftInputError(`${what}: ${x.family} NAT in a table of family ${family}`);
    }
    const dreg = "dreg" in x ? x.dreg : undefined;
    if (dreg === undefined) continue;
    const isProto = (x.type === "meta" && (x.key === "nfproto" || x.key === "protocol")) || (x.type === "payload" && x.base === "ll" && x.offset === 12 && x.len === 2);
    if (isProto) protoRegs.add(dreg);
    else protoRegs.delete(dreg);
  }
}

function renderOp(op: Op): string {
  const { verb, obj } = op;
  switch (obj.kind) {
    case "table":
      return `${verb} table ${obj.family} ${obj.name}`;
    case "chain": {
      const spec = verb === "add" || verb === "create" ? chainSpec(obj as NftChain) : "";
      return `${verb} chain ${obj.family} ${obj.table} ${obj.name}${spec ? ` { ${spec} }` : ""}`;
    }
    case "rule": {
      const head = `${verb} rule ${obj.family} ${obj.table} ${obj.chain}`;
      if (verb === "delete" || verb === "destroy") return `${head} handle ${obj.handle}`;
      const r = obj as NftRule;
      return `${head}${r.position !== undefined ? ` position ${r.position}` : ""} ${ruleText(r)}`;
    }
    case "set": {
      const head = `${verb} ${setWord(obj as Partial<NftSet>)} ${obj.family} ${obj.table} ${obj.name}`;
      return verb === "add" || verb === "create" ? `${head} { ${setSpec(obj as NftSet)} }` : head;
    }
    case "elements": {
      const { set } = obj;
      return `${verb} element ${set.family} ${set.table} ${set.name} { ${obj.items.map((e) => elementText(set, e)).join(", ")} }`;
    }
  }
}
