import { NetlinkDecodeError } from "../netlink/attributes.ts";
import { NFTNL_UDATA_RULE_COMMENT } from "./constants.ts";

// libnftnl's userdata: TLVs of {u8 type, u8 length, value}, unpadded, read by `nft` for display.

/** A TLV list from [type, value] pairs. */
export function encodeTlvs(items: readonly (readonly [number, Uint8Array])[]): Buffer {
  const out = Buffer.alloc(items.reduce((n, [, v]) => n + 2 + v.length, 0));
  let at = 0;
  for (const [type, value] of items) {
    if (value.length > 255) throw new RangeError(`userdata TLV ${type} too long (${value.length} bytes)`);
    out[at] = type;
    out[at + 1] = value.length;
    out.set(value, at + 2);
    at += 2 + value.length;
  }
  return out;
}

/** The value of the first TLV of `type`, or undefined. */
export function findTlv(buf: Buffer, type: number): Buffer | undefined {
  for (let at = 0; at + 2 <= buf.length; ) {
    const len = buf[at + 1]!;
    if (at + 2 + len > buf.length) throw new NetlinkDecodeError(`userdata TLV ${buf[at]} overruns`);
    if (buf[at] === type) return buf.subarray(at + 2, at + 2 + len);
    at += 2 + len;
  }
  return undefined;
}

/** NFTA_RULE_USERDATA holding `comment "..."`, NUL-terminated as `nft` writes it. */
export function encodeRuleComment(comment: string): Buffer {
  return encodeTlvs([[NFTNL_UDATA_RULE_COMMENT, Buffer.from(`${comment}\0`, "latin1")]]);
}

export function decodeRuleComment(udata: Buffer | undefined): string | undefined {
  const v = udata && findTlv(udata, NFTNL_UDATA_RULE_COMMENT);
  if (!v) return undefined;
  const nul = v.indexOf(0);
  return v.toString("latin1", 0, nul < 0 ? v.length : nul);
}
