import { checkKnownArgs } from "../../lib/cni/args.ts";
import { optionalBool, optionalCount, optionalDns, optionalString, parseUnicastMac } from "../../lib/cni/config-fields.ts";
import { ipamType } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import { requestedMac } from "../../lib/cni/requested-mac.ts";
import type { Dns } from "../../lib/cni/result.ts";
import { macvlanModes, type MacvlanMode } from "../../lib/rtnl/kinds/macvlan.ts";

export interface MacvlanConfig {
  /** Undefined: the link of the default route. */
  master: string | undefined;
  mode: MacvlanMode;
  mtu: number | undefined;
  mac: Buffer | undefined;
  linkInContainer: boolean;
  bcqueuelen: number | undefined;
  /** Undefined: L2 only, no addresses. */
  ipamType: string | undefined;
  dns: Dns | undefined;
}

/** Reads the config keys; `cniArgs` (ADD/CHECK) adds the MAC from CNI_ARGS, args and runtimeConfig. */
export function parseConfig(config: Record<string, unknown>, cniArgs?: ReadonlyMap<string, string>): MacvlanConfig {
  const mode = optionalString(config, "mode") ?? "bridge";
  if (!Object.hasOwn(macvlanModes, mode)) {
    throw new CniError(CniCode.invalidNetworkConfig, `unknown macvlan mode "${mode}"`, `want one of ${Object.keys(macvlanModes).join(", ")}`);
  }
  return {
    master: optionalString(config, "master"),
    mode: mode as MacvlanMode,
    mtu: optionalCount(config, "mtu"),
    mac: cniArgs ? macOf(config, cniArgs) : undefined,
    linkInContainer: optionalBool(config, "linkInContainer") ?? false,
    bcqueuelen: optionalCount(config, "bcqueuelen"),
    ipamType: ipamType(config),
    dns: optionalDns(config),
  };
}

/** The MAC to give the link: the runtime's (see requestedMac), else the `mac` key. */
function macOf(config: Record<string, unknown>, cniArgs: ReadonlyMap<string, string>): Buffer | undefined {
  checkKnownArgs(cniArgs, ["MAC"]);
  const mac = optionalString(config, "mac");
  return requestedMac(config, cniArgs) ?? (mac === undefined ? undefined : parseUnicastMac(mac, "mac"));
}
