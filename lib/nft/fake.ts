import { Errno } from "../sys/errno.ts";
import type { NftConnection } from "./connection.ts";
import { decodeElement, elementKey, encodeElement, keyTypes, type EncodedElement } from "./elements.ts";
import { NftCommitError } from "./errors.ts";
import type { Expr } from "./expr/index.ts";
import type { Op } from "./messages.ts";
import { renderRuleset } from "./render.ts";
import type { NftTransaction } from "./transaction.ts";
import type { NftChain, NftElement, NftFamily, NftRule, NftSet, NftSetRef, NftTable, NftValue, Verdict } from "./types.ts";

interface FakeChain {
  chain: NftChain;
  rules: NftRule[];
}

interface FakeSet {
  set: NftSet;
  elements: EncodedElement[];
}

interface FakeTable {
  table: NftTable;
  /** The table's handle generator: chains, sets and rules share it, as in the kernel. */
  lastHandle: number;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

interface State {
  lastTableHandle: number;
  tables: Map<string, FakeTable>;
}

/** A refusal, reported like the kernel's errno. */
class Refused extends Error {
  constructor(readonly errno: number) {
    super(String(errno));
  }
}

const refuse = (errno: number): never => {
  throw new Refused(errno);
};

/**
 * An in-memory nftables with the kernel's transaction semantics (all or nothing, ENOENT, EEXIST,
 * EBUSY for chains and sets still referenced, NAT only in the right base chains), for fast tests of
 * plugin logic; test/live/nft-commit.test.ts checks it against the kernel case by case. `dump()` prints the ruleset like `nft list ruleset`.
 */
export class FakeNftConnection implements NftConnection {
  private state: State = { lastTableHandle: 0, tables: new Map() };
  /** The last transaction that was committed successfully. */
  lastTransaction: NftTransaction | undefined;

  commit(tx: NftTransaction): void {
    const next = cloneState(this.state);
    tx.operations.forEach((op, i) => {
      try {
        apply(next, op);
      } catch (e) {
        if (e instanceof Refused) throw new NftCommitError(tx.opText(i), e.errno);
        throw e;
      }
    });
    this.state = next;
    this.lastTransaction = tx;
  }

  listTables(family?: NftFamily): NftTable[] {
    return [...this.state.tables.values()].filter((t) => !family || t.table.family === family).map((t) => ({ ...t.table }));
  }

  listChains(family: NftFamily, table: string): NftChain[] {
    return [...(this.table(family, table)?.chains.values() ?? [])].map((c) => ({ ...c.chain }));
  }

  listRules(family: NftFamily, table: string, chain?: string): NftRule[] {
    const chains = [...(this.table(family, table)?.chains.values() ?? [])].filter((c) => chain === undefined || c.chain.name === chain);
    return chains.flatMap((c) => c.rules.map(listed));
  }

  listSets(family: NftFamily, table: string): NftSet[] {
    return [...(this.table(family, table)?.sets.values() ?? [])].map((s) => ({ ...s.set }));
  }

  listElements(ref: NftSetRef): NftElement[] {
    const s = this.table(ref.family, ref.table)?.sets.get(ref.name);
    return s ? s.elements.map((e) => decodeElement(s.set, e)) : [];
  }

  getElement(set: NftSet, key: NftValue | NftValue[]): NftElement | undefined {
    const s = this.table(set.family, set.table)?.sets.get(set.name);
    if (!s) return undefined;
    const want = encodeElement(elementKey(set, key));
    const found = s.elements.find((e) => e.key.equals(want.key) && (keyTypes(s.set).length === 1 || sameEnd(e, want)));
    return found && decodeElement(s.set, found);
  }

  /** The whole ruleset as nft text (see renderRuleset). */
  dump(): string {
    return renderRuleset(this);
  }

  private table(family: NftFamily, name: string): FakeTable | undefined {
    return this.state.tables.get(`${family} ${name}`);
  }
}

/** A rule as the kernel lists it: counters filled in. */
function listed(r: NftRule): NftRule {
  return { ...r, exprs: r.exprs.map((x) => (x.type === "counter" ? { type: "counter", packets: x.packets ?? 0n, bytes: x.bytes ?? 0n } : x)) };
}

function cloneState(s: State): State {
  const tables = new Map<string, FakeTable>();
  for (const [k, t] of s.tables) {
    tables.set(k, {
      table: t.table,
      lastHandle: t.lastHandle,
      chains: new Map([...t.chains].map(([n, c]) => [n, { chain: c.chain, rules: [...c.rules] }])),
      sets: new Map([...t.sets].map(([n, x]) => [n, { set: x.set, elements: [...x.elements] }])),
    });
  }
  return { lastTableHandle: s.lastTableHandle, tables };
}

function apply(state: State, op: Op): void {
  const { verb, obj } = op;
  const family = obj.kind === "elements" ? obj.set.family : obj.family;
  const tableName = obj.kind === "table" ? obj.name : obj.kind === "elements" ? obj.set.table : obj.table;
  const key = `${family} ${tableName}`;
  const t = state.tables.get(key);

  if (obj.kind === "table") {
    if (verb === "add" || verb === "create") {
      if (t && verb === "create") refuse(Errno.EEXIST);
      if (!t) state.tables.set(key, { table: { kind: "table", family, name: obj.name, handle: ++state.lastTableHandle }, lastHandle: 0, chains: new Map(), sets: new Map() });
    } else if (!t) {
      if (verb !== "destroy") refuse(Errno.ENOENT);
    } else if (verb === "flush") {
      for (const c of t.chains.values()) c.rules = [];
    } else {
      state.tables.delete(key);
    }
    return;
  }
  // destroy tolerates a missing object, not a missing table (nor a missing set for elements).
  if (!t) return refuse(Errno.ENOENT);
  switch (obj.kind) {
    case "chain":
      return applyChain(t, verb, obj as NftChain);
    case "rule":
      return applyRule(t, verb, obj as NftRule);
    case "set":
      return applySet(t, verb, obj as NftSet);
    case "elements":
      return applyElements(t, verb, obj.set, obj.items);
  }
}

function applyChain(t: FakeTable, verb: Op["verb"], c: NftChain): void {
  const existing = t.chains.get(c.name);
  if (verb === "add" || verb === "create") {
    if (!existing) {
      const chain: NftChain = { ...c, handle: ++t.lastHandle };
      if (chain.hook !== undefined) chain.policy ??= "accept";
      t.chains.set(c.name, { chain, rules: [] });
      return;
    }
    if (verb === "create") refuse(Errno.EEXIST);
    if (c.hook === undefined) return;
    const old = existing.chain;
    // The kernel's order of checks: a policy for a regular chain, a regular chain, then hook and
    // priority, then the type.
    if (old.hook === undefined) refuse(c.policy !== undefined ? Errno.EOPNOTSUPP : Errno.EEXIST);
    if (old.hook !== c.hook || old.priority !== c.priority) refuse(Errno.EOPNOTSUPP);
    if (old.type !== c.type) refuse(Errno.EEXIST);
    if (c.policy !== undefined) existing.chain = { ...old, policy: c.policy };
    return;
  }
  if (!existing) {
    if (verb === "destroy") return;
    return refuse(Errno.ENOENT);
  }
  if (verb === "flush") {
    existing.rules = [];
    return;
  }
  // The kernel deletes the chain's rules with it, but not a chain that rules or maps jump to.
  if (chainReferenced(t, c.name)) refuse(Errno.EBUSY);
  t.chains.delete(c.name);
}

const verdictTarget = (v: Verdict | undefined): string | undefined => (typeof v === "object" ? ("jump" in v ? v.jump : v.goto) : undefined);

function chainReferenced(t: FakeTable, name: string): boolean {
  for (const c of t.chains.values()) {
    if (c.rules.some((r) => r.exprs.some((x) => x.type === "verdict" && verdictTarget(x.verdict) === name))) return true;
  }
  for (const s of t.sets.values()) if (s.elements.some((e) => verdictTarget(e.verdict) === name)) return true;
  return false;
}

function applyRule(t: FakeTable, verb: Op["verb"], r: NftRule): void {
  const c = t.chains.get(r.chain);
  if (!c) {
    if (verb === "destroy") return;
    return refuse(Errno.ENOENT);
  }
  if (verb === "delete" || verb === "destroy") {
    const i = c.rules.findIndex((x) => x.handle === r.handle);
    if (i < 0) {
      if (verb === "destroy") return;
      return refuse(Errno.ENOENT);
    }
    c.rules.splice(i, 1);
    return;
  }
  for (const x of r.exprs) checkRuleExpr(t, c.chain, x);
  let at = verb === "insert" ? 0 : c.rules.length;
  if (r.position !== undefined) {
    const i = c.rules.findIndex((x) => x.handle === r.position);
    if (i < 0) refuse(Errno.ENOENT);
    at = verb === "insert" ? i : i + 1;
  }
  const { position: _position, ...rule } = r;
  c.rules.splice(at, 0, { ...rule, handle: ++t.lastHandle });
}

/** What the kernel checks when a rule is added: targets exist, NAT only where it can run. */
function checkRuleExpr(t: FakeTable, chain: NftChain, x: Expr): void {
  if (x.type === "verdict") {
    const target = verdictTarget(x.verdict);
    if (target === undefined) return;
    const c = t.chains.get(target);
    if (!c) refuse(Errno.ENOENT);
    if (c!.chain.hook !== undefined) refuse(Errno.EOPNOTSUPP);
  } else if (x.type === "lookup") {
    if (!t.sets.has(x.set)) refuse(Errno.ENOENT);
  } else if ((x.type === "nat" || x.type === "masq") && chain.hook !== undefined) {
    const hooks = x.type === "masq" ? ["postrouting"] : x.natType === "dnat" ? ["prerouting", "output"] : ["postrouting", "input"];
    if (chain.type !== "nat" || !hooks.includes(chain.hook)) refuse(Errno.EOPNOTSUPP);
  }
}

function applySet(t: FakeTable, verb: Op["verb"], s: NftSet): void {
  const existing = t.sets.get(s.name);
  if (verb === "add" || verb === "create") {
    if (!existing) {
      t.sets.set(s.name, { set: { ...s, handle: ++t.lastHandle }, elements: [] });
      return;
    }
    const same = JSON.stringify([s.key, s.data, !!s.interval]) === JSON.stringify([existing.set.key, existing.set.data, !!existing.set.interval]);
    if (verb === "create" || !same) refuse(Errno.EEXIST);
    return;
  }
  if (!existing) {
    if (verb === "destroy") return;
    return refuse(Errno.ENOENT);
  }
  if (verb === "flush") {
    existing.elements = [];
    return;
  }
  for (const c of t.chains.values()) {
    if (c.rules.some((r) => r.exprs.some((x) => x.type === "lookup" && x.set === s.name))) refuse(Errno.EBUSY);
  }
  t.sets.delete(s.name);
}

function applyElements(t: FakeTable, verb: Op["verb"], set: NftSet, items: readonly EncodedElement[]): void {
  const s = t.sets.get(set.name);
  if (!s) return refuse(Errno.ENOENT);
  const single = keyTypes(s.set).length === 1;
  for (const e of items) {
    const i = s.elements.findIndex((x) => x.key.equals(e.key) && sameEnd(x, e));
    if (verb === "delete" || verb === "destroy") {
      if (i >= 0) s.elements.splice(i, 1);
      else if (verb === "delete") refuse(Errno.ENOENT);
      continue;
    }
    if (i >= 0) {
      const old = s.elements[i]!;
      const sameData = JSON.stringify(old.verdict) === JSON.stringify(e.verdict) && (old.value?.equals(e.value ?? Buffer.alloc(0)) ?? !e.value);
      if (verb === "create" || !sameData) refuse(Errno.EEXIST);
      continue;
    }
    if (single && e.keyEnd && s.elements.some((x) => overlaps(x, e))) refuse(Errno.EEXIST);
    const target = verdictTarget(e.verdict);
    if (target !== undefined && !t.chains.has(target)) refuse(Errno.ENOENT);
    s.elements.push(e);
  }
}

const sameEnd = (a: EncodedElement, b: EncodedElement): boolean => (a.keyEnd && b.keyEnd ? a.keyEnd.equals(b.keyEnd) : a.keyEnd === b.keyEnd);
const overlaps = (a: EncodedElement, b: EncodedElement): boolean =>
  Buffer.compare(a.key, b.keyEnd!) <= 0 && Buffer.compare(b.key, a.keyEnd ?? a.key) <= 0;
