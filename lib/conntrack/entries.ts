import { formatIp, ipFromBytes, ipToBytes, sameIp, type IpAddress } from "../ip/address.ts";
import { AttributeEncoder, Attributes } from "../netlink/attributes.ts";
import { NLA_F_NESTED } from "../netlink/constants.ts";
import { NetlinkError, type NetlinkMessage, type NetlinkSocket } from "../netlink/socket.ts";
import {
  CTA_FILTER,
  CTA_FILTER_F_CTA_IP_DST,
  CTA_FILTER_F_CTA_PROTO_DST_PORT,
  CTA_FILTER_F_CTA_PROTO_NUM,
  CTA_FILTER_ORIG_FLAGS,
  CTA_ID,
  CTA_IP_V4_DST,
  CTA_IP_V6_DST,
  CTA_PROTO_DST_PORT,
  CTA_PROTO_NUM,
  CTA_TUPLE_IP,
  CTA_TUPLE_ORIG,
  CTA_TUPLE_PROTO,
  CTA_ZONE,
  IPCTNL_MSG_CT_DELETE,
  IPCTNL_MSG_CT_GET,
  NFNL_SUBSYS_CTNETLINK,
} from "./constants.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const NFNETLINK_V0 = 0;

/**
 * Conntrack entries by their original direction: protocol, destination port and optionally
 * destination address (`conntrack -D -f ipv4 -p udp --orig-port-dst 53 [--orig-dst 10.0.0.1]`).
 */
export interface ConntrackMatch {
  family: 4 | 6;
  /** IP protocol number (6 tcp, 17 udp, 132 sctp). */
  protocol: number;
  dport: number;
  daddr?: IpAddress;
}

const ctMessageType = (msg: number): number => (NFNL_SUBSYS_CTNETLINK << 8) | msg;

function nfgenmsg(family: 4 | 6): Buffer {
  const b = Buffer.alloc(4);
  b[0] = family === 4 ? AF_INET : AF_INET6;
  b[1] = NFNETLINK_V0;
  return b;
}

/** nfgenmsg + the original tuple to compare + CTA_FILTER naming the fields compared. */
function filterBody(m: ConntrackMatch): Buffer {
  let flags = CTA_FILTER_F_CTA_PROTO_NUM | CTA_FILTER_F_CTA_PROTO_DST_PORT;
  const e = new AttributeEncoder("host", true).raw(nfgenmsg(m.family));
  e.nested(CTA_TUPLE_ORIG, (t) => {
    if (m.daddr) {
      flags |= CTA_FILTER_F_CTA_IP_DST;
      t.nested(CTA_TUPLE_IP, (ip) => ip.bytes(m.family === 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, ipToBytes(m.daddr!)));
    }
    t.nested(CTA_TUPLE_PROTO, (p) => p.u8(CTA_PROTO_NUM, m.protocol).u16be(CTA_PROTO_DST_PORT, m.dport));
  });
  return e.nested(CTA_FILTER, (f) => f.u32(CTA_FILTER_ORIG_FLAGS, flags)).finish();
}

/**
 * Deletes the conntrack entries that `m` matches, e.g. stale UDP flows to a host port that now
 * maps elsewhere. One filtered flush (Linux >= 6.12); older kernels refuse a filter on flush, and
 * then the matching entries are dumped (filtered by the kernel since 5.8, and here again) and
 * deleted one by one. Entries that vanish meanwhile are fine.
 */
export function deleteConntrackEntries(nl: NetlinkSocket, m: ConntrackMatch): void {
  const body = filterBody(m);
  const what = describe(m);
  try {
    nl.request(`delete conntrack entries ${what}`, ctMessageType(IPCTNL_MSG_CT_DELETE), 0, body);
    return;
  } catch (e) {
    if (!(e instanceof NetlinkError) || (e.code !== "EOPNOTSUPP" && e.code !== "EINVAL")) throw e;
  }
  for (const entry of nl.dump(`list conntrack entries ${what}`, ctMessageType(IPCTNL_MSG_CT_GET), body)) {
    const key = entryKey(entry);
    if (!key || !matches(key, m)) continue;
    try {
      nl.request(`delete conntrack entry ${what}`, ctMessageType(IPCTNL_MSG_CT_DELETE), 0, key.deleteBody);
    } catch (e) {
      if (!(e instanceof NetlinkError) || e.code !== "ENOENT") throw e;
    }
  }
}

const describe = (m: ConntrackMatch): string =>
  `(ipv${m.family} protocol ${m.protocol} dport ${m.dport}${m.daddr ? ` daddr ${formatIp(m.daddr)}` : ""})`;

interface EntryKey {
  family: 4 | 6;
  protocol: number | undefined;
  dport: number | undefined;
  daddr: IpAddress | undefined;
  /** IPCTNL_MSG_CT_DELETE of exactly this entry: its original tuple, id and zone. */
  deleteBody: Buffer;
}

/** The original tuple of a dumped entry (IPCTNL_MSG_CT_NEW). */
function entryKey(msg: NetlinkMessage): EntryKey | undefined {
  const af = msg.payload[0];
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  const family = af === AF_INET ? 4 : 6;
  const a = new Attributes(msg.payload.subarray(4), "host");
  const orig = a.bytes(CTA_TUPLE_ORIG);
  if (!orig) return undefined;
  const tuple = new Attributes(orig, "host");
  const proto = tuple.nested(CTA_TUPLE_PROTO);
  const dst = tuple.nested(CTA_TUPLE_IP)?.bytes(family === 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST);
  const e = new AttributeEncoder("host", true).raw(msg.payload.subarray(0, 4)).bytes(CTA_TUPLE_ORIG | NLA_F_NESTED, orig);
  const id = a.bytes(CTA_ID);
  if (id) e.bytes(CTA_ID, id);
  const zone = a.bytes(CTA_ZONE);
  if (zone) e.bytes(CTA_ZONE, zone);
  return {
    family,
    protocol: proto?.u8(CTA_PROTO_NUM),
    dport: proto?.u16be(CTA_PROTO_DST_PORT),
    daddr: dst ? ipFromBytes(dst) : undefined,
    deleteBody: Buffer.from(e.finish()),
  };
}

function matches(k: EntryKey, m: ConntrackMatch): boolean {
  if (k.family !== m.family || k.protocol !== m.protocol || k.dport !== m.dport) return false;
  return !m.daddr || (k.daddr !== undefined && sameIp(k.daddr, m.daddr));
}
