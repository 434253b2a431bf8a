import { NFTA_META_DREG, NFTA_META_KEY, NFTA_META_SREG } from "../constants.ts";
import { NftInputError } from "../errors.ts";
import { checkRegister } from "../registers.ts";
import { indexOf, nameAt, need, type ExprCodec } from "./codec.ts";

/** enum nft_meta_keys, by the names `nft` prints after `meta`. */
export const META_KEYS = [
  "length", "protocol", "priority", "mark", "iif", "oif", "iifname", "oifname", "iiftype", "oiftype",
  "skuid", "skgid", "nftrace", "rtclassid", "secmark", "nfproto", "l4proto", "ibrname", "obrname",
  "pkttype", "cpu", "iifgroup", "oifgroup", "cgroup", "random", "ipsec", "iifkind", "oifkind",
  "ibrpvid", "ibrvproto", "time", "day", "hour", "sdif", "sdifname",
] as const;
export type MetaKey = (typeof META_KEYS)[number];

/** Loads packet metadata into `dreg`, or (`meta <key> set`) stores `sreg` into it. Exactly one. */
export interface MetaExpr {
  type: "meta";
  key: MetaKey;
  dreg?: number;
  sreg?: number;
}

const NAME_KEYS: readonly MetaKey[] = ["iifname", "oifname", "ibrname", "obrname", "iifkind", "oifkind", "sdifname"];

/** Bytes the key loads. */
export function metaLength(key: MetaKey): number {
  if (NAME_KEYS.includes(key)) return 16;
  if (key === "nfproto" || key === "l4proto" || key === "pkttype" || key === "day") return 1;
  if (key === "protocol" || key === "iiftype" || key === "oiftype" || key === "ibrpvid" || key === "ibrvproto") return 2;
  if (key === "time" || key === "hour") return 8;
  return 4;
}

export const meta: ExprCodec<MetaExpr> = {
  name: "meta",
  encode(e, x) {
    e.u32(NFTA_META_KEY, indexOf(META_KEYS, x.key, "meta key"));
    if (x.dreg !== undefined) e.u32(NFTA_META_DREG, x.dreg);
    else e.u32(NFTA_META_SREG, x.sreg!);
  },
  decode(a) {
    const key = nameAt(META_KEYS, need(a.u32(NFTA_META_KEY), "meta key"), "meta key");
    const dreg = a.u32(NFTA_META_DREG);
    return dreg !== undefined ? { type: "meta", key, dreg } : { type: "meta", key, sreg: need(a.u32(NFTA_META_SREG), "meta register") };
  },
  check(x) {
    if (!META_KEYS.includes(x.key)) throw new NftInputError(`meta: invalid key ${JSON.stringify(x.key)}`);
    if ((x.dreg === undefined) === (x.sreg === undefined)) throw new NftInputError("meta: give exactly one of dreg and sreg");
    checkRegister((x.dreg ?? x.sreg)!, metaLength(x.key), "meta");
  },
};
