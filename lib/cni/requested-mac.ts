import { optionalObject, optionalString, parseUnicastMac } from "./config-fields.ts";
import { CniCode } from "./errors.ts";

/**
 * The MAC the runtime asks for, by the reference's priority: `runtimeConfig.mac` (capability
 * "mac"), then `args.cni.mac`, then CNI_ARGS `MAC=`. Undefined when none is given.
 */
export function requestedMac(config: Record<string, unknown>, cniArgs: ReadonlyMap<string, string>): Buffer | undefined {
  const runtimeMac = optionalString(optionalObject(config, "runtimeConfig") ?? {}, "mac");
  if (runtimeMac) return parseUnicastMac(runtimeMac, "runtimeConfig.mac");
  const argsCni = optionalObject(optionalObject(config, "args") ?? {}, "cni");
  const argsMac = argsCni && optionalString(argsCni, "mac");
  if (argsMac) return parseUnicastMac(argsMac, "args.cni.mac");
  const envMac = cniArgs.get("MAC");
  return envMac ? parseUnicastMac(envMac, "CNI_ARGS MAC", CniCode.invalidEnvironment) : undefined;
}
