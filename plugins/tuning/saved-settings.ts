import { joinPath, readJsonFileIfExists, removeFile, writeFileAtomically } from "../../lib/sys/files.ts";
import type { LinkSettings } from "./config.ts";

/**
 * What ADD saved for DEL: the original values of the attributes it changed and, after a rename,
 * the name the interface has now. The file is the reference's: `<dataDir>/<containerID>_<ifname>.json`
 * with keys mac, promisc, mtu, allmulti, txQLen, so either implementation can restore after the
 * other's ADD; `ifname` and `renamedTo` are ours (the reference ignores them).
 */
export interface SavedSettings {
  originals: LinkSettings;
  renamedTo?: string;
}

export class SavedSettingsError extends Error {
  constructor(path: string, why: string) {
    super(`unreadable saved settings ${path}: ${why}`);
    this.name = "SavedSettingsError";
  }
}

export const savedSettingsPath = (dataDir: string, containerId: string, ifname: string): string =>
  joinPath(dataDir, `${containerId}_${ifname}.json`);

/** Writes the file (0600, directory 0700) atomically: a crash leaves the old file or the new one. */
export function saveSettings(path: string, saved: SavedSettings): void {
  writeFileAtomically(path, JSON.stringify({ ...saved.originals, renamedTo: saved.renamedTo }, null, 1));
}

/** The saved settings; undefined when there are none. SavedSettingsError when the file is not ours to read. */
export function loadSettings(path: string): SavedSettings | undefined {
  let json: unknown;
  try {
    json = readJsonFileIfExists(path);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new SavedSettingsError(path, e.message);
  }
  if (json === undefined) return undefined;
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new SavedSettingsError(path, "not a JSON object");
  const raw = json as Record<string, unknown>;
  const field = <T>(key: string, valid: (v: unknown) => boolean): T | undefined => {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    if (!valid(value)) throw new SavedSettingsError(path, `bad "${key}": ${JSON.stringify(value)}`);
    return value as T;
  };
  const isString = (v: unknown) => typeof v === "string" && v !== "";
  const isMac = (v: unknown) => typeof v === "string" && /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(v);
  const isBool = (v: unknown) => typeof v === "boolean";
  const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
  const originals: LinkSettings = {};
  const mac = field<string>("mac", isMac);
  if (mac !== undefined) originals.mac = mac.toLowerCase();
  const mtu = field<number>("mtu", isCount);
  if (mtu) originals.mtu = mtu; // 0: unset, as the reference writes it
  const promisc = field<boolean>("promisc", isBool);
  if (promisc !== undefined) originals.promisc = promisc;
  const allmulti = field<boolean>("allmulti", isBool);
  if (allmulti !== undefined) originals.allmulti = allmulti;
  const txQLen = field<number>("txQLen", isCount);
  if (txQLen !== undefined) originals.txQLen = txQLen;
  const ifname = field<string>("ifname", isString);
  if (ifname !== undefined) originals.ifname = ifname;
  const renamedTo = field<string>("renamedTo", isString);
  return renamedTo === undefined ? { originals } : { originals, renamedTo };
}

export const removeSettings = (path: string): boolean => removeFile(path);
