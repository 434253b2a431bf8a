// libcni's configuration loading (libcni/conf.go): `*.conflist` files sorted by name, the first
// with the wanted name wins; then the deprecated single-plugin `*.conf`/`*.json` files.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { RuntimeError } from "./errors.ts";
import { checkPluginType, networkListFromConf, parseNetworkList, type NetworkList, type PluginConf } from "./network-list.ts";

export interface NetworkFile {
  path: string;
  list: NetworkList;
}

export interface NetworkDir {
  /** Every readable network in the order libcni tries them (a later one of the same name is shadowed). */
  networks: NetworkFile[];
  /** Files that could not be read or parsed. */
  broken: Array<{ path: string; error: Error }>;
}

/** libcni's LoadNetworkConf: the network called `name` in `dir`; any unreadable file on the way is an error. */
export function loadNetworkList(dir: string, name: string): NetworkFile {
  const lists = confFiles(dir, [".conflist"]);
  for (const path of lists) {
    const list = readNetworkFile(path);
    if (list.name === name) return { path, list };
  }
  const confs = confFiles(dir, [".conf", ".json"]);
  if (lists.length === 0 && confs.length === 0) throw new RuntimeError(`no net configurations found in ${dir}`);
  for (const path of confs) {
    const list = readNetworkFile(path);
    if (list.name === name) return { path, list };
  }
  throw new RuntimeError(`no net configuration with name "${name}" in ${dir}`);
}

/** Every network in `dir`, keeping going past broken files. */
export function readNetworkDir(dir: string): NetworkDir {
  const out: NetworkDir = { networks: [], broken: [] };
  for (const path of [...confFiles(dir, [".conflist"]), ...confFiles(dir, [".conf", ".json"])]) {
    try {
      out.networks.push({ path, list: readNetworkFile(path) });
    } catch (e) {
      out.broken.push({ path, error: e as Error });
    }
  }
  return out;
}

/** One file: a conflist (plus `<dir>/<name>/*.conf` plugins) or a single-plugin conf. */
export function readNetworkFile(path: string): NetworkList {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new RuntimeError(`error reading ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    if (extname(path) === ".conflist") return parseNetworkList(bytes, (name) => pluginFiles(join(path, "..", name)));
    const conf = parseJson(bytes);
    checkPluginType(conf, "configuration");
    return networkListFromConf(conf);
  } catch (e) {
    if (e instanceof RuntimeError) throw new RuntimeError(`${path}: ${e.message}`);
    throw e;
  }
}

/** libcni's NetworkPluginConfsFromFiles: plugin objects from `<dir>/*.conf`, sorted. */
function pluginFiles(dir: string): PluginConf[] {
  return confFiles(dir, [".conf"]).map((path) => {
    const conf = parseJson(readFileSync(path));
    checkPluginType(conf, path);
    return conf;
  });
}

/** libcni's ConfFiles, sorted: the regular files of `dir` with one of `extensions` (none when it does not exist). */
function confFiles(dir: string, extensions: string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new RuntimeError(`reading ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return names
    .filter((name) => extensions.includes(extname(name)))
    .map((name) => join(dir, name))
    .filter((path) => !statSync(path, { throwIfNoEntry: false })?.isDirectory())
    .sort();
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new RuntimeError(`error parsing configuration: ${(e as Error).message}`);
  }
}
