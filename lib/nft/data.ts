import type { AttributeEncoder, Attributes } from "../netlink/attributes.ts";
import { NetlinkDecodeError } from "../netlink/attributes.ts";
import {
  NF_ACCEPT,
  NF_DROP,
  NFTA_DATA_VALUE,
  NFTA_DATA_VERDICT,
  NFTA_VERDICT_CHAIN,
  NFTA_VERDICT_CODE,
  NFT_CONTINUE,
  NFT_GOTO,
  NFT_JUMP,
  NFT_RETURN,
} from "./constants.ts";
import type { Verdict } from "./types.ts";

// struct nft_data as netlink: a nest holding either NFTA_DATA_VALUE bytes or an NFTA_DATA_VERDICT nest.

export function putValue(e: AttributeEncoder, type: number, value: Uint8Array): void {
  e.nested(type, (d) => d.bytes(NFTA_DATA_VALUE, value));
}

export function putVerdict(e: AttributeEncoder, type: number, v: Verdict): void {
  e.nested(type, (d) =>
    d.nested(NFTA_DATA_VERDICT, (n) => {
      n.s32(NFTA_VERDICT_CODE, verdictCode(v));
      if (typeof v === "object") n.str(NFTA_VERDICT_CHAIN, "jump" in v ? v.jump : v.goto);
    }),
  );
}

/** The bytes of an nft_data nest, or undefined if absent or a verdict. */
export function readValue(a: Attributes, type: number): Buffer | undefined {
  return a.nested(type)?.bytes(NFTA_DATA_VALUE);
}

/** The verdict of an nft_data nest, or undefined if absent or a value. */
export function readVerdict(a: Attributes, type: number): Verdict | undefined {
  const v = a.nested(type)?.nested(NFTA_DATA_VERDICT);
  if (!v) return undefined;
  const code = v.s32(NFTA_VERDICT_CODE);
  const chain = v.str(NFTA_VERDICT_CHAIN);
  switch (code) {
    case NF_ACCEPT:
      return "accept";
    case NF_DROP:
      return "drop";
    case NFT_CONTINUE:
      return "continue";
    case NFT_RETURN:
      return "return";
    case NFT_JUMP:
    case NFT_GOTO:
      if (chain === undefined) throw new NetlinkDecodeError("jump/goto verdict without a chain");
      return code === NFT_JUMP ? { jump: chain } : { goto: chain };
    default:
      throw new NetlinkDecodeError(`unsupported verdict code ${code}`);
  }
}

export function verdictCode(v: Verdict): number {
  if (typeof v === "object") return "jump" in v ? NFT_JUMP : NFT_GOTO;
  return { accept: NF_ACCEPT, drop: NF_DROP, continue: NFT_CONTINUE, return: NFT_RETURN }[v];
}

export function formatVerdict(v: Verdict): string {
  if (typeof v === "string") return v;
  return "jump" in v ? `jump ${v.jump}` : `goto ${v.goto}`;
}
