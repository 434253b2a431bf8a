// A CNI runtime with libcni's semantics (cni/libcni/api.go): conflist chaining, config injection,
// the result cache, and the version gates of CHECK, GC and STATUS. How a plugin is executed is
// injected (RuntimeOptions.exec): the CLI runs plugins directly, the conformance suite inside a
// throw-away netns, the bench under its timer.
import { validateContainerId, validateIfName } from "../cni/env.ts";
import { compareVersions } from "../cni/version.ts";
import { RuntimeError } from "./errors.ts";
import { RUNTIME_VERSION, type NetworkList, type PluginConf } from "./network-list.ts";
import { findInPath, invoke, invokeRaw, invokeWithResult, parseStdout, pluginError, type RuntimeOptions } from "./plugin-exec.ts";
import { getCachedAttachments, readCachedResult, removeCache, writeCache, type CachedAttachment } from "./result-cache.ts";

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

export interface VersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}

/** ADD every plugin in order, each getting the previous result; caches and returns the last result. */
export function addNetworkList(opts: RuntimeOptions, list: NetworkList, rt: RuntimeConf): unknown {
  validateAttachment(list, rt);
  let result: unknown;
  for (const plugin of list.plugins) {
    const stdin = buildConfig(list, plugin, result, rt);
    result = invokeWithResult(opts, plugin.type, "ADD", attachmentEnv(rt), stdin, list.cniVersion);
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
    invoke(opts, plugin.type, "DEL", attachmentEnv(rt), buildConfig(list, plugin, cached, rt));
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
    invoke(opts, plugin.type, "CHECK", attachmentEnv(rt), buildConfig(list, plugin, cached, rt));
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
        invoke(opts, plugin.type, "GC", {}, Buffer.from(JSON.stringify(conf)));
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
    invoke(opts, plugin.type, "STATUS", {}, Buffer.from(JSON.stringify(injected(list, plugin))));
  }
}

/** VERSION as libcni's GetVersionInfo asks it (dummy NETNS/IFNAME/PATH, its own version on stdin). */
export function versionOf(opts: RuntimeOptions, type: string): VersionInfo {
  const env = { CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy" };
  const stdin = Buffer.from(JSON.stringify({ cniVersion: RUNTIME_VERSION }));
  const outcome = invokeRaw(opts, findInPath(type, opts.path), "VERSION", env, stdin);
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
