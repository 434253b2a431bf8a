import { AttributeEncoder, Attributes } from "../netlink/attributes.ts";
import { NLM_F_CREATE, NLM_F_EXCL } from "../netlink/constants.ts";
import { NetlinkError, type NetlinkMessage, type NetlinkSocket } from "../netlink/socket.ts";
import { formatMac } from "../ip/mac.ts";
import {
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_INFO_SLAVE_DATA,
  IFLA_INFO_SLAVE_KIND,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_LINK_NETNSID,
  IFLA_MASTER,
  IFLA_MAX_MTU,
  IFLA_MIN_MTU,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_OPERSTATE,
  IFLA_PROMISCUITY,
  IFLA_TXQLEN,
  IFLA_ALLMULTI,
  IFF_PROMISC,
  IFF_ALLMULTI,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from "./constants.ts";
import { decodeIfinfomsg, encodeIfinfomsg, IFINFOMSG_LEN } from "./ifinfomsg.ts";
import { encodeKindData, hasKindData, type LinkKind } from "./kinds/index.ts";
import { encodeBridgePortData, type BridgePortSettings } from "./kinds/bridge.ts";

const operStates = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"] as const;
export type OperState = (typeof operStates)[number];

/** A link as the kernel reports it (`ip -d link show`). */
export interface Link {
  index: number;
  name: string;
  /** ARPHRD_* hardware type. */
  type: number;
  flags: number;
  up: boolean;
  mtu: number;
  /** The MTU range the device accepts (IFLA_MIN_MTU/IFLA_MAX_MTU, Linux >= 4.19). */
  minMtu: number | undefined;
  maxMtu: number | undefined;
  mac: string | undefined;
  master: number | undefined;
  /** IFLA_LINK: a veth's peer index or a macvlan's parent index (maybe in another netns). */
  parentIndex: number | undefined;
  linkNetnsId: number | undefined;
  operState: OperState;
  promiscuity: number;
  txQueueLength: number | undefined;
  kind: string | undefined;
  kindData: Attributes | undefined;
  portKind: string | undefined;
  portData: Attributes | undefined;
}

export function decodeLink(msg: NetlinkMessage): Link {
  const hdr = decodeIfinfomsg(msg.payload);
  const a = new Attributes(msg.payload.subarray(IFINFOMSG_LEN));
  const info = a.nested(IFLA_LINKINFO);
  const mac = a.bytes(IFLA_ADDRESS);
  return {
    index: hdr.index,
    name: a.str(IFLA_IFNAME) ?? "",
    type: hdr.type,
    flags: hdr.flags,
    up: (hdr.flags & IFF_UP) !== 0,
    mtu: a.u32(IFLA_MTU) ?? 0,
    minMtu: a.u32(IFLA_MIN_MTU),
    maxMtu: a.u32(IFLA_MAX_MTU),
    mac: mac && mac.length === 6 ? formatMac(mac) : undefined,
    master: a.u32(IFLA_MASTER),
    parentIndex: a.u32(IFLA_LINK),
    linkNetnsId: a.s32(IFLA_LINK_NETNSID),
    operState: operStates[a.u8(IFLA_OPERSTATE) ?? 0] ?? "unknown",
    promiscuity: a.u32(IFLA_PROMISCUITY) ?? 0,
    txQueueLength: a.u32(IFLA_TXQLEN),
    kind: info?.str(IFLA_INFO_KIND),
    kindData: info?.nested(IFLA_INFO_DATA),
    portKind: info?.str(IFLA_INFO_SLAVE_KIND),
    portData: info?.nested(IFLA_INFO_SLAVE_DATA),
  };
}

/** `ip link show` */
export function listLinks(nl: NetlinkSocket): Link[] {
  return nl.dump("list links", RTM_GETLINK, encodeIfinfomsg({})).filter((m) => m.type === RTM_NEWLINK).map(decodeLink);
}

/** `ip link show <name>`; undefined when there is no such link. */
export function findLinkByName(nl: NetlinkSocket, name: string): Link | undefined {
  const e = new AttributeEncoder().raw(encodeIfinfomsg({})).str(IFLA_IFNAME, name);
  return getOne(nl, `get link "${name}"`, e.finish());
}

/** `ip link show` by index; undefined when there is no such link. */
export function findLinkByIndex(nl: NetlinkSocket, index: number): Link | undefined {
  return getOne(nl, `get link ${index}`, encodeIfinfomsg({ index }));
}

export function getLinkByName(nl: NetlinkSocket, name: string): Link {
  const link = findLinkByName(nl, name);
  if (!link) throw new NetlinkError(`get link "${name}"`, 19);
  return link;
}

function getOne(nl: NetlinkSocket, op: string, body: Buffer): Link | undefined {
  try {
    const reply = nl.request(op, RTM_GETLINK, 0, body).find((m) => m.type === RTM_NEWLINK);
    return reply && decodeLink(reply);
  } catch (e) {
    if (e instanceof NetlinkError && e.code === "ENODEV") return undefined;
    throw e;
  }
}

export interface NewLink {
  name: string;
  kind: LinkKind;
  mtu?: number;
  mac?: Uint8Array;
  /** Parent for macvlan/ipvlan (IFLA_LINK). */
  parentIndex?: number;
  master?: number;
  txQueueLength?: number;
  /** Create the link directly in this netns. */
  netnsFd?: number;
  up?: boolean;
}

/** `ip link add <name> [mtu] [address] [link <parent>] [netns] type <kind> ...`; EEXIST when taken. */
export function createLink(nl: NetlinkSocket, spec: NewLink): void {
  const e = new AttributeEncoder().raw(encodeIfinfomsg({ flags: spec.up ? IFF_UP : 0, change: spec.up ? IFF_UP : 0 }));
  e.str(IFLA_IFNAME, spec.name);
  if (spec.mtu) e.u32(IFLA_MTU, spec.mtu);
  if (spec.mac) e.bytes(IFLA_ADDRESS, spec.mac);
  if (spec.parentIndex !== undefined) e.u32(IFLA_LINK, spec.parentIndex);
  if (spec.master !== undefined) e.u32(IFLA_MASTER, spec.master);
  if (spec.txQueueLength !== undefined) e.u32(IFLA_TXQLEN, spec.txQueueLength);
  if (spec.netnsFd !== undefined) e.u32(IFLA_NET_NS_FD, spec.netnsFd);
  e.nested(IFLA_LINKINFO, (info) => {
    info.chars(IFLA_INFO_KIND, spec.kind.kind);
    if (hasKindData(spec.kind)) info.nested(IFLA_INFO_DATA, (data) => encodeKindData(data, spec.kind));
  });
  nl.request(`add ${spec.kind.kind} "${spec.name}"`, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, e.finish());
}

export interface LinkChanges {
  up?: boolean;
  promisc?: boolean;
  allmulti?: boolean;
  mtu?: number;
  mac?: Uint8Array;
  name?: string;
  /** Enslave to this bridge index; 0 releases. */
  master?: number;
  txQueueLength?: number;
  /** Move the link into this netns. */
  netnsFd?: number;
  bridgePort?: BridgePortSettings;
}

/** `ip link set <link> [up|down] [mtu] [address] [name] [master] [netns] [type bridge_slave ...]` */
export function setLink(nl: NetlinkSocket, index: number, c: LinkChanges, what = `link ${index}`): void {
  let flags = 0;
  let change = 0;
  const flag = (bit: number, on: boolean | undefined) => {
    if (on === undefined) return;
    change |= bit;
    if (on) flags |= bit;
  };
  flag(IFF_UP, c.up);
  flag(IFF_PROMISC, c.promisc);
  flag(IFF_ALLMULTI, c.allmulti);
  const e = new AttributeEncoder().raw(encodeIfinfomsg({ index, flags, change }));
  if (c.mtu) e.u32(IFLA_MTU, c.mtu);
  if (c.mac) e.bytes(IFLA_ADDRESS, c.mac);
  if (c.name) e.str(IFLA_IFNAME, c.name);
  if (c.master !== undefined) e.u32(IFLA_MASTER, c.master);
  if (c.txQueueLength !== undefined) e.u32(IFLA_TXQLEN, c.txQueueLength);
  if (c.netnsFd !== undefined) e.u32(IFLA_NET_NS_FD, c.netnsFd);
  nl.request(`set ${what}`, RTM_NEWLINK, 0, e.finish());
  // Port settings are handled by the master's driver, so they go after enslaving, in their own request.
  if (c.bridgePort) {
    const port = c.bridgePort;
    const p = new AttributeEncoder().raw(encodeIfinfomsg({ index }));
    p.nested(IFLA_LINKINFO, (info) => {
      info.str(IFLA_INFO_SLAVE_KIND, "bridge");
      info.nested(IFLA_INFO_SLAVE_DATA, (d) => encodeBridgePortData(d, port));
    });
    nl.request(`set bridge port settings of ${what}`, RTM_NEWLINK, 0, p.finish());
  }
}

/** `ip link del <index>` */
export function deleteLink(nl: NetlinkSocket, index: number, what = `link ${index}`): void {
  nl.request(`delete ${what}`, RTM_DELLINK, 0, encodeIfinfomsg({ index }));
}

/** deleteLink; false when the link is already gone (ENODEV), e.g. taken by a netns teardown. */
export function deleteLinkIfPresent(nl: NetlinkSocket, index: number, what = `link ${index}`): boolean {
  try {
    deleteLink(nl, index, what);
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && e.code === "ENODEV") return false;
    throw e;
  }
}

/** Deletes by name; false when it did not exist. */
export function deleteLinkIfExists(nl: NetlinkSocket, name: string): boolean {
  const link = findLinkByName(nl, name);
  return link !== undefined && deleteLinkIfPresent(nl, link.index, `link "${name}"`);
}

