import { NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS } from "../constants.ts";
import { NftInputError } from "../errors.ts";
import type { ExprCodec } from "./codec.ts";

/** Counts packets and bytes; listings fill in the counts, which a new rule may also start from. */
export interface CounterExpr {
  type: "counter";
  packets?: bigint;
  bytes?: bigint;
}

export const counter: ExprCodec<CounterExpr> = {
  name: "counter",
  encode(e, x) {
    if (x.bytes !== undefined) e.u64(NFTA_COUNTER_BYTES, x.bytes);
    if (x.packets !== undefined) e.u64(NFTA_COUNTER_PACKETS, x.packets);
  },
  decode(a) {
    const out: CounterExpr = { type: "counter" };
    const packets = a.u64(NFTA_COUNTER_PACKETS);
    const bytes = a.u64(NFTA_COUNTER_BYTES);
    if (packets !== undefined) out.packets = packets;
    if (bytes !== undefined) out.bytes = bytes;
    return out;
  },
  check(x) {
    for (const v of [x.packets, x.bytes]) {
      if (v !== undefined && (typeof v !== "bigint" || v < 0n || v >= 1n << 64n)) throw new NftInputError(`counter: invalid count ${String(v)}`);
    }
  },
};
