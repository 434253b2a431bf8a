import { NetlinkDecodeError } from "../netlink/attributes.ts";
import { AF_UNSPEC } from "./constants.ts";

/** struct ifinfomsg (linux/rtnetlink.h): family, type, index, flags, change. 16 bytes. */
export interface Ifinfomsg {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}

export const IFINFOMSG_LEN = 16;

export function encodeIfinfomsg(m: Ifinfomsg): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(m.family ?? AF_UNSPEC, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE(m.flags ?? 0, 8);
  b.writeUInt32LE(m.change ?? 0, 12);
  return b;
}

export function decodeIfinfomsg(b: Buffer): Required<Ifinfomsg> {
  if (b.length < IFINFOMSG_LEN) throw new NetlinkDecodeError("short ifinfomsg");
  return {
    family: b.readUInt8(0),
    type: b.readUInt16LE(2),
    index: b.readInt32LE(4),
    flags: b.readUInt32LE(8),
    change: b.readUInt32LE(12),
  };
}
