// libcni's result cache: `<cacheDir>/results/<network>-<containerID>-<ifname>`, one cniCacheV1
// JSON entry per attachment, so DEL gets the ADD result (and the capability args) back and other
// runtimes can find what was attached.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convertResult, parseResult } from "../cni/result.ts";
import { isSupportedVersion, SUPPORTED_VERSIONS } from "../cni/version.ts";
import { RuntimeError } from "./errors.ts";
import type { NetworkList } from "./network-list.ts";
import type { RuntimeConf } from "./operations.ts";

export interface CachedAttachment extends RuntimeConf {
  networkName: string;
  /** The conflist bytes the attachment was made with. */
  config: Buffer;
  result?: unknown;
}

type CacheDir = { cacheDir: string };

const CACHE_KIND = "cniCacheV1";

export const cachePath = (opts: CacheDir, network: string, rt: Pick<RuntimeConf, "containerId" | "ifName">): string =>
  join(opts.cacheDir, "results", `${network}-${rt.containerId}-${rt.ifName}`);

export function writeCache(opts: CacheDir, list: NetworkList, rt: RuntimeConf, result: unknown): void {
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

export function removeCache(opts: CacheDir, network: string, rt: Pick<RuntimeConf, "containerId" | "ifName">): void {
  rmSync(cachePath(opts, network, rt), { force: true });
}

/**
 * The cached final ADD result converted to the list's version (undefined when there is none).
 * Reads libcni's cniCacheV1 entries and its legacy format, a bare result.
 */
export function readCachedResult(opts: CacheDir, list: NetworkList, rt: Pick<RuntimeConf, "containerId" | "ifName">): unknown {
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
export function getCachedAttachments(opts: CacheDir, containerId?: string): CachedAttachment[] {
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
