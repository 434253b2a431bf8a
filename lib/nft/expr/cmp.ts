import { NFTA_CMP_DATA, NFTA_CMP_OP, NFTA_CMP_SREG } from "../constants.ts";
import { putValue, readValue } from "../data.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import { checkData } from "./immediate.ts";
import { indexOf, nameAt, need, type ExprCodec } from "./codec.ts";

/** enum nft_cmp_ops */
export const CMP_OPS = ["eq", "neq", "lt", "lte", "gt", "gte"] as const;
export type CmpOp = (typeof CMP_OPS)[number];

/** Compares the bytes in `sreg` with `data`; the rule stops here when false. */
export interface CmpExpr {
  type: "cmp";
  op: CmpOp;
  sreg: number;
  data: Buffer;
}

export const cmp: ExprCodec<CmpExpr> = {
  name: "cmp",
  encode(e, x) {
    e.u32(NFTA_CMP_SREG, x.sreg).u32(NFTA_CMP_OP, indexOf(CMP_OPS, x.op, "cmp op"));
    putValue(e, NFTA_CMP_DATA, x.data);
  },
  decode(a) {
    return {
      type: "cmp",
      op: nameAt(CMP_OPS, need(a.u32(NFTA_CMP_OP), "cmp op"), "cmp op"),
      sreg: need(a.u32(NFTA_CMP_SREG), "cmp sreg"),
      data: need(readValue(a, NFTA_CMP_DATA), "cmp data"),
    };
  },
  check(x) {
    if (!CMP_OPS.includes(x.op)) throw new NftInputError(`cmp: invalid op ${JSON.stringify(x.op)}`);
    checkData("cmp", x.data);
    checkRegister(x.sreg, x.data.length, "cmp");
  },
};
