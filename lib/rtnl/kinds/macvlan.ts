import type { AttributeEncoder, Attributes } from "../../netlink/attributes.ts";
import {
  IFLA_MACVLAN_BC_QUEUE_LEN,
  IFLA_MACVLAN_MODE,
  MACVLAN_MODE_BRIDGE,
  MACVLAN_MODE_PASSTHRU,
  MACVLAN_MODE_PRIVATE,
  MACVLAN_MODE_SOURCE,
  MACVLAN_MODE_VEPA,
} from "../constants.ts";

export const macvlanModes = {
  private: MACVLAN_MODE_PRIVATE,
  vepa: MACVLAN_MODE_VEPA,
  bridge: MACVLAN_MODE_BRIDGE,
  passthru: MACVLAN_MODE_PASSTHRU,
  source: MACVLAN_MODE_SOURCE,
} as const;
export type MacvlanMode = keyof typeof macvlanModes;

export interface MacvlanKind {
  kind: "macvlan";
  mode: MacvlanMode;
  broadcastQueueLength?: number;
}

export function encodeMacvlanData(e: AttributeEncoder, k: MacvlanKind): void {
  e.u32(IFLA_MACVLAN_MODE, macvlanModes[k.mode]);
  if (k.broadcastQueueLength !== undefined) e.u32(IFLA_MACVLAN_BC_QUEUE_LEN, k.broadcastQueueLength);
}

export function decodeMacvlanMode(data: Attributes | undefined): MacvlanMode | undefined {
  const v = data?.u32(IFLA_MACVLAN_MODE);
  return (Object.keys(macvlanModes) as MacvlanMode[]).find((m) => macvlanModes[m] === v);
}
