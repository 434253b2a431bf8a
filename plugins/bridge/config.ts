import { checkKnownArgs } from "../../lib/cni/args.ts";
import { optionalBool, optionalCount, optionalDns, optionalString } from "../../lib/cni/config-fields.ts";
import { ipamType } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import { requestedMac } from "../../lib/cni/requested-mac.ts";
import type { Dns } from "../../lib/cni/result.ts";

export interface VlanRange {
  min: number;
  max: number;
}

export interface BridgeConfig {
  network: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu: number | undefined;
  hairpinMode: boolean;
  promiscMode: boolean;
  vlan: number | undefined;
  vlanTrunk: VlanRange[];
  preserveDefaultVlan: boolean;
  enableDad: boolean;
  macSpoofCheck: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** tscni extension: drop forwarded traffic between this bridge and other isolated bridges. */
  isolation: boolean;
  ipamType: string | undefined;
  dns: Dns | undefined;
  mac: Buffer | undefined;
}

const invalid = (msg: string, details?: string) => new CniError(CniCode.invalidNetworkConfig, msg, details);

const LINK_NAME = /^[^\s/:]{1,15}$/;

function parseVlanTrunk(value: unknown): VlanRange[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`invalid "vlanTrunk": must be a list, got ${JSON.stringify(value)}`);
  return value.map((entry, i) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const id = optionalCount(e, "id", 4094);
    const min = optionalCount(e, "minID", 4094);
    const max = optionalCount(e, "maxID", 4094);
    if (id !== undefined) return { min: id, max: id };
    if (min === undefined || max === undefined || min > max) {
      throw invalid(`invalid "vlanTrunk[${i}]": want {"id": 1-4094} or {"minID": n, "maxID": m} with n <= m`, JSON.stringify(entry));
    }
    return { min, max };
  });
}

/** Reads and validates the bridge keys (same as the reference plugin's, plus `isolation`). */
export function parseBridgeConfig(config: Record<string, unknown>, cniArgs?: ReadonlyMap<string, string>): BridgeConfig {
  const bridge = optionalString(config, "bridge") ?? "cni0";
  if (!LINK_NAME.test(bridge)) throw invalid(`invalid "bridge": "${bridge}" is not a valid link name`, "1-15 characters, no whitespace, / or :");
  const isDefaultGateway = optionalBool(config, "isDefaultGateway") ?? false;
  const hairpinMode = optionalBool(config, "hairpinMode") ?? false;
  const promiscMode = optionalBool(config, "promiscMode") ?? false;
  if (hairpinMode && promiscMode) throw invalid('cannot set "hairpinMode" and "promiscMode" at the same time');
  const type = ipamType(config);
  const disableContainerInterface = optionalBool(config, "disableContainerInterface") ?? false;
  if (disableContainerInterface && type) throw invalid('"disableContainerInterface" cannot be used with IPAM: the interface needs to be up to be addressed');
  if (cniArgs) checkKnownArgs(cniArgs, ["MAC"]);
  return {
    network: config.name as string,
    bridge,
    isGateway: (optionalBool(config, "isGateway") ?? false) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: optionalBool(config, "forceAddress") ?? false,
    ipMasq: optionalBool(config, "ipMasq") ?? false,
    mtu: optionalCount(config, "mtu", 65535),
    hairpinMode,
    promiscMode,
    vlan: optionalCount(config, "vlan", 4094),
    vlanTrunk: parseVlanTrunk(config.vlanTrunk),
    preserveDefaultVlan: optionalBool(config, "preserveDefaultVlan") ?? false,
    enableDad: optionalBool(config, "enabledad") ?? false,
    macSpoofCheck: optionalBool(config, "macspoofchk") ?? false,
    disableContainerInterface,
    portIsolation: optionalBool(config, "portIsolation") ?? false,
    isolation: optionalBool(config, "isolation") ?? false,
    ipamType: type,
    dns: optionalDns(config),
    mac: cniArgs ? requestedMac(config, cniArgs) : undefined,
  };
}
