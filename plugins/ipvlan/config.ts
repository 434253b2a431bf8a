import { optionalBool, optionalCount, optionalDns, optionalString } from "../../lib/cni/config-fields.ts";
import { ipamType } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import type { Dns, Result } from "../../lib/cni/result.ts";
import { ipvlanFlags, ipvlanModes, type IpvlanFlag, type IpvlanMode } from "../../lib/rtnl/kinds/ipvlan.ts";

export interface IpvlanConfig {
  /** Undefined: the link of the default route. */
  master: string | undefined;
  mode: IpvlanMode;
  /** Undefined: the kernel's default (bridge). */
  flag: IpvlanFlag | undefined;
  mtu: number | undefined;
  linkInContainer: boolean;
  /** Undefined: the addresses come from prevResult. */
  ipamType: string | undefined;
  dns: Dns | undefined;
}

function oneOf<T extends string>(config: Record<string, unknown>, key: string, allowed: Record<T, number>): T | undefined {
  const value = optionalString(config, key);
  if (value !== undefined && !Object.hasOwn(allowed, value)) {
    throw new CniError(CniCode.invalidNetworkConfig, `unknown ipvlan ${key} "${value}"`, `want one of ${Object.keys(allowed).join(", ")}`);
  }
  return value as T | undefined;
}

/**
 * Reads the config keys. Chained after a plugin that made one interface, and with no `master`,
 * that interface is the master (as the reference does).
 */
export function parseConfig(config: Record<string, unknown>, prevResult: Result | undefined): IpvlanConfig {
  let master = optionalString(config, "master");
  if (master === undefined && prevResult) {
    const [only, ...more] = prevResult.interfaces ?? [];
    if (!only?.name || more.length > 0) {
      throw new CniError(CniCode.invalidNetworkConfig, "chained master failure: prevResult lacks a single named interface", 'set "master" or chain after a plugin that reports exactly one interface');
    }
    master = only.name;
  }
  return {
    master,
    mode: oneOf(config, "mode", ipvlanModes) ?? "l2",
    flag: oneOf(config, "flag", ipvlanFlags),
    mtu: optionalCount(config, "mtu"),
    linkInContainer: optionalBool(config, "linkInContainer") ?? false,
    ipamType: ipamType(config),
    dns: optionalDns(config),
  };
}
