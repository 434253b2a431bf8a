import { checkKnownArgs } from "../../lib/cni/args.ts";
import { CniCode, CniError, invalidConfig } from "../../lib/cni/errors.ts";
import type { Route } from "../../lib/cni/result.ts";
import type { PluginContext } from "../../lib/cni/skel.ts";
import { formatIp, formatPrefix, parseIp, parsePrefix, type IpAddress } from "../../lib/ip/address.ts";
import type { Attachment } from "../../lib/ipam/lease-store.ts";
import { canonicalizeRangeSets, type RangeSet, type RangeSetSpec, type RangeSpec } from "../../lib/ipam/range-set.ts";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";

/** Where the leases of a network live: `<dataDir>/<name>`. */
export interface StoreLocation {
  name: string;
  dataDir: string;
}

export interface HostLocalConfig extends StoreLocation {
  /** runtimeConfig.ipRanges, then the legacy top-level range, then ipam.ranges. */
  rangeSets: RangeSet[];
  routes: Route[];
  resolvConf: string | undefined;
  /** From CNI_ARGS `IP`, args.cni.ips and runtimeConfig.ips, without duplicates. */
  requestedIps: IpAddress[];
}

type Json = Record<string, unknown>;

/** The whole config, validated (ADD, CHECK, STATUS). Errors are code 7 naming the key and value. */
export function parseConfig(ctx: PluginContext): HostLocalConfig {
  const ipam = ipamSection(ctx.config);
  const runtimeConfig = optionalObject(ctx.config, "runtimeConfig", "runtimeConfig") ?? {};
  const legacy: RangeSetSpec[] =
    ipam.subnet === undefined || ipam.subnet === null ? [] : [{ path: "ipam", ranges: [rangeSpec(ipam, "ipam")] }];
  const specs = [...rangeSetSpecs(runtimeConfig, "runtimeConfig.ipRanges", "ipRanges"), ...legacy, ...rangeSetSpecs(ipam, "ipam.ranges", "ranges")];
  return {
    ...storeLocation(ctx),
    rangeSets: canonicalizeRangeSets(specs, ctx.cniVersion),
    routes: (optionalList(ipam, "routes", "ipam.routes") ?? []).map((item, i) => parseRoute(item, `ipam.routes[${i}]`)),
    resolvConf: optionalString(ipam, "resolvConf", "ipam.resolvConf"),
    requestedIps: requestedIps(ctx, runtimeConfig),
  };
}

/** Just enough config to find the leases (DEL, GC): DEL must finish even if the ranges went bad. */
export function storeLocation(ctx: PluginContext): StoreLocation {
  const ipam = ipamSection(ctx.config);
  return { name: ctx.config.name as string, dataDir: optionalString(ipam, "dataDir", "ipam.dataDir") ?? DEFAULT_DATA_DIR };
}

export const attachmentOf = (ctx: PluginContext): Attachment => ({ containerId: ctx.env.containerId, ifname: ctx.env.ifname });

/**
 * GC's list of attachments still in use: `cni.dev/valid-attachments`, or the legacy
 * `cni.dev/attachments` that libcni also sends. Both absent or null means none (Go omits an empty
 * list, and libcni sends a nil list as null).
 */
export function validAttachments(config: Json): Attachment[] {
  const key = config["cni.dev/valid-attachments"] != null ? "cni.dev/valid-attachments" : "cni.dev/attachments";
  return (optionalList(config, key, key) ?? []).map((item, i) => {
    const entry = asObject(item, `${key}[${i}]`);
    const containerId = entry.containerID;
    const ifname = entry.ifname;
    if (typeof containerId !== "string" || containerId === "" || typeof ifname !== "string" || ifname === "") {
      throw invalidConfig(`invalid ${key}[${i}]: want {"containerID": "...", "ifname": "..."}, got ${JSON.stringify(item)}`);
    }
    return { containerId, ifname };
  });
}

function ipamSection(config: Json): Json {
  const ipam = optionalObject(config, "ipam", "ipam");
  if (!ipam) throw invalidConfig("IPAM config missing 'ipam' key");
  return ipam;
}

function rangeSetSpecs(parent: Json, path: string, key: string): RangeSetSpec[] {
  return (optionalList(parent, key, path) ?? []).map((set, i) => {
    const setPath = `${path}[${i}]`;
    if (!Array.isArray(set)) throw wrongType(setPath, "a list of ranges", set);
    return { path: setPath, ranges: set.map((range: unknown, j) => rangeSpec(asObject(range, `${setPath}[${j}]`), `${setPath}[${j}]`)) };
  });
}

function rangeSpec(raw: Json, path: string): RangeSpec & { path: string } {
  const subnet = optionalString(raw, "subnet", `${path}.subnet`);
  if (subnet === undefined) throw invalidConfig(`missing ${path}.subnet`);
  const spec: RangeSpec & { path: string } = { path, subnet };
  for (const key of ["rangeStart", "rangeEnd", "gateway"] as const) {
    const value = optionalString(raw, key, `${path}.${key}`);
    if (value !== undefined) spec[key] = value;
  }
  return spec;
}

/** A route as the result carries it; addresses in canonical text, 1.1.0 fields kept. */
function parseRoute(item: unknown, path: string): Route {
  const raw = asObject(item, path);
  const dst = optionalString(raw, "dst", `${path}.dst`);
  if (dst === undefined) throw invalidConfig(`missing ${path}.dst`);
  const route: Route = { dst: formatPrefix(parseOr(`${path}.dst`, dst, parsePrefix)) };
  const gw = optionalString(raw, "gw", `${path}.gw`);
  if (gw !== undefined) route.gw = formatIp(parseOr(`${path}.gw`, gw, parseIp));
  for (const key of ["mtu", "advmss", "priority", "table", "scope"] as const) {
    const value = raw[key];
    if (value === undefined || value === null) continue;
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw wrongType(`${path}.${key}`, "a non-negative integer", value);
    route[key] = value as number;
  }
  return route;
}

function requestedIps(ctx: PluginContext, runtimeConfig: Json): IpAddress[] {
  // MAC is the calling interface plugin's key (bridge/macvlan pass CNI_ARGS through unchanged).
  checkKnownArgs(ctx.cniArgs, ["IP", "MAC"]);
  const ips: IpAddress[] = [];
  const fromArgs = ctx.cniArgs.get("IP");
  if (fromArgs) {
    const ip = tryParseRequested(fromArgs);
    if (!ip) throw new CniError(CniCode.invalidEnvironment, `CNI_ARGS: invalid IP "${fromArgs}"`, "want an address, optionally with /prefix");
    ips.push(ip);
  }
  const args = optionalObject(ctx.config, "args", "args");
  const cni = args && optionalObject(args, "cni", "args.cni");
  for (const [list, path] of [
    [cni && optionalList(cni, "ips", "args.cni.ips"), "args.cni.ips"],
    [optionalList(runtimeConfig, "ips", "runtimeConfig.ips"), "runtimeConfig.ips"],
  ] as const) {
    list?.forEach((text, i) => {
      const ip = typeof text === "string" ? tryParseRequested(text) : undefined;
      if (!ip) throw wrongType(`${path}[${i}]`, "an IP address, optionally with /prefix", text);
      ips.push(ip);
    });
  }
  return [...new Map(ips.map((ip) => [formatIp(ip), ip])).values()];
}

/** `10.1.2.3` or `10.1.2.3/24` (the prefix is ignored, as in Go). */
function tryParseRequested(text: string): IpAddress | undefined {
  try {
    return text.includes("/") ? parsePrefix(text).address : parseIp(text);
  } catch {
    return undefined;
  }
}

// --- JSON readers with the key's path in errors; null counts as absent (Go's encoding/json) ------

function wrongType(path: string, expected: string, value: unknown): CniError {
  return invalidConfig(`invalid ${path}: must be ${expected}, got ${JSON.stringify(value)}`);
}

function asObject(value: unknown, path: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw wrongType(path, "an object", value);
  return value as Json;
}

function optionalObject(parent: Json, key: string, path: string): Json | undefined {
  const value = parent[key];
  return value === undefined || value === null ? undefined : asObject(value, path);
}

function optionalList(parent: Json, key: string, path: string): unknown[] | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw wrongType(path, "a list", value);
  return value;
}

function optionalString(parent: Json, key: string, path: string): string | undefined {
  const value = parent[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw wrongType(path, "a string", value);
  return value;
}

function parseOr<T>(path: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    throw invalidConfig(`invalid ${path} "${text}"`, (e as Error).message);
  }
}
