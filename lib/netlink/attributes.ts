import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK, align4 } from "./constants.ts";

const utf8 = new TextEncoder();

/** Integer byte order of attribute payloads: rtnetlink uses host order, nftables network order. */
export type ByteOrder = "host" | "network";

export class NetlinkDecodeError extends Error {
  constructor(what: string) {
    super(`malformed netlink message: ${what}`);
    this.name = "NetlinkDecodeError";
  }
}

/**
 * Builds a byte buffer of netlink attributes (and the fixed headers before them).
 * Attribute headers are always host order; `order` applies to integer payloads.
 */
export class AttributeEncoder {
  private buf: Buffer;
  private len = 0;

  constructor(
    readonly order: ByteOrder = "host",
    private readonly nestedFlag = false,
    capacity = 256,
  ) {
    this.buf = Buffer.alloc(capacity);
  }

  get length(): number {
    return this.len;
  }

  /** Raw bytes with no attribute header (fixed structs like ifinfomsg); padded to 4. */
  raw(bytes: Uint8Array): this {
    const at = this.reserve(align4(bytes.byteLength));
    this.buf.set(bytes, at);
    return this;
  }

  u8(type: number, v: number): this {
    return this.put(type, 1, (b, at) => b.writeUInt8(v, at));
  }
  u16(type: number, v: number): this {
    return this.put(type, 2, (b, at) => (this.order === "host" ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at)));
  }
  u32(type: number, v: number): this {
    return this.put(type, 4, (b, at) => (this.order === "host" ? b.writeUInt32LE(v >>> 0, at) : b.writeUInt32BE(v >>> 0, at)));
  }
  s32(type: number, v: number): this {
    return this.put(type, 4, (b, at) => (this.order === "host" ? b.writeInt32LE(v, at) : b.writeInt32BE(v, at)));
  }
  u64(type: number, v: bigint): this {
    return this.put(type, 8, (b, at) => (this.order === "host" ? b.writeBigUInt64LE(v, at) : b.writeBigUInt64BE(v, at)));
  }
  /** Big-endian whatever the encoder's order (ports, network-order fields inside rtnetlink). */
  u16be(type: number, v: number): this {
    return this.put(type, 2, (b, at) => b.writeUInt16BE(v, at));
  }
  u32be(type: number, v: number): this {
    return this.put(type, 4, (b, at) => b.writeUInt32BE(v >>> 0, at));
  }
  /** NUL-terminated string. */
  str(type: number, s: string): this {
    const bytes = utf8.encode(s);
    return this.put(type, bytes.length + 1, (b, at) => {
      b.set(bytes, at);
      b[at + bytes.length] = 0;
    });
  }
  /** A string without the terminating NUL (iproute2 writes IFLA_INFO_KIND this way; NLA_STRING takes both). */
  chars(type: number, s: string): this {
    return this.bytes(type, utf8.encode(s));
  }
  bytes(type: number, data: Uint8Array): this {
    return this.put(type, data.byteLength, (b, at) => b.set(data, at));
  }
  flag(type: number): this {
    return this.put(type, 0, () => {});
  }
  nested(type: number, fill: (e: this) => void): this {
    const start = this.reserve(NLA_HDRLEN);
    fill(this);
    this.buf.writeUInt16LE(this.len - start, start);
    this.buf.writeUInt16LE(this.nestedFlag ? type | NLA_F_NESTED : type, start + 2);
    return this;
  }

  /** The encoded bytes (a copy-free view; valid until the next put). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  private put(type: number, size: number, write: (b: Buffer, at: number) => void): this {
    const at = this.reserve(align4(NLA_HDRLEN + size));
    this.buf.writeUInt16LE(NLA_HDRLEN + size, at);
    this.buf.writeUInt16LE(type, at + 2);
    write(this.buf, at + NLA_HDRLEN);
    return this;
  }

  private reserve(n: number): number {
    const at = this.len;
    if (at + n > this.buf.length) {
      const grown = Buffer.alloc(Math.max(this.buf.length * 2, at + n));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    this.len += n;
    return at;
  }
}

/** One decoded attribute: its type (flags stripped) and payload view. */
export interface RawAttribute {
  type: number;
  nested: boolean;
  data: Buffer;
}

/** The attributes in `buf` in order (for lists where a type repeats), bounds-checked. */
export function listAttributes(buf: Buffer): RawAttribute[] {
  const out: RawAttribute[] = [];
  for (let off = 0; off < buf.length; ) {
    const [rawType, len] = attributeHeader(buf, off);
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, data: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** nla_type and nla_len of the attribute at `off`, checked against the buffer. */
function attributeHeader(buf: Buffer, off: number): [rawType: number, len: number] {
  if (off + NLA_HDRLEN > buf.length) throw new NetlinkDecodeError(`truncated attribute header at ${off} of ${buf.length}`);
  const len = buf[off]! | (buf[off + 1]! << 8);
  const rawType = buf[off + 2]! | (buf[off + 3]! << 8);
  if (len < NLA_HDRLEN || off + len > buf.length) {
    throw new NetlinkDecodeError(`attribute ${rawType & NLA_TYPE_MASK} claims ${len} bytes at ${off} of ${buf.length}`);
  }
  return [rawType, len];
}

/**
 * Attributes by type (the last one wins), with typed, size-checked getters. Only offsets are
 * recorded up front: a link message carries ~50 attributes and callers read a handful.
 */
export class Attributes {
  private readonly spans = new Map<number, number>();

  constructor(
    private readonly buf: Buffer,
    readonly order: ByteOrder = "host",
  ) {
    // A plain loop (no callbacks): this runs cold in every plugin start-up.
    for (let off = 0; off < buf.length; ) {
      const [rawType, len] = attributeHeader(buf, off);
      // Payload offset and length packed in one number: nla_len is 16 bits.
      this.spans.set(rawType & NLA_TYPE_MASK, (off + NLA_HDRLEN) * 65536 + (len - NLA_HDRLEN));
      off += align4(len);
    }
  }

  has(type: number): boolean {
    return this.spans.has(type);
  }
  bytes(type: number): Buffer | undefined {
    const span = this.spans.get(type);
    if (span === undefined) return undefined;
    const start = Math.floor(span / 65536);
    return this.buf.subarray(start, start + (span % 65536));
  }
  u8(type: number): number | undefined {
    const at = this.at(type, 1);
    return at === undefined ? undefined : this.buf.readUInt8(at);
  }
  u16(type: number): number | undefined {
    const at = this.at(type, 2);
    if (at === undefined) return undefined;
    return this.order === "host" ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }
  u32(type: number): number | undefined {
    const at = this.at(type, 4);
    if (at === undefined) return undefined;
    return this.order === "host" ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
  s32(type: number): number | undefined {
    const at = this.at(type, 4);
    if (at === undefined) return undefined;
    return this.order === "host" ? this.buf.readInt32LE(at) : this.buf.readInt32BE(at);
  }
  u64(type: number): bigint | undefined {
    const at = this.at(type, 8);
    if (at === undefined) return undefined;
    return this.order === "host" ? this.buf.readBigUInt64LE(at) : this.buf.readBigUInt64BE(at);
  }
  u16be(type: number): number | undefined {
    const at = this.at(type, 2);
    return at === undefined ? undefined : this.buf.readUInt16BE(at);
  }
  u32be(type: number): number | undefined {
    const at = this.at(type, 4);
    return at === undefined ? undefined : this.buf.readUInt32BE(at);
  }
  /** A string attribute, without its terminating NUL. */
  str(type: number): string | undefined {
    const span = this.spans.get(type);
    if (span === undefined) return undefined;
    const start = Math.floor(span / 65536);
    let end = start + (span % 65536);
    const nul = this.buf.indexOf(0, start);
    if (nul >= 0 && nul < end) end = nul;
    return this.buf.toString("utf8", start, end);
  }
  nested(type: number): Attributes | undefined {
    const b = this.bytes(type);
    return b && new Attributes(b, this.order);
  }

  /** Offset of the payload, checked to hold at least `size` bytes. */
  private at(type: number, size: number): number | undefined {
    const span = this.spans.get(type);
    if (span === undefined) return undefined;
    const length = span % 65536;
    if (length < size) throw new NetlinkDecodeError(`attribute ${type} has ${length} bytes, wants ${size}`);
    return Math.floor(span / 65536);
  }
}
