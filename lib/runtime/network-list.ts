import { compareVersions } from "../cni/version.ts";
import { RuntimeError } from "./errors.ts";

export type PluginConf = Record<string, unknown> & { type: string };

export interface NetworkList {
  name: string;
  /** The version every plugin is spoken to in (picked from cniVersion ∪ cniVersions). */
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConf[];
  /** The conflist as read; stored in the cache like libcni does. */
  bytes: Buffer;
}

/** The newest version libcni speaks: cniVersions entries above it are ignored. */
export const RUNTIME_VERSION = "1.1.0";

/**
 * libcni's NetworkConfFromBytes: validates the list and picks the version to speak.
 * `pluginsFromFiles(name)` supplies the plugin objects libcni reads from `<confdir>/<name>/*.conf`
 * unless the list sets `loadOnlyInlinedPlugins`; without it the list must inline its plugins.
 */
export function parseNetworkList(bytes: Buffer | string, pluginsFromFiles?: (name: string) => PluginConf[]): NetworkList {
  const raw = Buffer.from(bytes);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch (e) {
    throw new RuntimeError(`error parsing configuration list: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new RuntimeError("configuration list must be a JSON object");
  const conf = json as Record<string, unknown>;
  const name = conf.name;
  if (typeof name !== "string" || name === "") throw new RuntimeError("error parsing configuration list: no name");
  const fromFiles = pluginsFromFiles !== undefined && !readFlag(conf.loadOnlyInlinedPlugins, "loadOnlyInlinedPlugins");
  const inline: unknown = conf.plugins ?? (fromFiles ? [] : undefined);
  if (!Array.isArray(inline) || (conf.plugins !== undefined && inline.length === 0)) throw new RuntimeError("error parsing configuration list: no plugins in list");
  inline.forEach((plugin, i) => checkPluginType(plugin, `plugins[${i}]`));
  const plugins = fromFiles ? [...inline, ...pluginsFromFiles(name)] : inline;
  if (plugins.length === 0) throw new RuntimeError(`network "${name}": no plugin configs found`);
  return {
    name,
    cniVersion: pickListVersion(conf.cniVersion, conf.cniVersions),
    disableCheck: readFlag(conf.disableCheck, "disableCheck"),
    disableGC: readFlag(conf.disableGC, "disableGC"),
    plugins: plugins as PluginConf[],
    bytes: raw,
  };
}

/** libcni's ConfListFromConf: a single-plugin config (`*.conf`) as a list of one. */
export function networkListFromConf(conf: PluginConf): NetworkList {
  const list = { name: conf.name, cniVersion: conf.cniVersion, plugins: [conf] };
  return parseNetworkList(JSON.stringify(list));
}

export function checkPluginType(plugin: unknown, where: string): asserts plugin is PluginConf {
  const type = (plugin as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || type === "") throw new RuntimeError(`${where} has no type`);
}

/** The highest of cniVersion ∪ cniVersions that this runtime speaks (libcni ignores newer ones). */
function pickListVersion(cniVersion: unknown, cniVersions: unknown): string {
  const declared = typeof cniVersion === "string" ? cniVersion : "";
  if (cniVersions === undefined) return declared;
  if (!Array.isArray(cniVersions) || cniVersions.some((v) => typeof v !== "string")) throw new RuntimeError("cniVersions must be a list of strings");
  const usable = [declared, ...(cniVersions as string[])].filter((v) => v !== "" && compareVersions(v, RUNTIME_VERSION) <= 0);
  return usable.sort(compareVersions).at(-1) ?? declared;
}

function readFlag(value: unknown, key: string): boolean {
  if (value === undefined || value === false || value === "false") return false;
  if (value === true || value === "true") return true;
  throw new RuntimeError(`${key} must be a boolean, got ${JSON.stringify(value)}`);
}
