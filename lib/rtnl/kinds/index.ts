import type { AttributeEncoder } from "../../netlink/attributes.ts";
import { encodeBridgeData, type BridgeKind } from "./bridge.ts";
import { encodeIpvlanData, type IpvlanKind } from "./ipvlan.ts";
import { encodeMacvlanData, type MacvlanKind } from "./macvlan.ts";
import { encodeVethData, type VethKind } from "./veth.ts";
import { encodeVxlanData, type VxlanKind } from "./vxlan.ts";

/** What `ip link add ... type <kind> ...` would say, one driver file per kind. */
export type LinkKind = VethKind | BridgeKind | MacvlanKind | IpvlanKind | VxlanKind;

/** Whether the request carries IFLA_INFO_DATA (iproute2 leaves it out when there is nothing to say). */
export function hasKindData(k: LinkKind): boolean {
  return k.kind !== "bridge" || k.vlanFiltering !== undefined;
}

/** Writes IFLA_INFO_DATA for kinds that have any. */
export function encodeKindData(e: AttributeEncoder, k: LinkKind): void {
  switch (k.kind) {
    case "veth":
      return encodeVethData(e, k);
    case "bridge":
      return encodeBridgeData(e, k);
    case "macvlan":
      return encodeMacvlanData(e, k);
    case "ipvlan":
      return encodeIpvlanData(e, k);
    case "vxlan":
      return encodeVxlanData(e, k);
  }
}
