import { NFTA_LOOKUP_DREG, NFTA_LOOKUP_FLAGS, NFTA_LOOKUP_SET, NFTA_LOOKUP_SET_ID, NFTA_LOOKUP_SREG, NFT_LOOKUP_F_INV, NFT_REG_VERDICT } from "../constants.ts";
import { NftInputError } from "../errors.ts";
import { checkName } from "../validate.ts";
import { need, type ExprCodec } from "./codec.ts";

/**
 * Looks the key in `sreg` (and the registers after it, for a concatenation) up in a set: a match
 * (`@set`), with `invert` a mismatch (`!= @set`). For a map, the data goes to `dreg`
 * (NFT_REG_VERDICT, 0, for a verdict map: `vmap @set`).
 */
export interface LookupExpr {
  type: "lookup";
  set: string;
  sreg: number;
  dreg?: number;
  invert?: boolean;
}

export const lookup: ExprCodec<LookupExpr> = {
  name: "lookup",
  encode(e, x, ctx) {
    e.u32(NFTA_LOOKUP_SREG, x.sreg);
    if (x.dreg !== undefined) e.u32(NFTA_LOOKUP_DREG, x.dreg);
    e.str(NFTA_LOOKUP_SET, x.set);
    const id = ctx.setId(x.set);
    if (id !== undefined) e.u32(NFTA_LOOKUP_SET_ID, id);
    if (x.invert) e.u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  },
  decode(a) {
    const out: LookupExpr = { type: "lookup", set: need(a.str(NFTA_LOOKUP_SET), "lookup set"), sreg: need(a.u32(NFTA_LOOKUP_SREG), "lookup sreg") };
    const dreg = a.u32(NFTA_LOOKUP_DREG);
    if (dreg !== undefined) out.dreg = dreg;
    if ((a.u32(NFTA_LOOKUP_FLAGS) ?? 0) & NFT_LOOKUP_F_INV) out.invert = true;
    return out;
  },
  check(x) {
    checkName("set", x.set);
    if (x.invert && x.dreg !== undefined) throw new NftInputError("lookup: a map lookup cannot be inverted");
    if (!Number.isInteger(x.sreg) || x.sreg === NFT_REG_VERDICT) throw new NftInputError(`lookup: invalid sreg ${x.sreg}`);
  },
};
