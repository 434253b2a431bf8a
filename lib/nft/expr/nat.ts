import {
  NFPROTO_IPV4,
  NFPROTO_IPV6,
  NFTA_NAT_FAMILY,
  NFTA_NAT_FLAGS,
  NFTA_NAT_REG_ADDR_MAX,
  NFTA_NAT_REG_ADDR_MIN,
  NFTA_NAT_REG_PROTO_MAX,
  NFTA_NAT_REG_PROTO_MIN,
  NFTA_NAT_TYPE,
  NFT_NAT_DNAT,
  NFT_NAT_SNAT,
  NF_NAT_RANGE_MAP_IPS,
  NF_NAT_RANGE_NETMAP,
  NF_NAT_RANGE_PERSISTENT,
  NF_NAT_RANGE_PROTO_RANDOM,
  NF_NAT_RANGE_PROTO_RANDOM_FULLY,
  NF_NAT_RANGE_PROTO_SPECIFIED,
} from "../constants.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import { need, type ExprCodec } from "./codec.ts";
import { NetlinkDecodeError } from "../../netlink/attributes.ts";

export type NatFlag = "random" | "fully-random" | "persistent" | "netmap";
const FLAG_BITS: Record<NatFlag, number> = {
  random: NF_NAT_RANGE_PROTO_RANDOM,
  "fully-random": NF_NAT_RANGE_PROTO_RANDOM_FULLY,
  persistent: NF_NAT_RANGE_PERSISTENT,
  netmap: NF_NAT_RANGE_NETMAP,
};
const FLAG_NAMES = Object.keys(FLAG_BITS) as NatFlag[];

/**
 * Source or destination NAT to the address in `addrMin` (up to `addrMax`) and optionally the port
 * in `protoMin` (up to `protoMax`); `family` says how long the address is.
 */
export interface NatExpr {
  type: "nat";
  natType: "snat" | "dnat";
  family: "ip" | "ip6";
  addrMin?: number;
  addrMax?: number;
  protoMin?: number;
  protoMax?: number;
  flags?: NatFlag[];
}

export function natFlagBits(flags: readonly NatFlag[] | undefined, protoGiven: boolean): number {
  // The kernel implies PROTO_SPECIFIED when a port register is given (it dumps it); `nft` sends it
  // with constant ports but not with map data, and older kernels need it.
  let bits = protoGiven ? NF_NAT_RANGE_PROTO_SPECIFIED : 0;
  for (const f of flags ?? []) bits |= FLAG_BITS[f];
  return bits;
}

/** Named flags in canonical order; the bits the kernel implies from the registers are dropped. */
export function natFlagsOf(bits: number): NatFlag[] | undefined {
  if (bits & ~(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED | FLAG_NAMES.reduce((m, f) => m | FLAG_BITS[f], 0))) {
    throw new NetlinkDecodeError(`unknown NAT flags 0x${bits.toString(16)}`);
  }
  const out = FLAG_NAMES.filter((f) => bits & FLAG_BITS[f]);
  return out.length ? out : undefined;
}

export function checkNatFlags(what: string, flags: readonly NatFlag[] | undefined): void {
  for (const f of flags ?? []) if (!(f in FLAG_BITS)) throw new NftInputError(`${what}: invalid flag ${JSON.stringify(f)}`);
}

export const nat: ExprCodec<NatExpr> = {
  name: "nat",
  encode(e, x) {
    e.u32(NFTA_NAT_TYPE, x.natType === "snat" ? NFT_NAT_SNAT : NFT_NAT_DNAT).u32(NFTA_NAT_FAMILY, x.family === "ip" ? NFPROTO_IPV4 : NFPROTO_IPV6);
    if (x.addrMin !== undefined) e.u32(NFTA_NAT_REG_ADDR_MIN, x.addrMin);
    if (x.addrMax !== undefined) e.u32(NFTA_NAT_REG_ADDR_MAX, x.addrMax);
    if (x.protoMin !== undefined) e.u32(NFTA_NAT_REG_PROTO_MIN, x.protoMin);
    if (x.protoMax !== undefined) e.u32(NFTA_NAT_REG_PROTO_MAX, x.protoMax);
    const flags = natFlagBits(x.flags, x.protoMin !== undefined);
    if (flags) e.u32(NFTA_NAT_FLAGS, flags);
  },
  decode(a) {
    const type = need(a.u32(NFTA_NAT_TYPE), "nat type");
    const family = need(a.u32(NFTA_NAT_FAMILY), "nat family");
    if (family !== NFPROTO_IPV4 && family !== NFPROTO_IPV6) throw new NetlinkDecodeError(`unsupported nat family ${family}`);
    const out: NatExpr = { type: "nat", natType: type === NFT_NAT_SNAT ? "snat" : "dnat", family: family === NFPROTO_IPV4 ? "ip" : "ip6" };
    const addrMin = a.u32(NFTA_NAT_REG_ADDR_MIN);
    const addrMax = a.u32(NFTA_NAT_REG_ADDR_MAX);
    const protoMin = a.u32(NFTA_NAT_REG_PROTO_MIN);
    const protoMax = a.u32(NFTA_NAT_REG_PROTO_MAX);
    // The kernel dumps max = min when only min was given.
    if (addrMin !== undefined) out.addrMin = addrMin;
    if (addrMax !== undefined && addrMax !== addrMin) out.addrMax = addrMax;
    if (protoMin !== undefined) out.protoMin = protoMin;
    if (protoMax !== undefined && protoMax !== protoMin) out.protoMax = protoMax;
    const flags = natFlagsOf(a.u32(NFTA_NAT_FLAGS) ?? 0);
    if (flags) out.flags = flags;
    return out;
  },
  check(x) {
    if (x.natType !== "snat" && x.natType !== "dnat") throw new NftInputError(`nat: invalid type ${JSON.stringify(x.natType)}`);
    if (x.family !== "ip" && x.family !== "ip6") throw new NftInputError(`nat: invalid family ${JSON.stringify(x.family)}`);
    const alen = x.family === "ip" ? 4 : 16;
    if (x.addrMin === undefined && x.protoMin === undefined) throw new NftInputError("nat: needs an address or a port register");
    if (x.addrMax !== undefined && x.addrMin === undefined) throw new NftInputError("nat: addrMax without addrMin");
    if (x.protoMax !== undefined && x.protoMin === undefined) throw new NftInputError("nat: protoMax without protoMin");
    for (const r of [x.addrMin, x.addrMax]) if (r !== undefined) checkRegister(r, alen, "nat address");
    for (const r of [x.protoMin, x.protoMax]) if (r !== undefined) checkRegister(r, 2, "nat port");
    checkNatFlags("nat", x.flags);
  },
};
