import { checkKnownArgs } from "../../lib/cni/args.ts";
import { optionalBool, optionalCount, optionalObject, optionalString, parseUnicastMac } from "../../lib/cni/config-fields.ts";
import { validateIfName } from "../../lib/cni/env.ts";
import { CniCode, CniError, invalidConfig } from "../../lib/cni/errors.ts";
import { formatMac } from "../../lib/ip/mac.ts";
import { dottedSysctlKey, parseNetSysctlKey, SysctlKeyError } from "../../lib/netns/sysctl-path.ts";
import { readTextFileIfExists } from "../../lib/sys/files.ts";

type Json = Record<string, unknown>;

/** Attributes of the container interface: what the config asks for, and what ADD saved to restore. */
export interface LinkSettings {
  /** Lower-case colon form, as the kernel reports it. */
  mac?: string;
  mtu?: number;
  promisc?: boolean;
  allmulti?: boolean;
  txQLen?: number;
  /** The interface's name (config: rename CNI_IFNAME to this; saved: the name to rename back to). */
  ifname?: string;
}

export const LINK_SETTING_KEYS = ["mtu", "mac", "promisc", "allmulti", "txQLen", "ifname"] as const;

export interface SysctlSetting {
  /** As written in the config, for messages. */
  key: string;
  /** Path components under /proc/sys, `IFNAME` not yet replaced. */
  components: string[];
  value: string;
}

export interface TuningConfig {
  dataDir: string;
  sysctls: SysctlSetting[];
  link: LinkSettings;
}

// The reference's paths.
export const DEFAULT_DATA_DIR = "/run/cni/tuning";
export const DEFAULT_ALLOWLIST = "/etc/cni/tuning/allowlist.conf";

/**
 * Reads and validates every key, so that nothing is changed for a config that is wrong anywhere.
 * `args.cni` (sysctl, mac, mtu, promisc, allmulti, txQLen) overrides the config keys; the MAC comes
 * from, by priority, `args.cni.mac`, `runtimeConfig.mac`, CNI_ARGS `MAC=`, then `mac` (the
 * reference tuning's order). With an allowlist file present, every sysctl must match one of its
 * patterns.
 */
export function parseTuningConfig(config: Json, cniArgs: ReadonlyMap<string, string>, allowlistPath: string): TuningConfig {
  checkKnownArgs(cniArgs, ["MAC"]);
  const argsCni = optionalObject(optionalObject(config, "args") ?? {}, "cni") ?? {};
  const link: LinkSettings = { ...readLinkKeys(config), ...readLinkKeys(argsCni) };
  const mac = macOf(config, argsCni, cniArgs);
  if (mac) link.mac = mac;
  const ifname = optionalString(config, "ifname");
  if (ifname !== undefined) link.ifname = checkNewIfName(ifname);
  const sysctls = new Map<string, SysctlSetting>();
  for (const s of readSysctls(config, "sysctl")) sysctls.set(s.components.join("/"), s);
  for (const s of readSysctls(argsCni, "args.cni.sysctl")) sysctls.set(s.components.join("/"), s); // overrides
  checkAllowlist([...sysctls.values()], allowlistPath);
  return { dataDir: parseDataDir(config), sysctls: [...sysctls.values()], link };
}

/** `dataDir`: where ADD saves the values DEL restores. Absolute, so it does not depend on the runtime's cwd. */
export function parseDataDir(config: Json): string {
  const dir = optionalString(config, "dataDir") ?? DEFAULT_DATA_DIR;
  if (!dir.startsWith("/")) throw invalidConfig(`invalid "dataDir": must be an absolute path, got ${JSON.stringify(dir)}`);
  return dir;
}

function readLinkKeys(obj: Json): LinkSettings {
  const out: LinkSettings = {};
  const mtu = optionalCount(obj, "mtu", 65535);
  if (mtu !== undefined) out.mtu = mtu;
  const promisc = optionalBool(obj, "promisc");
  if (promisc !== undefined) out.promisc = promisc;
  const allmulti = optionalBool(obj, "allmulti");
  if (allmulti !== undefined) out.allmulti = allmulti;
  const txQLen = obj.txQLen;
  if (txQLen !== undefined && txQLen !== null) {
    // 0 is a real queue length here (the reference reads it as a pointer, so 0 is not "unset").
    if (!Number.isSafeInteger(txQLen) || (txQLen as number) < 0 || (txQLen as number) > 0xffffffff) {
      throw invalidConfig(`invalid "txQLen": must be an integer from 0 to ${0xffffffff}, got ${JSON.stringify(txQLen)}`);
    }
    out.txQLen = txQLen as number;
  }
  return out;
}

function macOf(config: Json, argsCni: Json, cniArgs: ReadonlyMap<string, string>): string | undefined {
  const argsMac = optionalString(argsCni, "mac");
  if (argsMac) return formatMac(parseUnicastMac(argsMac, "args.cni.mac"));
  const runtimeMac = optionalString(optionalObject(config, "runtimeConfig") ?? {}, "mac");
  if (runtimeMac) return formatMac(parseUnicastMac(runtimeMac, "runtimeConfig.mac"));
  const envMac = cniArgs.get("MAC");
  if (envMac) return formatMac(parseUnicastMac(envMac, "CNI_ARGS MAC", CniCode.invalidEnvironment));
  const mac = optionalString(config, "mac");
  return mac === undefined ? undefined : formatMac(parseUnicastMac(mac, "mac"));
}

/** The kernel's rules for a name (dev_valid_name), and no `%`: the kernel would pick a name itself. */
function checkNewIfName(ifname: string): string {
  try {
    validateIfName(ifname);
  } catch (e) {
    throw invalidConfig(`invalid "ifname" ${JSON.stringify(ifname)}: ${(e as Error).message}`, (e as CniError).details);
  }
  if (ifname.includes("%")) throw invalidConfig(`invalid "ifname" ${JSON.stringify(ifname)}: "%" is not allowed`, "the kernel treats it as a pattern");
  return ifname;
}

/** A `sysctl` object (`what` names it in messages); two spellings of one sysctl are refused. */
function readSysctls(obj: Json, what: string): SysctlSetting[] {
  const map = optionalObject(obj, "sysctl");
  if (!map) return [];
  const byPath = new Map<string, string>();
  return Object.entries(map).map(([key, value]) => {
    if (typeof value !== "string") throw invalidConfig(`invalid "${what}" entry "${key}": the value must be a string, got ${JSON.stringify(value)}`);
    let components: string[];
    try {
      components = parseNetSysctlKey(key);
    } catch (e) {
      if (e instanceof SysctlKeyError) throw invalidConfig(e.message, `in "${what}"`);
      throw e;
    }
    const path = components.join("/");
    const other = byPath.get(path);
    if (other !== undefined) throw invalidConfig(`"${what}" sets the same sysctl twice: "${other}" and "${key}"`);
    byPath.set(path, key);
    return { key, components, value };
  });
}

/** The reference's allowlist: one regular expression a line; a sysctl must match one (unanchored). */
function checkAllowlist(sysctls: SysctlSetting[], path: string): void {
  if (sysctls.length === 0) return;
  const text = readTextFileIfExists(path);
  if (text === undefined) return;
  const patterns = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const regexps = patterns.map((pattern) => {
    try {
      return new RegExp(pattern);
    } catch (e) {
      throw invalidConfig(`invalid pattern in the sysctl allowlist ${path}: ${JSON.stringify(pattern)}`, (e as Error).message);
    }
  });
  for (const s of sysctls) {
    const key = dottedSysctlKey(s.components);
    if (!regexps.some((re) => re.test(key))) {
      throw invalidConfig(`sysctl "${key}" is not allowed by ${path}`, `allowed patterns: ${patterns.join(" ")}`);
    }
  }
}
