import type { AttributeEncoder, Attributes } from "../../netlink/attributes.ts";
import { ipFromBytes, ipToBytes, sameIp, type IpAddress } from "../../ip/address.ts";
import {
  IFLA_VXLAN_GROUP,
  IFLA_VXLAN_GROUP6,
  IFLA_VXLAN_ID,
  IFLA_VXLAN_L2MISS,
  IFLA_VXLAN_L3MISS,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_LOCAL6,
  IFLA_VXLAN_PORT,
  IFLA_VXLAN_PROXY,
} from "../constants.ts";

/**
 * `ip link add <name> type vxlan id <vni> [group <g>] [local <ip>] [dev <link>] dstport <port>
 * [no]learning`. The port is always sent: without it the kernel uses 8472, not IANA's 4789.
 */
export interface VxlanKind {
  kind: "vxlan";
  vni: number;
  port: number;
  local?: IpAddress;
  /** Multicast group for flood-and-learn; without it BUM traffic follows the FDB only. */
  group?: IpAddress;
  /** The underlay link index (`dev`). */
  link?: number;
  learning: boolean;
}

/** The settings of an existing vxlan link, as `ip -d link show` reports them. */
export interface VxlanSettings {
  vni: number | undefined;
  port: number | undefined;
  local: IpAddress | undefined;
  group: IpAddress | undefined;
  link: number | undefined;
  learning: boolean;
  proxy: boolean;
  l2miss: boolean;
  l3miss: boolean;
}

/** Attribute order as iproute2 sends it. */
export function encodeVxlanData(e: AttributeEncoder, k: VxlanKind): void {
  if (k.link !== undefined) e.u32(IFLA_VXLAN_LINK, k.link);
  e.u32(IFLA_VXLAN_ID, k.vni);
  if (k.group) e.bytes(k.group.family === 4 ? IFLA_VXLAN_GROUP : IFLA_VXLAN_GROUP6, ipToBytes(k.group));
  if (k.local) e.bytes(k.local.family === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, ipToBytes(k.local));
  e.u8(IFLA_VXLAN_LEARNING, k.learning ? 1 : 0);
  e.u16be(IFLA_VXLAN_PORT, k.port);
}

export function decodeVxlanData(data: Attributes | undefined): VxlanSettings {
  const ip = (v4: number, v6: number): IpAddress | undefined => {
    const bytes = data?.bytes(v4) ?? data?.bytes(v6);
    return bytes && (bytes.length === 4 || bytes.length === 16) ? ipFromBytes(bytes) : undefined;
  };
  const group = ip(IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6);
  return {
    vni: data?.u32(IFLA_VXLAN_ID),
    port: data?.u16be(IFLA_VXLAN_PORT),
    local: ip(IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6),
    // The kernel reports an unset group as 0.0.0.0 / ::.
    group: group && group.value !== 0n ? group : undefined,
    link: data?.u32(IFLA_VXLAN_LINK) || undefined,
    learning: data?.u8(IFLA_VXLAN_LEARNING) === 1,
    proxy: data?.u8(IFLA_VXLAN_PROXY) === 1,
    l2miss: data?.u8(IFLA_VXLAN_L2MISS) === 1,
    l3miss: data?.u8(IFLA_VXLAN_L3MISS) === 1,
  };
}

/** Why an existing vxlan link cannot serve as `want` (it must be recreated), or undefined if it can. */
export function vxlanIncompatibility(have: VxlanSettings, want: VxlanKind): string | undefined {
  const sameAddr = (a: IpAddress | undefined, b: IpAddress | undefined) => (a && b ? sameIp(a, b) : a === b);
  if (have.vni !== want.vni) return `VNI ${have.vni} instead of ${want.vni}`;
  if (have.port !== want.port) return `port ${have.port} instead of ${want.port}`;
  if (!sameAddr(have.local, want.local)) return "a different local address";
  if (!sameAddr(have.group, want.group)) return "a different multicast group";
  if (want.link !== undefined && have.link !== want.link) return "a different underlay link";
  if (have.learning !== want.learning) return `learning ${have.learning ? "on" : "off"}`;
  if (have.proxy || have.l2miss || have.l3miss) return "proxy or miss notifications on";
  return undefined;
}
