import type { AttributeEncoder, Attributes } from "../../netlink/attributes.ts";
import { IFLA_IPVLAN_FLAGS, IFLA_IPVLAN_MODE, IPVLAN_F_PRIVATE, IPVLAN_F_VEPA, IPVLAN_MODE_L2, IPVLAN_MODE_L3, IPVLAN_MODE_L3S } from "../constants.ts";

export const ipvlanModes = { l2: IPVLAN_MODE_L2, l3: IPVLAN_MODE_L3, l3s: IPVLAN_MODE_L3S } as const;
export type IpvlanMode = keyof typeof ipvlanModes;
/** ipvlan's port flags; `bridge` is the kernel's default (no flag bit). */
export const ipvlanFlags = { bridge: 0, private: IPVLAN_F_PRIVATE, vepa: IPVLAN_F_VEPA } as const;
export type IpvlanFlag = keyof typeof ipvlanFlags;

export interface IpvlanKind {
  kind: "ipvlan";
  mode: IpvlanMode;
  flag?: IpvlanFlag;
}

export function encodeIpvlanData(e: AttributeEncoder, k: IpvlanKind): void {
  e.u16(IFLA_IPVLAN_MODE, ipvlanModes[k.mode]);
  if (k.flag) e.u16(IFLA_IPVLAN_FLAGS, ipvlanFlags[k.flag]);
}

export function decodeIpvlanMode(data: Attributes | undefined): IpvlanMode | undefined {
  const v = data?.u16(IFLA_IPVLAN_MODE);
  return (Object.keys(ipvlanModes) as IpvlanMode[]).find((m) => ipvlanModes[m] === v);
}

/** The port flag; kernels before 4.15 send none, which is the `bridge` behaviour. */
export function decodeIpvlanFlag(data: Attributes | undefined): IpvlanFlag | undefined {
  const v = data?.u16(IFLA_IPVLAN_FLAGS) ?? 0;
  return (Object.keys(ipvlanFlags) as IpvlanFlag[]).find((f) => ipvlanFlags[f] === v);
}
