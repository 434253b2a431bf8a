import { AttributeEncoder, Attributes, NetlinkDecodeError } from "../netlink/attributes.ts";
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from "../netlink/constants.ts";
import type { NetlinkMessage, NetlinkSocket } from "../netlink/socket.ts";
import { formatIp, formatPrefix, ipFromBytes, ipToBytes, type Family, type IpAddress, type IpPrefix } from "../ip/address.ts";
import { afOf } from "./addresses.ts";
import {
  AF_INET,
  AF_INET6,
  RTA_DST,
  RTA_GATEWAY,
  RTA_METRICS,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTAX_ADVMSS,
  RTAX_MTU,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
} from "./constants.ts";

/** A route (`ip route`): destination prefix, optional gateway, device and attributes. */
export interface Route {
  dst: IpPrefix;
  gateway?: IpAddress;
  /** Output link index. */
  oif?: number;
  onlink?: boolean;
  table?: number;
  scope?: number;
  priority?: number;
  mtu?: number;
  advmss?: number;
  prefSrc?: IpAddress;
  protocol?: number;
  type?: number;
}

const RTMSG_LEN = 12;

function encodeRoute(r: Route): Buffer {
  const family = r.dst.address.family;
  const table = r.table ?? RT_TABLE_MAIN;
  const hdr = Buffer.alloc(RTMSG_LEN);
  hdr.writeUInt8(afOf(family), 0);
  hdr.writeUInt8(r.dst.prefixLength, 1);
  hdr.writeUInt8(table < 256 ? table : 0, 4);
  hdr.writeUInt8(r.protocol ?? RTPROT_BOOT, 5);
  hdr.writeUInt8(r.scope ?? (r.gateway ? RT_SCOPE_UNIVERSE : r.oif !== undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE), 6);
  hdr.writeUInt8(r.type ?? RTN_UNICAST, 7);
  hdr.writeUInt32LE(r.onlink ? RTNH_F_ONLINK : 0, 8);
  const e = new AttributeEncoder().raw(hdr);
  if (r.dst.prefixLength > 0) e.bytes(RTA_DST, ipToBytes(r.dst.address));
  if (r.gateway) e.bytes(RTA_GATEWAY, ipToBytes(r.gateway));
  if (r.oif !== undefined) e.u32(RTA_OIF, r.oif);
  if (r.priority !== undefined) e.u32(RTA_PRIORITY, r.priority);
  if (r.prefSrc) e.bytes(RTA_PREFSRC, ipToBytes(r.prefSrc));
  if (table >= 256) e.u32(RTA_TABLE, table);
  if (r.mtu || r.advmss) {
    e.nested(RTA_METRICS, (m) => {
      if (r.mtu) m.u32(RTAX_MTU, r.mtu);
      if (r.advmss) m.u32(RTAX_ADVMSS, r.advmss);
    });
  }
  return e.finish();
}

export function describeRoute(r: Route): string {
  let s = formatPrefix(r.dst);
  if (r.gateway) s += ` via ${formatIp(r.gateway)}`;
  if (r.oif !== undefined) s += ` dev ${r.oif}`;
  if (r.table !== undefined && r.table !== RT_TABLE_MAIN) s += ` table ${r.table}`;
  return s;
}

/** `ip route add <route>`; `replace` makes it `ip route replace`. */
export function addRoute(nl: NetlinkSocket, r: Route, { replace = false } = {}): void {
  const flags = NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  nl.request(`${replace ? "replace" : "add"} route ${describeRoute(r)}`, RTM_NEWROUTE, flags, encodeRoute(r));
}

/** `ip route del <route>` */
export function deleteRoute(nl: NetlinkSocket, r: Route): void {
  nl.request(`delete route ${describeRoute(r)}`, RTM_DELROUTE, 0, encodeRoute(r));
}

function decodeRoute(msg: NetlinkMessage): Route | undefined {
  const p = msg.payload;
  if (p.length < RTMSG_LEN) throw new NetlinkDecodeError("short rtmsg");
  const af = p.readUInt8(0);
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  const family: Family = af === AF_INET ? 4 : 6;
  const a = new Attributes(p.subarray(RTMSG_LEN));
  const dst = a.bytes(RTA_DST);
  const gw = a.bytes(RTA_GATEWAY);
  const src = a.bytes(RTA_PREFSRC);
  const metrics = a.nested(RTA_METRICS);
  const route: Route = {
    dst: { address: dst ? ipFromBytes(dst) : { family, value: 0n }, prefixLength: p.readUInt8(1) },
    table: a.u32(RTA_TABLE) ?? p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
    onlink: (p.readUInt32LE(8) & RTNH_F_ONLINK) !== 0,
  };
  if (gw) route.gateway = ipFromBytes(gw);
  if (src) route.prefSrc = ipFromBytes(src);
  const oif = a.u32(RTA_OIF);
  if (oif !== undefined) route.oif = oif;
  const priority = a.u32(RTA_PRIORITY);
  if (priority !== undefined) route.priority = priority;
  const mtu = metrics?.u32(RTAX_MTU);
  if (mtu) route.mtu = mtu;
  const advmss = metrics?.u32(RTAX_ADVMSS);
  if (advmss) route.advmss = advmss;
  return route;
}

/** `ip [-6] route show table all`, filtered by family, table and/or output link. */
export function listRoutes(nl: NetlinkSocket, filter: { family?: Family; table?: number; oif?: number } = {}): Route[] {
  const hdr = Buffer.alloc(RTMSG_LEN);
  if (filter.family) hdr.writeUInt8(afOf(filter.family), 0);
  const out: Route[] = [];
  for (const m of nl.dump("list routes", RTM_GETROUTE, hdr)) {
    if (m.type !== RTM_NEWROUTE) continue;
    const r = decodeRoute(m);
    if (!r) continue;
    if (filter.family && r.dst.address.family !== filter.family) continue;
    if (filter.table !== undefined && r.table !== filter.table) continue;
    if (filter.oif !== undefined && r.oif !== filter.oif) continue;
    out.push(r);
  }
  return out;
}

/** `ip route get <ip>`: the route the kernel would use. */
export function routeGet(nl: NetlinkSocket, ip: IpAddress): Route | undefined {
  const hdr = Buffer.alloc(RTMSG_LEN);
  hdr.writeUInt8(afOf(ip.family), 0);
  hdr.writeUInt8(ip.family === 4 ? 32 : 128, 1);
  const e = new AttributeEncoder().raw(hdr).bytes(RTA_DST, ipToBytes(ip));
  const reply = nl.request(`get route to ${formatIp(ip)}`, RTM_GETROUTE, 0, e.finish()).find((m) => m.type === RTM_NEWROUTE);
  return reply && decodeRoute(reply);
}
