import { NFTA_CT_DIRECTION, NFTA_CT_DREG, NFTA_CT_KEY, NFTA_CT_SREG } from "../constants.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import { indexOf, nameAt, need, type ExprCodec } from "./codec.ts";
import { NetlinkDecodeError } from "../../netlink/attributes.ts";

/** enum nft_ct_keys, by the names `nft` prints after `ct`. */
export const CT_KEYS = [
  "state", "direction", "status", "mark", "secmark", "expiration", "helper", "l3proto", "saddr", "daddr",
  "protocol", "proto-src", "proto-dst", "label", "packets", "bytes", "avgpkt", "zone", "event",
  "ip saddr", "ip daddr", "ip6 saddr", "ip6 daddr", "id",
] as const;
export type CtKey = (typeof CT_KEYS)[number];
const DIRECTIONS = ["original", "reply"] as const;

/** Loads conntrack data (`ct state`, `ct status`, `ct mark`...) into `dreg`. */
export interface CtExpr {
  type: "ct";
  key: CtKey;
  dreg: number;
  direction?: (typeof DIRECTIONS)[number];
}

export function ctLength(key: CtKey): number {
  if (key === "label" || key === "saddr" || key === "daddr" || key === "ip6 saddr" || key === "ip6 daddr") return 16;
  if (key === "direction" || key === "l3proto" || key === "protocol") return 1;
  if (key === "proto-src" || key === "proto-dst" || key === "zone") return 2;
  if (key === "packets" || key === "bytes" || key === "avgpkt") return 8;
  return 4;
}

export const ct: ExprCodec<CtExpr> = {
  name: "ct",
  encode(e, x) {
    e.u32(NFTA_CT_KEY, indexOf(CT_KEYS, x.key, "ct key")).u32(NFTA_CT_DREG, x.dreg);
    if (x.direction) e.u8(NFTA_CT_DIRECTION, DIRECTIONS.indexOf(x.direction));
  },
  decode(a) {
    if (a.has(NFTA_CT_SREG)) throw new NetlinkDecodeError("ct set is not supported");
    const out: CtExpr = {
      type: "ct",
      key: nameAt(CT_KEYS, need(a.u32(NFTA_CT_KEY), "ct key"), "ct key"),
      dreg: need(a.u32(NFTA_CT_DREG), "ct dreg"),
    };
    const dir = a.u8(NFTA_CT_DIRECTION);
    if (dir !== undefined) out.direction = nameAt(DIRECTIONS, dir, "ct direction");
    return out;
  },
  check(x) {
    if (!CT_KEYS.includes(x.key)) throw new NftInputError(`ct: invalid key ${JSON.stringify(x.key)}`);
    if (x.direction !== undefined && !DIRECTIONS.includes(x.direction)) throw new NftInputError(`ct: invalid direction ${JSON.stringify(x.direction)}`);
    checkRegister(x.dreg, ctLength(x.key), "ct");
  },
};
