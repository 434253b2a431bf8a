import { AttributeEncoder } from "../netlink/attributes.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import {
  AF_BRIDGE,
  BRIDGE_VLAN_INFO_PVID,
  BRIDGE_VLAN_INFO_UNTAGGED,
  IFLA_AF_SPEC,
  IFLA_BRIDGE_VLAN_INFO,
  RTM_DELLINK,
  RTM_SETLINK,
} from "./constants.ts";
import { encodeIfinfomsg } from "./ifinfomsg.ts";

export interface PortVlan {
  vid: number;
  /** Untagged ingress frames get this VLAN (`pvid`). */
  pvid?: boolean;
  /** Egress frames leave untagged (`untagged`). */
  untagged?: boolean;
}

/** struct bridge_vlan_info {u16 flags; u16 vid} inside IFLA_AF_SPEC of an AF_BRIDGE ifinfomsg. */
function encodeVlanRequest(index: number, vlans: PortVlan[]): Buffer {
  const e = new AttributeEncoder().raw(encodeIfinfomsg({ family: AF_BRIDGE, index }));
  e.nested(IFLA_AF_SPEC, (spec) => {
    for (const v of vlans) {
      const info = Buffer.alloc(4);
      info.writeUInt16LE((v.pvid ? BRIDGE_VLAN_INFO_PVID : 0) | (v.untagged ? BRIDGE_VLAN_INFO_UNTAGGED : 0), 0);
      info.writeUInt16LE(v.vid, 2);
      spec.bytes(IFLA_BRIDGE_VLAN_INFO, info);
    }
  });
  return e.finish();
}

/** `bridge vlan add dev <port> vid <vid> [pvid] [untagged]` for each entry. */
export function addPortVlans(nl: NetlinkSocket, index: number, vlans: PortVlan[], what = `link ${index}`): void {
  nl.request(`add VLANs ${vlans.map((v) => v.vid).join(",")} to ${what}`, RTM_SETLINK, 0, encodeVlanRequest(index, vlans));
}

/** `bridge vlan del dev <port> vid <vid>` for each entry. */
export function deletePortVlans(nl: NetlinkSocket, index: number, vids: number[], what = `link ${index}`): void {
  nl.request(`delete VLANs ${vids.join(",")} from ${what}`, RTM_DELLINK, 0, encodeVlanRequest(index, vids.map((vid) => ({ vid }))));
}
