import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK, align4 } from "./constants.ts";

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
    const bytes = Buffer.from(s, "utf8");
    return this.put(type, bytes.length + 1, (b, at) => {
      b.set(bytes, at);
      b[at + bytes.length] = 0;
    });
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

/** Iterates the attributes in `buf`, bounds-checked. */
export function* iterateAttributes(buf: Buffer): Generator<RawAttribute> {
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const rawType = buf.readUInt16LE(off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw new NetlinkDecodeError(`attribute ${rawType & NLA_TYPE_MASK} claims ${len} bytes at ${off} of ${buf.length}`);
    }
    yield { type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, data: buf.subarray(off + NLA_HDRLEN, off + len) };
    off += align4(len);
  }
}

/** Attributes by type (the last one wins), with typed, size-checked getters. */
export class Attributes {
  private readonly byType = new Map<number, Buffer>();

  constructor(
    buf: Buffer,
    readonly order: ByteOrder = "host",
  ) {
    for (const a of iterateAttributes(buf)) this.byType.set(a.type, a.data);
  }

  has(type: number): boolean {
    return this.byType.has(type);
  }
  bytes(type: number): Buffer | undefined {
    return this.byType.get(type);
  }
  u8(type: number): number | undefined {
    return this.sized(type, 1)?.readUInt8(0);
  }
  u16(type: number): number | undefined {
    const b = this.sized(type, 2);
    return b && (this.order === "host" ? b.readUInt16LE(0) : b.readUInt16BE(0));
  }
  u32(type: number): number | undefined {
    const b = this.sized(type, 4);
    return b && (this.order === "host" ? b.readUInt32LE(0) : b.readUInt32BE(0));
  }
  s32(type: number): number | undefined {
    const b = this.sized(type, 4);
    return b && (this.order === "host" ? b.readInt32LE(0) : b.readInt32BE(0));
  }
  u64(type: number): bigint | undefined {
    const b = this.sized(type, 8);
    return b && (this.order === "host" ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0));
  }
  u16be(type: number): number | undefined {
    return this.sized(type, 2)?.readUInt16BE(0);
  }
  u32be(type: number): number | undefined {
    return this.sized(type, 4)?.readUInt32BE(0);
  }
  /** A string attribute, without its terminating NUL. */
  str(type: number): string | undefined {
    const b = this.byType.get(type);
    if (!b) return undefined;
    const end = b.indexOf(0);
    return b.toString("utf8", 0, end < 0 ? b.length : end);
  }
  nested(type: number): Attributes | undefined {
    const b = this.byType.get(type);
    return b && new Attributes(b, this.order);
  }

  private sized(type: number, size: number): Buffer | undefined {
    const b = this.byType.get(type);
    if (b && b.length < size) throw new NetlinkDecodeError(`attribute ${type} has ${b.length} bytes, wants ${size}`);
    return b;
  }
}
