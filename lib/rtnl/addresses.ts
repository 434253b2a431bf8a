import { AttributeEncoder, Attributes, NetlinkDecodeError } from "../netlink/attributes.ts";
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from "../netlink/constants.ts";
import type { NetlinkMessage, NetlinkSocket } from "../netlink/socket.ts";
import { formatPrefix, ipFromBytes, ipToBytes, type Family, type IpAddress, type IpPrefix } from "../ip/address.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA_ADDRESS,
  IFA_FLAGS,
  IFA_F_DADFAILED,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_F_TENTATIVE,
  IFA_LABEL,
  IFA_LOCAL,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
  RT_SCOPE_UNIVERSE,
} from "./constants.ts";

export const afOf = (family: Family): number => (family === 4 ? AF_INET : AF_INET6);

/** An address on a link (`ip addr show`). */
export interface LinkAddress {
  index: number;
  prefix: IpPrefix;
  flags: number;
  scope: number;
  label: string | undefined;
  tentative: boolean;
  dadFailed: boolean;
}

function encodeIfaddrmsg(family: Family | undefined, prefixLength: number, scope: number, index: number, flags = 0): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(family ? afOf(family) : AF_UNSPEC, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

function decodeAddress(msg: NetlinkMessage): LinkAddress | undefined {
  const p = msg.payload;
  if (p.length < 8) throw new NetlinkDecodeError("short ifaddrmsg");
  const af = p.readUInt8(0);
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  const a = new Attributes(p.subarray(8));
  // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS otherwise.
  const bytes = a.bytes(IFA_LOCAL) ?? a.bytes(IFA_ADDRESS);
  if (!bytes) return undefined;
  const flags = a.u32(IFA_FLAGS) ?? p.readUInt8(2);
  return {
    index: p.readUInt32LE(4),
    prefix: { address: ipFromBytes(bytes), prefixLength: p.readUInt8(1) },
    flags,
    scope: p.readUInt8(3),
    label: a.str(IFA_LABEL),
    tentative: (flags & IFA_F_TENTATIVE) !== 0,
    dadFailed: (flags & IFA_F_DADFAILED) !== 0,
  };
}

/** `ip addr show [dev <index>]`, optionally one family only. */
export function listAddresses(nl: NetlinkSocket, filter: { index?: number; family?: Family } = {}): LinkAddress[] {
  const out: LinkAddress[] = [];
  for (const m of nl.dump("list addresses", RTM_GETADDR, encodeIfaddrmsg(filter.family, 0, 0, 0))) {
    if (m.type !== RTM_NEWADDR) continue;
    const addr = decodeAddress(m);
    if (addr && (filter.index === undefined || addr.index === filter.index)) out.push(addr);
  }
  return out;
}

export interface AddressOptions {
  /** IFA_F_NODAD: usable at once, no duplicate address detection. */
  noDad?: boolean;
  /** IFA_F_NOPREFIXROUTE: do not add the subnet route. */
  noPrefixRoute?: boolean;
  scope?: number;
  /** Replace an existing equal address instead of failing with EEXIST. */
  replace?: boolean;
}

function encodeAddress(index: number, prefix: IpPrefix, o: AddressOptions): Buffer {
  const { family } = prefix.address;
  let flags = 0;
  if (o.noDad) flags |= IFA_F_NODAD;
  if (o.noPrefixRoute) flags |= IFA_F_NOPREFIXROUTE;
  // As iproute2: flags that fit go in ifa_flags; IFA_FLAGS only when some need the 32-bit attribute.
  const e = new AttributeEncoder().raw(encodeIfaddrmsg(family, prefix.prefixLength, o.scope ?? RT_SCOPE_UNIVERSE, index, flags));
  const bytes = ipToBytes(prefix.address);
  e.bytes(IFA_LOCAL, bytes);
  e.bytes(IFA_ADDRESS, bytes);
  if (flags > 0xff) e.u32(IFA_FLAGS, flags);
  return e.finish();
}

/** `ip addr add <prefix> dev <index> [nodad] [noprefixroute]` */
export function addAddress(nl: NetlinkSocket, index: number, prefix: IpPrefix, o: AddressOptions = {}): void {
  const flags = NLM_F_CREATE | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL);
  nl.request(`add address ${formatPrefix(prefix)} to link ${index}`, RTM_NEWADDR, flags, encodeAddress(index, prefix, o));
}

/** `ip addr del <prefix> dev <index>` */
export function deleteAddress(nl: NetlinkSocket, index: number, prefix: IpPrefix): void {
  nl.request(`delete address ${formatPrefix(prefix)} from link ${index}`, RTM_DELADDR, 0, encodeAddress(index, prefix, {}));
}

export function hasAddress(addrs: LinkAddress[], ip: IpAddress): boolean {
  return addrs.some((a) => a.prefix.address.family === ip.family && a.prefix.address.value === ip.value);
}
