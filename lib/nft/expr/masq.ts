import { NFTA_MASQ_FLAGS, NFTA_MASQ_REG_PROTO_MAX, NFTA_MASQ_REG_PROTO_MIN } from "../constants.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import type { ExprCodec } from "./codec.ts";
import { checkNatFlags, natFlagBits, natFlagsOf, type NatFlag } from "./nat.ts";

/** Source NAT to the address of the outgoing interface, optionally to ports `protoMin`-`protoMax`. */
export interface MasqExpr {
  type: "masq";
  protoMin?: number;
  protoMax?: number;
  flags?: NatFlag[];
}

export const masq: ExprCodec<MasqExpr> = {
  name: "masq",
  encode(e, x) {
    const flags = natFlagBits(x.flags, x.protoMin !== undefined);
    if (flags) e.u32(NFTA_MASQ_FLAGS, flags);
    if (x.protoMin !== undefined) e.u32(NFTA_MASQ_REG_PROTO_MIN, x.protoMin);
    if (x.protoMax !== undefined) e.u32(NFTA_MASQ_REG_PROTO_MAX, x.protoMax);
  },
  decode(a) {
    const out: MasqExpr = { type: "masq" };
    const protoMin = a.u32(NFTA_MASQ_REG_PROTO_MIN);
    const protoMax = a.u32(NFTA_MASQ_REG_PROTO_MAX);
    if (protoMin !== undefined) out.protoMin = protoMin;
    if (protoMax !== undefined && protoMax !== protoMin) out.protoMax = protoMax;
    const flags = natFlagsOf(a.u32(NFTA_MASQ_FLAGS) ?? 0);
    if (flags) out.flags = flags;
    return out;
  },
  check(x) {
    if (x.protoMax !== undefined && x.protoMin === undefined) throw new NftInputError("masq: protoMax without protoMin");
    for (const r of [x.protoMin, x.protoMax]) if (r !== undefined) checkRegister(r, 2, "masq port");
    checkNatFlags("masq", x.flags);
  },
};
