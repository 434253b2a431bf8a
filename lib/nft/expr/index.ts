import { Attributes, listAttributes, NetlinkDecodeError, type AttributeEncoder } from "../../netlink/attributes.ts";
import { NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM } from "../constants.ts";
import { NftInputError } from "../errors.ts";
import { bitwise, type BitwiseExpr } from "./bitwise.ts";
import { cmp, type CmpExpr } from "./cmp.ts";
import type { EncodeContext, ExprCodec } from "./codec.ts";
import { counter, type CounterExpr } from "./counter.ts";
import { ct, type CtExpr } from "./ct.ts";
import { fib, type FibExpr } from "./fib.ts";
import { immediate, type ImmediateExpr, type VerdictExpr } from "./immediate.ts";
import { lookup, type LookupExpr } from "./lookup.ts";
import { masq, type MasqExpr } from "./masq.ts";
import { meta, type MetaExpr } from "./meta.ts";
import { nat, type NatExpr } from "./nat.ts";
import { payload, type PayloadExpr } from "./payload.ts";
import { range, type RangeExpr } from "./range.ts";

export type { BitwiseExpr, CmpExpr, CounterExpr, CtExpr, FibExpr, ImmediateExpr, LookupExpr, MasqExpr, MetaExpr, NatExpr, PayloadExpr, RangeExpr, VerdictExpr };
export type { EncodeContext } from "./codec.ts";

/** An expression we do not model, kept as its raw NFTA_EXPR_DATA so it survives a round trip. */
export interface UnknownExpr {
  type: "unknown";
  name: string;
  data: Buffer;
}

/** One step of a rule. */
export type Expr =
  | PayloadExpr
  | CmpExpr
  | MetaExpr
  | CtExpr
  | BitwiseExpr
  | ImmediateExpr
  | VerdictExpr
  | LookupExpr
  | NatExpr
  | MasqExpr
  | CounterExpr
  | RangeExpr
  | FibExpr
  | UnknownExpr;

// Method parameters are bivariant, so each codec is usable as a codec of the whole union.
const CODECS: Record<Exclude<Expr["type"], "unknown">, ExprCodec<Expr>> = {
  payload,
  cmp,
  meta,
  ct,
  bitwise,
  immediate,
  verdict: immediate,
  lookup,
  nat,
  masq,
  counter,
  range,
  fib,
};
const BY_NAME = new Map(Object.values(CODECS).map((c) => [c.name, c]));

const codecOf = (x: Expr): ExprCodec<Expr> | undefined => (x.type === "unknown" ? undefined : CODECS[x.type]);

/** Checks an expression before it is queued; throws NftInputError. */
export function checkExpr(x: Expr): void {
  if (x === null || typeof x !== "object") throw new NftInputError(`invalid expression ${JSON.stringify(x)}`);
  if (x.type === "unknown") {
    if (typeof x.name !== "string" || !Buffer.isBuffer(x.data)) throw new NftInputError("unknown expression: needs a name and a data Buffer");
    return;
  }
  const codec = codecOf(x);
  if (!codec) throw new NftInputError(`unknown expression type ${JSON.stringify((x as { type: unknown }).type)}`);
  codec.check(x);
}

/** The list of expressions as the nest `type` (NFTA_RULE_EXPRESSIONS). */
export function encodeExprs(e: AttributeEncoder, type: number, exprs: readonly Expr[], ctx: EncodeContext): void {
  e.nested(type, (list) => {
    for (const x of exprs) {
      list.nested(NFTA_LIST_ELEM, (el) => {
        if (x.type === "unknown") {
          el.str(NFTA_EXPR_NAME, x.name).nested(NFTA_EXPR_DATA, (d) => d.raw(x.data));
          return;
        }
        const codec = codecOf(x)!;
        el.str(NFTA_EXPR_NAME, codec.name).nested(NFTA_EXPR_DATA, (d) => codec.encode(d, x, ctx));
      });
    }
  });
}

/** Decodes NFTA_RULE_EXPRESSIONS contents; what we cannot model becomes an UnknownExpr. */
export function decodeExprs(list: Buffer): Expr[] {
  return listAttributes(list).map((el) => {
    const a = new Attributes(el.data, "network");
    const name = a.str(NFTA_EXPR_NAME);
    if (name === undefined) throw new NetlinkDecodeError("expression without a name");
    const data = a.bytes(NFTA_EXPR_DATA) ?? Buffer.alloc(0);
    const codec = BY_NAME.get(name);
    if (codec) {
      try {
        return codec.decode(new Attributes(data, "network"));
      } catch (err) {
        if (!(err instanceof NetlinkDecodeError)) throw err;
      }
    }
    return { type: "unknown", name, data: Buffer.from(data) };
  });
}
