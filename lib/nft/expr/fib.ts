import {
  NFTA_FIB_DREG,
  NFTA_FIB_FLAGS,
  NFTA_FIB_F_DADDR,
  NFTA_FIB_F_IIF,
  NFTA_FIB_F_MARK,
  NFTA_FIB_F_OIF,
  NFTA_FIB_F_PRESENT,
  NFTA_FIB_F_SADDR,
  NFTA_FIB_RESULT,
  NFT_FIB_RESULT_ADDRTYPE,
  NFT_FIB_RESULT_OIF,
  NFT_FIB_RESULT_OIFNAME,
} from "../constants.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import { need, type ExprCodec } from "./codec.ts";
import { NetlinkDecodeError } from "../../netlink/attributes.ts";

export type FibFlag = "saddr" | "daddr" | "mark" | "iif" | "oif" | "present";
const FLAG_BITS: Record<FibFlag, number> = {
  saddr: NFTA_FIB_F_SADDR,
  daddr: NFTA_FIB_F_DADDR,
  mark: NFTA_FIB_F_MARK,
  iif: NFTA_FIB_F_IIF,
  oif: NFTA_FIB_F_OIF,
  present: NFTA_FIB_F_PRESENT,
};
const FLAG_NAMES = Object.keys(FLAG_BITS) as FibFlag[];
export type FibResult = "oif" | "oifname" | "type";
const RESULTS: Record<FibResult, number> = { oif: NFT_FIB_RESULT_OIF, oifname: NFT_FIB_RESULT_OIFNAME, type: NFT_FIB_RESULT_ADDRTYPE };

/** A route lookup on packet fields (`fib daddr type`: the route type of the destination). */
export interface FibExpr {
  type: "fib";
  flags: FibFlag[];
  result: FibResult;
  dreg: number;
}

export const fib: ExprCodec<FibExpr> = {
  name: "fib",
  encode(e, x) {
    e.u32(NFTA_FIB_FLAGS, x.flags.reduce((m, f) => m | FLAG_BITS[f], 0))
      .u32(NFTA_FIB_RESULT, RESULTS[x.result])
      .u32(NFTA_FIB_DREG, x.dreg);
  },
  decode(a) {
    const bits = need(a.u32(NFTA_FIB_FLAGS), "fib flags");
    const code = need(a.u32(NFTA_FIB_RESULT), "fib result");
    const result = (Object.keys(RESULTS) as FibResult[]).find((r) => RESULTS[r] === code);
    if (!result) throw new NetlinkDecodeError(`unknown fib result ${code}`);
    return { type: "fib", flags: FLAG_NAMES.filter((f) => bits & FLAG_BITS[f]), result, dreg: need(a.u32(NFTA_FIB_DREG), "fib dreg") };
  },
  check(x) {
    for (const f of x.flags) if (!(f in FLAG_BITS)) throw new NftInputError(`fib: invalid flag ${JSON.stringify(f)}`);
    if (!(x.result in RESULTS)) throw new NftInputError(`fib: invalid result ${JSON.stringify(x.result)}`);
    checkRegister(x.dreg, x.result === "oifname" ? 16 : 4, "fib");
  },
};
