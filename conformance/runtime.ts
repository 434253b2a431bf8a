// A CNI runtime driver with libcni's semantics (cni/libcni/api.go): conflist chaining, config
// injection, the result cache, and the version gates of CHECK, GC and STATUS. How a plugin is
// executed is injected, so the conformance suite can run plugins inside a throw-away netns and the
// CLI can run them directly.
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { validateContainerId, validateIfName } from "../lib/cni/env.ts";
import { convertResult, parseResult } from "../lib/cni/result.ts";
import { compareVersions, isSupportedVersion, SUPPORTED_VERSIONS } from "../lib/cni/version.ts";

export interface ExecRequest {
  /** The plugin executable. */
  path: string;
  /** The complete environment of the plugin process. */
  env: Record<string, string>;
  stdin: Buffer;
}

export interface ExecOutcome {
  /** Exit status (128 + signal when killed). */
  status: number;
  stdout: Buffer;
  /** Absent when the executor lets stderr through to its own. */
  stderr?: Buffer;
}

export type PluginExec = (request: ExecRequest) => ExecOutcome;

export interface RuntimeOptions {
  /** CNI_PATH: where plugin executables are looked up, in order. */
  path: string[];
  /** Holds `results/<network>-<containerID>-<ifname>` (libcni's default is /var/lib/cni). */
  cacheDir: string;
  exec: PluginExec;
  /** Variables every plugin gets besides CNI_* (libcni passes its whole environment). */
  env?: Readonly<Record<string, string | undefined>>;
}

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

/** One attachment of a network to a container: libcni's RuntimeConf. */
export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, joined as `K=V;K2=V2`. */
  args?: Array<[string, string]>;
  /** Values for the capabilities plugins declare; sent as `runtimeConfig`. */
  capabilityArgs?: Record<string, unknown>;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface CachedAttachment extends RuntimeConf {
  networkName: string;
  config: Buffer;
  result?: unknown;
}

export interface VersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}

/** The error JSON of a failed plugin, as libcni's ExecPluginWithResult reports it. */
export class PluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly code: number,
    msg: string,
    readonly details: string | undefined,
    readonly outcome: ExecOutcome,
  ) {
    super(msg);
    this.name = "PluginError";
  }
}

/** A refusal by the runtime itself, before or after running plugins. */
export class RuntimeError extends Error {
  override name = "RuntimeError";
}

/** The newest version libcni speaks: cniVersions entries above it are ignored. */
const RUNTIME_VERSION = "1.1.0";
const CACHE_KIND = "cniCacheV1";

// --- configuration ------------------------------------------------------------------------------

/** libcni's ConfListFromBytes: validates the list and picks the version to speak. */
export function parseNetworkList(bytes: Buffer | string): NetworkList {
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
  const plugins = conf.plugins;
  if (!Array.isArray(plugins) || plugins.length === 0) throw new RuntimeError(`error parsing configuration list: no plugins in list`);
  for (const [i, plugin] of plugins.entries()) {
    const type = (plugin as { type?: unknown } | null)?.type;
    if (typeof type !== "string" || type === "") throw new RuntimeError(`plugins[${i}] has no type`);
  }
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

// --- operations ---------------------------------------------------------------------------------

/** ADD every plugin in order, each getting the previous result; caches and returns the last result. */
export function addNetworkList(opts: RuntimeOptions, list: NetworkList, rt: RuntimeConf): unknown {
  validateAttachment(list, rt);
  let result: unknown;
  for (const plugin of list.plugins) {
    const stdin = buildConfig(list, plugin, result, rt);
    result = runWithResult(opts, plugin.type, "ADD", attachmentEnv(rt), stdin, list.cniVersion);
  }
  writeCache(opts, list, rt, result);
  return result;
}

/** DEL every plugin in reverse order with the cached result (>= 0.4.0); removes the cache entry. */
export function delNetworkList(opts: RuntimeOptions, list: NetworkList, rt: RuntimeConf): void {
  validateAttachment(list, rt);
  let cached: unknown;
  if (compareVersions(list.cniVersion, "0.4.0") >= 0) {
    try {
      cached = readCachedResult(opts, list, rt);
    } catch {
      removeCache(opts, list.name, rt);
    }
  }
  for (const plugin of [...list.plugins].reverse()) {
    run(opts, plugin.type, "DEL", attachmentEnv(rt), buildConfig(list, plugin, cached, rt));
  }
  removeCache(opts, list.name, rt);
}

/** CHECK every plugin in order with the cached result; a no-op when the list disables CHECK. */
export function checkNetworkList(opts: RuntimeOptions, list: NetworkList, rt: RuntimeConf): void {
  if (compareVersions(list.cniVersion, "0.4.0") < 0) {
    throw new RuntimeError(`configuration version "${list.cniVersion}" does not support the CHECK command`);
  }
  if (list.disableCheck) return;
  validateAttachment(list, rt);
  const cached = readCachedResult(opts, list, rt);
  for (const plugin of list.plugins) {
    run(opts, plugin.type, "CHECK", attachmentEnv(rt), buildConfig(list, plugin, cached, rt));
  }
}

/**
 * libcni's GCNetworkList: DEL every cached attachment of this network that is not in `valid`, then
 * (>= 1.1.0) GC every plugin with the valid list. Keeps going after errors and throws them all.
 */
export function gcNetworkList(opts: RuntimeOptions, list: NetworkList, valid: Attachment[]): void {
  if (list.disableGC) return;
  const errors: Error[] = [];
  const isValid = (a: CachedAttachment) => valid.some((v) => v.containerID === a.containerId && v.ifname === a.ifName);
  for (const stale of getCachedAttachments(opts).filter((a) => a.networkName === list.name && !isValid(a))) {
    try {
      delNetworkList(opts, list, stale);
    } catch (e) {
      errors.push(e as Error);
    }
  }
  if (compareVersions(list.cniVersion, "1.1.0") >= 0) {
    for (const plugin of list.plugins) {
      // "cni.dev/attachments" is the name an earlier draft of the spec used; libcni sends both.
      const conf = { ...injected(list, plugin), "cni.dev/valid-attachments": valid, "cni.dev/attachments": valid };
      try {
        run(opts, plugin.type, "GC", {}, Buffer.from(JSON.stringify(conf)));
      } catch (e) {
        errors.push(e as Error);
      }
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, errors.map((e) => e.message).join("; "));
}

/** STATUS every plugin in order, stopping at the first failure; a no-op before 1.1.0. */
export function statusNetworkList(opts: RuntimeOptions, list: NetworkList): void {
  if (compareVersions(list.cniVersion, "1.1.0") < 0) return;
  for (const plugin of list.plugins) {
    run(opts, plugin.type, "STATUS", {}, Buffer.from(JSON.stringify(injected(list, plugin))));
  }
}

/** VERSION as libcni's GetVersionInfo asks it (dummy NETNS/IFNAME/PATH, its own version on stdin). */
export function versionOf(opts: RuntimeOptions, type: string): VersionInfo {
  const env = { CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy" };
  const stdin = Buffer.from(JSON.stringify({ cniVersion: RUNTIME_VERSION }));
  const outcome = runRaw(opts, findInPath(type, opts.path), "VERSION", env, stdin);
  if (outcome.status !== 0) {
    const error = pluginError(type, "VERSION", outcome);
    if (error.message === "unknown CNI_COMMAND: VERSION") return { cniVersion: "0.1.0", supportedVersions: ["0.1.0"] };
    throw error;
  }
  const reply = parseStdout(type, outcome);
  const { cniVersion, supportedVersions } = reply as { cniVersion?: unknown; supportedVersions?: unknown };
  if (typeof cniVersion !== "string") throw new RuntimeError(`plugin "${type}": VERSION reply lacks cniVersion`);
  if (supportedVersions === undefined && cniVersion === "0.2.0") return { cniVersion, supportedVersions: ["0.1.0", "0.2.0"] };
  if (!Array.isArray(supportedVersions) || supportedVersions.some((v) => typeof v !== "string")) {
    throw new RuntimeError(`plugin "${type}": VERSION reply has no supportedVersions list`);
  }
  return { cniVersion, supportedVersions: supportedVersions as string[] };
}

// --- executing plugins --------------------------------------------------------------------------

/** libcni's FindInPath: the first `dir/type` that is an executable file. */
export function findInPath(type: string, path: string[]): string {
  if (type === "" || type.includes("/")) throw new RuntimeError(`invalid plugin type "${type}"`);
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new RuntimeError(`failed to find plugin "${type}" in path [${path.join(" ")}]`);
}

/**
 * Runs a plugin with exactly these CNI_* variables on top of `opts.env` (no defaults, no
 * validation): the entry point for tests that send what a runtime never would.
 */
export function execPlugin(
  opts: RuntimeOptions,
  path: string,
  cniEnv: Readonly<Record<string, string | undefined>>,
  stdin: Buffer | string,
): ExecOutcome {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...(opts.env ?? { PATH: process.env.PATH }), ...cniEnv })) {
    if (value !== undefined) env[key] = value;
  }
  return opts.exec({ path, env, stdin: Buffer.from(stdin) });
}

function runRaw(opts: RuntimeOptions, path: string, command: string, env: Record<string, string>, stdin: Buffer): ExecOutcome {
  // libcni sets every CNI_* variable, empty ones included.
  const base = { CNI_CONTAINERID: "", CNI_NETNS: "", CNI_ARGS: "", CNI_IFNAME: "" };
  return execPlugin(opts, path, { ...base, CNI_PATH: opts.path.join(":"), ...env, CNI_COMMAND: command }, stdin);
}

function run(opts: RuntimeOptions, type: string, command: string, env: Record<string, string>, stdin: Buffer): ExecOutcome {
  const outcome = runRaw(opts, findInPath(type, opts.path), command, env, stdin);
  if (outcome.status !== 0) throw pluginError(type, command, outcome);
  return outcome;
}

function runWithResult(opts: RuntimeOptions, type: string, command: string, env: Record<string, string>, stdin: Buffer, confVersion: string): unknown {
  const result = parseStdout(type, run(opts, type, command, env, stdin));
  if (typeof result !== "object" || result === null || Array.isArray(result)) throw new RuntimeError(`plugin "${type}" printed a result that is not an object`);
  // libcni's fixupResultVersion: a result without cniVersion speaks the config's version.
  const fixed = result as Record<string, unknown>;
  if (fixed.cniVersion === undefined || fixed.cniVersion === "") fixed.cniVersion = confVersion;
  return fixed;
}

function parseStdout(type: string, outcome: ExecOutcome): unknown {
  try {
    return JSON.parse(outcome.stdout.toString("utf8"));
  } catch (e) {
    throw new RuntimeError(`plugin "${type}" printed invalid JSON: ${(e as Error).message}`);
  }
}

/** libcni's wording when the error JSON is missing or unreadable. */
function pluginError(type: string, command: string, outcome: ExecOutcome): PluginError {
  const stdout = outcome.stdout.toString("utf8").trim();
  if (stdout === "") {
    const stderr = outcome.stderr?.toString("utf8").trim() ?? "";
    const msg = stderr ? `netplugin failed: ${JSON.stringify(stderr)}` : "netplugin failed with no error message";
    return new PluginError(type, command, 0, msg, undefined, outcome);
  }
  try {
    const { code, msg, details } = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    return new PluginError(
      type,
      command,
      typeof code === "number" ? code : 0,
      typeof msg === "string" ? msg : "",
      typeof details === "string" ? details : undefined,
      outcome,
    );
  } catch (e) {
    return new PluginError(type, command, 0, `netplugin failed but error parsing its diagnostic message ${JSON.stringify(stdout)}: ${(e as Error).message}`, undefined, outcome);
  }
}

// --- config injection ---------------------------------------------------------------------------

function validateAttachment(list: NetworkList, rt: RuntimeConf): void {
  validateContainerId(rt.containerId);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(list.name)) throw new RuntimeError(`invalid characters found in network name "${list.name}"`);
  validateIfName(rt.ifName);
}

function attachmentEnv(rt: RuntimeConf): Record<string, string> {
  return {
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_ARGS: (rt.args ?? []).map(([k, v]) => `${k}=${v}`).join(";"),
  };
}

const injected = (list: NetworkList, plugin: PluginConf): Record<string, unknown> => ({ ...plugin, name: list.name, cniVersion: list.cniVersion });

/** libcni's buildOneConfig: name, cniVersion, prevResult and the runtimeConfig the plugin asked for. */
function buildConfig(list: NetworkList, plugin: PluginConf, prevResult: unknown, rt: RuntimeConf): Buffer {
  const conf = injected(list, plugin);
  if (prevResult !== undefined) conf.prevResult = prevResult;
  const capabilities = (plugin.capabilities ?? {}) as Record<string, unknown>;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, value] of Object.entries(rt.capabilityArgs ?? {})) {
    if (capabilities[cap] === true) runtimeConfig[cap] = value;
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  return Buffer.from(JSON.stringify(conf));
}

// --- result cache -------------------------------------------------------------------------------

export const cachePath = (opts: RuntimeOptions, network: string, rt: Pick<RuntimeConf, "containerId" | "ifName">): string =>
  join(opts.cacheDir, "results", `${network}-${rt.containerId}-${rt.ifName}`);

function writeCache(opts: RuntimeOptions, list: NetworkList, rt: RuntimeConf, result: unknown): void {
  const entry = {
    kind: CACHE_KIND,
    containerId: rt.containerId,
    config: list.bytes.toString("base64"),
    ifName: rt.ifName,
    networkName: list.name,
    netns: rt.netns || undefined,
    cniArgs: rt.args?.length ? rt.args : undefined,
    capabilityArgs: rt.capabilityArgs && Object.keys(rt.capabilityArgs).length > 0 ? rt.capabilityArgs : undefined,
    result,
  };
  mkdirSync(join(opts.cacheDir, "results"), { recursive: true, mode: 0o700 });
  writeFileSync(cachePath(opts, list.name, rt), JSON.stringify(entry), { mode: 0o600 });
}

function removeCache(opts: RuntimeOptions, network: string, rt: RuntimeConf): void {
  rmSync(cachePath(opts, network, rt), { force: true });
}

/**
 * The cached final ADD result converted to the list's version (undefined when there is none).
 * Reads libcni's cniCacheV1 entries and its legacy format, a bare result.
 */
export function readCachedResult(opts: RuntimeOptions, list: NetworkList, rt: RuntimeConf): unknown {
  let text: string;
  try {
    text = readFileSync(cachePath(opts, list.name, rt), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const json = JSON.parse(text) as Record<string, unknown>;
  const result = (json.kind === CACHE_KIND ? json.result : json) as Record<string, unknown> | undefined;
  if (result === undefined) return undefined;
  const version = typeof result.cniVersion === "string" ? result.cniVersion : "0.1.0";
  if (version === list.cniVersion) return result;
  if (!isSupportedVersion(version) || !isSupportedVersion(list.cniVersion)) {
    throw new RuntimeError(`cannot convert cached result version "${version}" to "${list.cniVersion}" (known: ${SUPPORTED_VERSIONS.join(", ")})`);
  }
  return convertResult(parseResult(result, version), list.cniVersion);
}

/** libcni's GetCachedAttachments: every cniCacheV1 entry, optionally only those of one container. */
export function getCachedAttachments(opts: RuntimeOptions, containerId?: string): CachedAttachment[] {
  const dir = join(opts.cacheDir, "results");
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: CachedAttachment[] = [];
  for (const name of names) {
    if (containerId !== undefined && !name.includes(`-${containerId}-`)) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(readFileSync(join(dir, name), "utf8")) as Record<string, unknown>;
    } catch {
      continue;
    }
    const { kind, containerId: cid, ifName, networkName, netns, cniArgs, capabilityArgs, config, result } = entry;
    if (kind !== CACHE_KIND || typeof ifName !== "string" || typeof networkName !== "string" || typeof cid !== "string" || !ifName || !networkName) continue;
    if (containerId !== undefined && cid !== containerId) continue;
    out.push({
      containerId: cid,
      ifName,
      networkName,
      netns: typeof netns === "string" ? netns : "",
      args: Array.isArray(cniArgs) ? (cniArgs as Array<[string, string]>) : undefined,
      capabilityArgs: (capabilityArgs as Record<string, unknown> | undefined) ?? undefined,
      config: Buffer.from(typeof config === "string" ? config : "", "base64"),
      result,
    });
  }
  return out;
}
