import { NFTA_BITWISE_DREG, NFTA_BITWISE_LEN, NFTA_BITWISE_MASK, NFTA_BITWISE_OP, NFTA_BITWISE_SREG, NFTA_BITWISE_XOR, NFT_BITWISE_BOOL } from "../constants.ts";
import { putValue, readValue } from "../data.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import { checkData } from "./immediate.ts";
import { need, type ExprCodec } from "./codec.ts";
import { NetlinkDecodeError } from "../../netlink/attributes.ts";

/** `dreg = (sreg & mask) ^ xor` over `len` bytes (prefix matches, `ct state` bit tests). */
export interface BitwiseExpr {
  type: "bitwise";
  sreg: number;
  dreg: number;
  len: number;
  mask: Buffer;
  xor: Buffer;
}

export const bitwise: ExprCodec<BitwiseExpr> = {
  name: "bitwise",
  encode(e, x) {
    e.u32(NFTA_BITWISE_SREG, x.sreg).u32(NFTA_BITWISE_DREG, x.dreg).u32(NFTA_BITWISE_LEN, x.len);
    putValue(e, NFTA_BITWISE_MASK, x.mask);
    putValue(e, NFTA_BITWISE_XOR, x.xor);
  },
  decode(a) {
    const op = a.u32(NFTA_BITWISE_OP);
    if (op !== undefined && op !== NFT_BITWISE_BOOL) throw new NetlinkDecodeError("bitwise shifts are not supported");
    return {
      type: "bitwise",
      sreg: need(a.u32(NFTA_BITWISE_SREG), "bitwise sreg"),
      dreg: need(a.u32(NFTA_BITWISE_DREG), "bitwise dreg"),
      len: need(a.u32(NFTA_BITWISE_LEN), "bitwise len"),
      mask: need(readValue(a, NFTA_BITWISE_MASK), "bitwise mask"),
      xor: need(readValue(a, NFTA_BITWISE_XOR), "bitwise xor"),
    };
  },
  check(x) {
    checkData("bitwise mask", x.mask);
    checkData("bitwise xor", x.xor);
    if (x.mask.length !== x.len || x.xor.length !== x.len) throw new NftInputError(`bitwise: mask and xor must be ${x.len} bytes`);
    checkRegister(x.sreg, x.len, "bitwise");
    checkRegister(x.dreg, x.len, "bitwise");
  },
};
