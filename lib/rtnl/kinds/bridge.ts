import type { AttributeEncoder, Attributes } from "../../netlink/attributes.ts";
import { IFLA_BRPORT_ISOLATED, IFLA_BRPORT_MODE, IFLA_BR_VLAN_FILTERING } from "../constants.ts";

export interface BridgeKind {
  kind: "bridge";
  vlanFiltering?: boolean;
}

export function encodeBridgeData(e: AttributeEncoder, k: BridgeKind): void {
  if (k.vlanFiltering !== undefined) e.u8(IFLA_BR_VLAN_FILTERING, k.vlanFiltering ? 1 : 0);
}

export function decodeBridgeData(data: Attributes | undefined): { vlanFiltering: boolean } {
  return { vlanFiltering: data?.u8(IFLA_BR_VLAN_FILTERING) === 1 };
}

/** Bridge-port settings (`ip link set <port> type bridge_slave hairpin on isolated on`). */
export interface BridgePortSettings {
  hairpin?: boolean;
  isolated?: boolean;
}

export function encodeBridgePortData(e: AttributeEncoder, s: BridgePortSettings): void {
  if (s.hairpin !== undefined) e.u8(IFLA_BRPORT_MODE, s.hairpin ? 1 : 0);
  if (s.isolated !== undefined) e.u8(IFLA_BRPORT_ISOLATED, s.isolated ? 1 : 0);
}

export function decodeBridgePortData(data: Attributes | undefined): Required<BridgePortSettings> {
  return { hairpin: data?.u8(IFLA_BRPORT_MODE) === 1, isolated: data?.u8(IFLA_BRPORT_ISOLATED) === 1 };
}
