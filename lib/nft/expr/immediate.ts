import { NFTA_IMMEDIATE_DATA, NFTA_IMMEDIATE_DREG, NFT_DATA_VALUE_MAXLEN, NFT_REG_VERDICT } from "../constants.ts";
import { putValue, putVerdict, readValue, readVerdict } from "../data.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import type { Verdict } from "../types.ts";
import { checkName } from "../validate.ts";
import { need, type ExprCodec } from "./codec.ts";
import { NetlinkDecodeError } from "../../netlink/attributes.ts";

/** Loads constant bytes into `dreg` (NAT addresses and ports, `meta mark set` values). */
export interface ImmediateExpr {
  type: "immediate";
  dreg: number;
  data: Buffer;
}

/** A verdict statement: an immediate into the verdict register. */
export interface VerdictExpr {
  type: "verdict";
  verdict: Verdict;
}

export function checkData(what: string, data: unknown): void {
  if (!Buffer.isBuffer(data) || data.length < 1 || data.length > NFT_DATA_VALUE_MAXLEN) {
    throw new NftInputError(`${what}: data must be a Buffer of 1-${NFT_DATA_VALUE_MAXLEN} bytes`);
  }
}

export function checkVerdict(v: unknown): void {
  if (typeof v === "object" && v !== null) {
    const chain = "jump" in v ? v.jump : "goto" in v ? v.goto : undefined;
    checkName("chain", chain);
  } else if (v !== "accept" && v !== "drop" && v !== "continue" && v !== "return") {
    throw new NftInputError(`invalid verdict ${JSON.stringify(v)}`);
  }
}

/** Both share the kernel's "immediate" expression; the decoder tells them apart by the data. */
export const immediate: ExprCodec<ImmediateExpr | VerdictExpr> = {
  name: "immediate",
  encode(e, x) {
    if (x.type === "verdict") {
      e.u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
      putVerdict(e, NFTA_IMMEDIATE_DATA, x.verdict);
    } else {
      e.u32(NFTA_IMMEDIATE_DREG, x.dreg);
      putValue(e, NFTA_IMMEDIATE_DATA, x.data);
    }
  },
  decode(a) {
    const dreg = need(a.u32(NFTA_IMMEDIATE_DREG), "immediate dreg");
    if (dreg === NFT_REG_VERDICT) return { type: "verdict", verdict: need(readVerdict(a, NFTA_IMMEDIATE_DATA), "verdict") };
    const data = readValue(a, NFTA_IMMEDIATE_DATA);
    if (!data) throw new NetlinkDecodeError("immediate without a value");
    return { type: "immediate", dreg, data };
  },
  check(x) {
    if (x.type === "verdict") return checkVerdict(x.verdict);
    checkData("immediate", x.data);
    checkRegister(x.dreg, x.data.length, "immediate");
  },
};
