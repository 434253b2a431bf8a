import { NftInputError } from "../errors.ts";
import {
  NFTA_PAYLOAD_BASE,
  NFTA_PAYLOAD_DREG,
  NFTA_PAYLOAD_LEN,
  NFTA_PAYLOAD_OFFSET,
  NFTA_PAYLOAD_SREG,
  NFT_DATA_VALUE_MAXLEN,
} from "../constants.ts";
import { checkRegister } from "../registers.ts";
import { nameAt, indexOf, need, type ExprCodec } from "./codec.ts";
import { NetlinkDecodeError } from "../../netlink/attributes.ts";

/** enum nft_payload_bases: link layer, network, transport header, inner payload. */
export const PAYLOAD_BASES = ["ll", "network", "transport", "inner"] as const;
export type PayloadBase = (typeof PAYLOAD_BASES)[number];

/** Loads `len` packet bytes at `offset` from a header into `dreg` (`ip saddr`, `th dport`...). */
export interface PayloadExpr {
  type: "payload";
  base: PayloadBase;
  offset: number;
  len: number;
  dreg: number;
}

export const payload: ExprCodec<PayloadExpr> = {
  name: "payload",
  encode(e, x) {
    e.u32(NFTA_PAYLOAD_DREG, x.dreg)
      .u32(NFTA_PAYLOAD_BASE, indexOf(PAYLOAD_BASES, x.base, "payload base"))
      .u32(NFTA_PAYLOAD_OFFSET, x.offset)
      .u32(NFTA_PAYLOAD_LEN, x.len);
  },
  decode(a) {
    if (a.has(NFTA_PAYLOAD_SREG)) throw new NetlinkDecodeError("payload write is not supported");
    return {
      type: "payload",
      base: nameAt(PAYLOAD_BASES, need(a.u32(NFTA_PAYLOAD_BASE), "payload base"), "payload base"),
      offset: need(a.u32(NFTA_PAYLOAD_OFFSET), "payload offset"),
      len: need(a.u32(NFTA_PAYLOAD_LEN), "payload len"),
      dreg: need(a.u32(NFTA_PAYLOAD_DREG), "payload dreg"),
    };
  },
  check(x) {
    if (!PAYLOAD_BASES.includes(x.base)) throw new NftInputError(`payload: invalid base ${JSON.stringify(x.base)}`);
    if (!Number.isInteger(x.offset) || x.offset < 0 || x.offset > 0xffff) throw new NftInputError(`payload: invalid offset ${x.offset}`);
    if (!Number.isInteger(x.len) || x.len < 1 || x.len > NFT_DATA_VALUE_MAXLEN) throw new NftInputError(`payload: invalid len ${x.len}`);
    checkRegister(x.dreg, x.len, "payload");
  },
};
