import { type Family, parsePrefix, tryParseIp } from "../ip/address.ts";
import { CniCode, CniError } from "./errors.ts";
import { compareVersions, isSupportedVersion, SUPPORTED_VERSIONS } from "./version.ts";

// The internal result is the 1.1.0 shape. Absent, empty and Go-zero values are left out, so a
// result reads the same however it was produced.

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IpConfig {
  /** "10.1.2.3/24": the address with its subnet's prefix length. */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  /** 0 universe, 253 link, 254 host. */
  scope?: number;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IpConfig[];
  routes?: Route[];
  dns?: Dns;
}

const INTERNAL_VERSION = "1.1.0";

/**
 * Reads a result (a prevResult, a delegated IPAM result) of any supported version into the
 * internal shape. A result without cniVersion has `fallbackVersion`, the config's version, as Go
 * does for prevResult. Unsupported version: code 1. Wrong shape: code 6, naming the field.
 * Addresses are checked, not rewritten: Go would print them canonicalized.
 */
export function parseResult(json: unknown, fallbackVersion: string): Result {
  const raw = readObject(json, "result");
  const declared = optionalString(raw, "cniVersion", "result");
  const version = declared ?? fallbackVersion;
  if (!isSupportedVersion(version)) {
    throw new CniError(
      CniCode.incompatibleVersion,
      `unsupported CNI result version "${version}"`,
      `supported: ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  const parsed = compareVersions(version, "0.3.0") < 0 ? parseLegacyBody(raw) : parseBody(raw, version);
  return compact({ cniVersion: INTERNAL_VERSION, ...parsed });
}

/**
 * Renders `result` as Go's PrintResult(result, toVersion) would (cni/pkg/types/{020,040,100}):
 * - 0.1.0/0.2.0: the first IPv4 and first IPv6 address become ip4/ip6; each route joins the
 *   ip4/ip6 of its dst family (dropped if that family has no address), keeping only dst and gw.
 *   No address at all is an error: these versions cannot express an L2-only result.
 * - 0.3.x/0.4.0: ips gain `version`; interfaces keep only name/mac/sandbox, but routes keep every
 *   field, 1.1-only ones included (a Go quirk we mirror).
 * - 1.0.0 is printed exactly like 1.1.0, 1.1-only fields included: Go uses one type for both and
 *   converts between them by changing cniVersion only. Consumers ignore fields they don't know.
 * - Empty lists are omitted everywhere. `dns` is always printed for 0.x (`"dns": {}`, Go prints
 *   the struct) and omitted for 1.x when empty (libcni >= 1.2.0).
 * Keys follow the spec's order (cniVersion, interfaces, ips, routes, dns; fields in Go struct
 * order). Go >= 1.2.0 sorts 1.x keys alphabetically as a side effect of its dns fix-up; JSON
 * readers don't care.
 */
export function convertResult(result: Result, toVersion: string): object {
  if (!isSupportedVersion(toVersion)) {
    throw new CniError(CniCode.incompatibleVersion, `cannot convert result to unsupported CNI version "${toVersion}"`);
  }
  if (compareVersions(toVersion, "0.3.0") < 0) return toLegacyJson(result, toVersion);
  const isV0x = compareVersions(toVersion, "1.0.0") < 0;
  return compact({
    cniVersion: toVersion,
    interfaces: nonEmpty(result.interfaces?.map(isV0x ? toV04Interface : toInterfaceJson)),
    ips: nonEmpty(result.ips?.map((ip) => toIpJson(ip, isV0x))),
    routes: nonEmpty(result.routes?.map(toRouteJson)),
    dns: isV0x ? toDnsJson(result.dns) : nonEmptyObject(toDnsJson(result.dns)),
  });
}

/** The JSON text Go prints: json.MarshalIndent with 4 spaces, no trailing newline, HTML-safe escapes. */
export function formatResult(json: object): string {
  return JSON.stringify(json, null, 4).replace(/[<>&\u2028\u2029]/g, goEscape);
}

const goEscape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;

// --- rendering ---------------------------------------------------------------------------------

function toLegacyJson(result: Result, cniVersion: string): object {
  const ips = result.ips ?? [];
  const ip4 = ips.find((ip) => isIpv4Cidr(ip.address));
  const ip6 = ips.find((ip) => !isIpv4Cidr(ip.address));
  if (ip4 === undefined && ip6 === undefined) {
    throw new CniError(
      CniCode.incompatibleVersion,
      "cannot convert: no valid IP addresses",
      `a result without IP addresses cannot be expressed in CNI version ${cniVersion}`,
    );
  }
  const routes = result.routes ?? [];
  const legacyIp = (ip: IpConfig, ipv4: boolean) =>
    compact({
      ip: ip.address,
      gateway: nonBlank(ip.gateway),
      routes: nonEmpty(
        routes.filter((route) => isIpv4Cidr(route.dst) === ipv4).map(({ dst, gw }) => compact({ dst, gw: nonBlank(gw) })),
      ),
    });
  return compact({
    cniVersion,
    ip4: ip4 && legacyIp(ip4, true),
    ip6: ip6 && legacyIp(ip6, false),
    dns: toDnsJson(result.dns),
  });
}

const toV04Interface = ({ name, mac, sandbox }: Interface): object =>
  compact({ name, mac: nonBlank(mac), sandbox: nonBlank(sandbox) });

const toInterfaceJson = ({ name, mac, mtu, sandbox, socketPath, pciID }: Interface): object =>
  compact({
    name,
    mac: nonBlank(mac),
    mtu: nonZero(mtu),
    sandbox: nonBlank(sandbox),
    socketPath: nonBlank(socketPath),
    pciID: nonBlank(pciID),
  });

function toIpJson({ address, gateway, interface: index }: IpConfig, withVersion: boolean): object {
  const version = withVersion ? (isIpv4Cidr(address) ? "4" : "6") : undefined;
  return compact({ version, interface: index, address, gateway: nonBlank(gateway) });
}

const toRouteJson = ({ dst, gw, mtu, advmss, priority, table, scope }: Route): object =>
  compact({
    dst,
    gw: nonBlank(gw),
    mtu: nonZero(mtu),
    advmss: nonZero(advmss),
    priority: nonZero(priority),
    table,
    scope,
  });

const toDnsJson = (dns: Dns | undefined): object =>
  compact({
    nameservers: nonEmpty(dns?.nameservers),
    domain: nonBlank(dns?.domain),
    search: nonEmpty(dns?.search),
    options: nonEmpty(dns?.options),
  });

// --- parsing -----------------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;
type ResultBody = Omit<Result, "cniVersion">;

/** 0.1.0/0.2.0: `ip4`/`ip6` each carry one address and their routes. */
function parseLegacyBody(raw: JsonObject): ResultBody {
  const ips: IpConfig[] = [];
  const routes: Route[] = [];
  for (const key of ["ip4", "ip6"] as const) {
    if (raw[key] === undefined || raw[key] === null) continue;
    const path = `result.${key}`;
    const ipConfig = readObject(raw[key], path);
    ips.push(compact({ address: requiredCidr(ipConfig, "ip", path), gateway: optionalIp(ipConfig, "gateway", path) }));
    routes.push(...readList(ipConfig, "routes", path, parseRoute));
  }
  return { ips: nonEmpty(ips), routes: nonEmpty(routes), dns: parseDns(raw) };
}

/**
 * 0.3.0 and later. `ips[].version` is ignored: the family is read from the address, as Go does
 * going 1.x → 0.x. Before 1.0.0 Go's interface type has only name/mac/sandbox, so other fields drop.
 */
function parseBody(raw: JsonObject, version: string): ResultBody {
  const parseInterface = compareVersions(version, "1.0.0") < 0 ? parseV04Interface : parseV1Interface;
  return {
    interfaces: nonEmpty(readList(raw, "interfaces", "result", parseInterface)),
    ips: nonEmpty(readList(raw, "ips", "result", parseIp)),
    routes: nonEmpty(readList(raw, "routes", "result", parseRoute)),
    dns: parseDns(raw),
  };
}

function parseV04Interface(raw: JsonObject, path: string): Interface {
  return compact({
    name: requiredString(raw, "name", path),
    mac: optionalString(raw, "mac", path),
    sandbox: optionalString(raw, "sandbox", path),
  });
}

function parseV1Interface(raw: JsonObject, path: string): Interface {
  return compact({
    name: requiredString(raw, "name", path),
    mac: optionalString(raw, "mac", path),
    mtu: nonZero(optionalInteger(raw, "mtu", path)),
    sandbox: optionalString(raw, "sandbox", path),
    socketPath: optionalString(raw, "socketPath", path),
    pciID: optionalString(raw, "pciID", path),
  });
}

function parseIp(raw: JsonObject, path: string): IpConfig {
  const index = optionalInteger(raw, "interface", path);
  if (index !== undefined && index < 0) fail(`${path}.interface`, "an index into interfaces", index);
  return compact({
    address: requiredCidr(raw, "address", path),
    gateway: optionalIp(raw, "gateway", path),
    interface: index,
  });
}

/** Go's route: mtu/advmss/priority are plain ints (0 = unset), table/scope are pointers (0 kept). */
function parseRoute(raw: JsonObject, path: string): Route {
  return compact({
    dst: requiredCidr(raw, "dst", path),
    gw: optionalIp(raw, "gw", path),
    mtu: nonZero(optionalInteger(raw, "mtu", path)),
    advmss: nonZero(optionalInteger(raw, "advmss", path)),
    priority: nonZero(optionalInteger(raw, "priority", path)),
    table: optionalInteger(raw, "table", path),
    scope: optionalInteger(raw, "scope", path),
  });
}

function parseDns(raw: JsonObject): Dns | undefined {
  if (raw.dns === undefined || raw.dns === null) return undefined;
  const path = "result.dns";
  const dns = readObject(raw.dns, path);
  return nonEmptyObject(
    compact({
      nameservers: nonEmpty(optionalStrings(dns, "nameservers", path)),
      domain: optionalString(dns, "domain", path),
      search: nonEmpty(optionalStrings(dns, "search", path)),
      options: nonEmpty(optionalStrings(dns, "options", path)),
    }),
  );
}

// --- field readers: null counts as absent, as in Go's encoding/json ----------------------------

function readObject(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(path, "an object", value);
  return value as JsonObject;
}

function readList<T>(raw: JsonObject, key: string, path: string, parse: (item: JsonObject, path: string) => T): T[] {
  const value = raw[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(`${path}.${key}`, "a list", value);
  return value.map((item: unknown, index) => {
    const itemPath = `${path}.${key}[${index}]`;
    return parse(readObject(item, itemPath), itemPath);
  });
}

/** An empty string is absent too: Go prints these fields with omitempty. */
function optionalString(raw: JsonObject, key: string, path: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") fail(`${path}.${key}`, "a string", value);
  return value;
}

function requiredString(raw: JsonObject, key: string, path: string): string {
  const value = raw[key];
  if (typeof value !== "string") fail(`${path}.${key}`, "a string", value);
  return value;
}

function optionalStrings(raw: JsonObject, key: string, path: string): string[] | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    fail(`${path}.${key}`, "a list of strings", value);
  }
  return [...(value as string[])];
}

function optionalInteger(raw: JsonObject, key: string, path: string): number | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value)) fail(`${path}.${key}`, "an integer", value);
  return value as number;
}

function requiredCidr(raw: JsonObject, key: string, path: string): string {
  const value = requiredString(raw, key, path);
  if (familyOfCidr(value) === undefined) fail(`${path}.${key}`, "an IP address with prefix length", value);
  return value;
}

function optionalIp(raw: JsonObject, key: string, path: string): string | undefined {
  const value = optionalString(raw, key, path);
  if (value !== undefined && tryParseIp(value) === undefined) fail(`${path}.${key}`, "an IP address", value);
  return value;
}

function fail(path: string, expected: string, got: unknown): never {
  throw new CniError(CniCode.decodingFailure, `invalid CNI result: ${path} must be ${expected}, got ${JSON.stringify(got) ?? "nothing"}`);
}

// --- small helpers -----------------------------------------------------------------------------

function familyOfCidr(cidr: string): Family | undefined {
  try {
    return parsePrefix(cidr).address.family;
  } catch {
    return undefined;
  }
}

/** Anything not IPv4 counts as IPv6, as with Go's `To4() == nil`. */
const isIpv4Cidr = (cidr: string): boolean => familyOfCidr(cidr) === 4;

/** Drops keys whose value is undefined, so objects compare and print without them. */
function compact<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const key in obj) if (obj[key] !== undefined) out[key] = obj[key];
  return out as T;
}

const nonEmpty = <T>(list: T[] | undefined): T[] | undefined => (list && list.length > 0 ? [...list] : undefined);

const nonEmptyObject = <T extends object>(obj: T): T | undefined => (Object.keys(obj).length > 0 ? obj : undefined);

// Go's omitempty: "" and 0 are not printed.
const nonBlank = (value: string | undefined): string | undefined => (value === "" ? undefined : value);
const nonZero = (value: number | undefined): number | undefined => (value === 0 ? undefined : value);
