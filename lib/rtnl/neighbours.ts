import { AttributeEncoder, Attributes, NetlinkDecodeError } from "../netlink/attributes.ts";
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE } from "../netlink/constants.ts";
import type { NetlinkMessage, NetlinkSocket } from "../netlink/socket.ts";
import { formatIp, ipFromBytes, ipToBytes, type Family, type IpAddress } from "../ip/address.ts";
import { formatMac } from "../ip/mac.ts";
import { afOf } from "./addresses.ts";
import { encodeIfinfomsg } from "./ifinfomsg.ts";
import { AF_BRIDGE, NDA_DST, NDA_IFINDEX, NDA_LLADDR, NTF_SELF, NUD_NOARP, NUD_PERMANENT, RTM_DELNEIGH, RTM_GETNEIGH, RTM_NEWNEIGH } from "./constants.ts";

/** A neighbour (`ip neigh`) or, with family "bridge", a forwarding-database entry (`bridge fdb`). */
export interface Neighbour {
  index: number;
  family: Family | "bridge";
  /** IP for ARP/NDP entries; for vxlan FDB entries the remote VTEP address. */
  ip?: IpAddress;
  mac?: string;
  state: number;
  flags: number;
}

const NDMSG_LEN = 12;

function encodeNdmsg(family: number, index: number, state: number, flags: number): Buffer {
  const b = Buffer.alloc(NDMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  b.writeUInt8(flags, 10);
  return b;
}

export interface NeighbourSpec {
  index: number;
  ip?: IpAddress;
  mac: Uint8Array;
}

/** `ip neigh replace <ip> lladdr <mac> dev <index> nud permanent` */
export function replaceNeighbour(nl: NetlinkSocket, n: NeighbourSpec & { ip: IpAddress }): void {
  const e = new AttributeEncoder().raw(encodeNdmsg(afOf(n.ip.family), n.index, NUD_PERMANENT, 0));
  e.bytes(NDA_DST, ipToBytes(n.ip)).bytes(NDA_LLADDR, n.mac);
  nl.request(`replace neighbour ${formatIp(n.ip)} on link ${n.index}`, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, e.finish());
}

/** `ip neigh del <ip> dev <index>` */
export function deleteNeighbour(nl: NetlinkSocket, index: number, ip: IpAddress): void {
  const e = new AttributeEncoder().raw(encodeNdmsg(afOf(ip.family), index, 0, 0)).bytes(NDA_DST, ipToBytes(ip));
  nl.request(`delete neighbour ${formatIp(ip)} on link ${index}`, RTM_DELNEIGH, 0, e.finish());
}

/** `bridge fdb append <mac> dev <index> dst <ip> self permanent` (vxlan head-end replication uses 00:00:00:00:00:00). */
export function appendFdbEntry(nl: NetlinkSocket, n: NeighbourSpec): void {
  const e = new AttributeEncoder().raw(encodeNdmsg(AF_BRIDGE, n.index, NUD_PERMANENT, NTF_SELF)).bytes(NDA_LLADDR, n.mac);
  if (n.ip) e.bytes(NDA_DST, ipToBytes(n.ip));
  nl.request(`add fdb entry ${formatMac(n.mac)} on link ${n.index}`, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, e.finish());
}

/** `bridge fdb replace <mac> dev <index> dst <ip> self permanent`: one destination per MAC (a static vxlan VTEP). */
export function replaceFdbEntry(nl: NetlinkSocket, n: NeighbourSpec & { ip: IpAddress }): void {
  const e = new AttributeEncoder().raw(encodeNdmsg(AF_BRIDGE, n.index, NUD_PERMANENT | NUD_NOARP, NTF_SELF));
  e.bytes(NDA_LLADDR, n.mac).bytes(NDA_DST, ipToBytes(n.ip));
  nl.request(`replace fdb entry ${formatMac(n.mac)} dst ${formatIp(n.ip)} on link ${n.index}`, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, e.finish());
}

/** `bridge fdb del <mac> dev <index> [dst <ip>] self` */
export function deleteFdbEntry(nl: NetlinkSocket, n: NeighbourSpec): void {
  const e = new AttributeEncoder().raw(encodeNdmsg(AF_BRIDGE, n.index, 0, NTF_SELF)).bytes(NDA_LLADDR, n.mac);
  if (n.ip) e.bytes(NDA_DST, ipToBytes(n.ip));
  nl.request(`delete fdb entry ${formatMac(n.mac)} on link ${n.index}`, RTM_DELNEIGH, 0, e.finish());
}

function decodeNeighbour(msg: NetlinkMessage): Neighbour {
  const p = msg.payload;
  if (p.length < NDMSG_LEN) throw new NetlinkDecodeError("short ndmsg");
  const af = p.readUInt8(0);
  const a = new Attributes(p.subarray(NDMSG_LEN));
  const dst = a.bytes(NDA_DST);
  const mac = a.bytes(NDA_LLADDR);
  const n: Neighbour = {
    index: p.readInt32LE(4),
    family: af === AF_BRIDGE ? "bridge" : af === 2 ? 4 : 6,
    state: p.readUInt16LE(8),
    flags: p.readUInt8(10),
  };
  if (dst && (dst.length === 4 || dst.length === 16)) n.ip = ipFromBytes(dst);
  if (mac && mac.length === 6) n.mac = formatMac(mac);
  return n;
}

/**
 * `ip neigh show [dev <index>]` / `bridge fdb show [dev <index>]`. With a link the kernel filters
 * the dump (NDA_IFINDEX; for FDB dumps an ifinfomsg naming the port, as iproute2 sends it).
 */
export function listNeighbours(nl: NetlinkSocket, family: Family | "bridge", index?: number): Neighbour[] {
  let body: Buffer;
  if (family === "bridge") {
    body = index === undefined ? encodeNdmsg(AF_BRIDGE, 0, 0, 0) : encodeIfinfomsg({ family: AF_BRIDGE, index });
  } else {
    body = encodeNdmsg(afOf(family), 0, 0, 0);
    if (index !== undefined) body = new AttributeEncoder().raw(body).u32(NDA_IFINDEX, index).finish();
  }
  return nl
    .dump("list neighbours", RTM_GETNEIGH, body)
    .filter((m) => m.type === RTM_NEWNEIGH)
    .map(decodeNeighbour)
    .filter((n) => index === undefined || n.index === index);
}
