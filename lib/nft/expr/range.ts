import { NFTA_RANGE_FROM_DATA, NFTA_RANGE_OP, NFTA_RANGE_SREG, NFTA_RANGE_TO_DATA } from "../constants.ts";
import { putValue, readValue } from "../data.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import { checkData } from "./immediate.ts";
import { nameAt, need, type ExprCodec } from "./codec.ts";

const RANGE_OPS = ["eq", "neq"] as const;

/** True when `sreg` lies (op eq) or does not lie (neq) within [from, to], compared as big-endian bytes. */
export interface RangeExpr {
  type: "range";
  op: (typeof RANGE_OPS)[number];
  sreg: number;
  from: Buffer;
  to: Buffer;
}

export const range: ExprCodec<RangeExpr> = {
  name: "range",
  encode(e, x) {
    e.u32(NFTA_RANGE_SREG, x.sreg).u32(NFTA_RANGE_OP, RANGE_OPS.indexOf(x.op));
    putValue(e, NFTA_RANGE_FROM_DATA, x.from);
    putValue(e, NFTA_RANGE_TO_DATA, x.to);
  },
  decode(a) {
    return {
      type: "range",
      op: nameAt(RANGE_OPS, need(a.u32(NFTA_RANGE_OP), "range op"), "range op"),
      sreg: need(a.u32(NFTA_RANGE_SREG), "range sreg"),
      from: need(readValue(a, NFTA_RANGE_FROM_DATA), "range from"),
      to: need(readValue(a, NFTA_RANGE_TO_DATA), "range to"),
    };
  },
  check(x) {
    if (!RANGE_OPS.includes(x.op)) throw new NftInputError(`range: invalid op ${JSON.stringify(x.op)}`);
    checkData("range from", x.from);
    checkData("range to", x.to);
    if (x.from.length !== x.to.length) throw new NftInputError("range: from and to differ in length");
    checkRegister(x.sreg, x.from.length, "range");
  },
};
