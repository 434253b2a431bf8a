import { optionalBool, optionalObject, optionalString } from "../../lib/cni/config-fields.ts";
import { invalidConfig } from "../../lib/cni/errors.ts";
import { tryParseIp, type IpAddress } from "../../lib/ip/address.ts";
import type { L4Proto } from "../../lib/nft/index.ts";
import { conditionsSyntax, parseConditions, type Conditions } from "./conditions.ts";

type Json = Record<string, unknown>;

/** One entry of `runtimeConfig.portMappings` (CONVENTIONS.md), validated. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: L4Proto;
  /** Absent: every local address. `0.0.0.0` / `::` mean every address of that family only. */
  hostIP?: IpAddress;
}

export interface PortmapConfig {
  network: string;
  mappings: PortMapping[];
  snat: boolean;
  masqAll: boolean;
  /** Per family: the match that gates this network's mappings; undefined when none. */
  conditions: { 4?: Conditions; 6?: Conditions };
  /** Where each attachment's mappings are recorded (ours; the reference has no such key). */
  dataDir: string;
}

export const DEFAULT_DATA_DIR = "/run/cni/tscni-portmap";

const PROTOCOLS: readonly L4Proto[] = ["tcp", "udp", "sctp"];

/**
 * Reads every key the reference knows. `backend`, `markMasqBit` and `externalSetMarkChain` are
 * validated as the reference does and otherwise have no effect: the mappings are always nftables
 * map elements, and masquerading needs no packet mark.
 */
export function parsePortmapConfig(config: Json): PortmapConfig {
  const backend = optionalString(config, "backend");
  if (backend !== undefined && backend !== "iptables" && backend !== "nftables") {
    throw invalidConfig(`unrecognized backend "${backend}"`, 'want "iptables" or "nftables" (tscni always programs nftables)');
  }
  const markMasqBit = config.markMasqBit;
  const externalSetMarkChain = optionalString(config, "externalSetMarkChain");
  if (markMasqBit !== undefined && markMasqBit !== null) {
    if (externalSetMarkChain !== undefined) throw invalidConfig('cannot specify "externalSetMarkChain" and "markMasqBit"');
    if (!Number.isInteger(markMasqBit) || (markMasqBit as number) < 0 || (markMasqBit as number) > 31) {
      throw invalidConfig(`invalid "markMasqBit": must be an integer from 0 to 31, got ${JSON.stringify(markMasqBit)}`);
    }
  }
  const v4 = stringList(config, "conditionsV4");
  const v6 = stringList(config, "conditionsV6");
  checkBackendKeys(backend, { externalSetMarkChain: externalSetMarkChain !== undefined ? "iptables" : undefined, conditionsV4: conditionsSyntax(v4), conditionsV6: conditionsSyntax(v6) });
  const conditions: PortmapConfig["conditions"] = {};
  const c4 = parseConditions(v4, 4, "conditionsV4");
  const c6 = parseConditions(v6, 6, "conditionsV6");
  if (c4) conditions[4] = c4;
  if (c6) conditions[6] = c6;
  const runtimeConfig = optionalObject(config, "runtimeConfig") ?? {};
  const dataDir = optionalString(config, "dataDir") ?? DEFAULT_DATA_DIR;
  if (!dataDir.startsWith("/")) throw invalidConfig(`invalid "dataDir": "${dataDir}" is not an absolute path`);
  return {
    network: config.name as string,
    mappings: parseMappings(runtimeConfig.portMappings),
    snat: optionalBool(config, "snat") ?? true,
    masqAll: optionalBool(config, "masqAll") ?? false,
    conditions,
    dataDir,
  };
}

/** The reference refuses options of the backend it was not asked for. */
function checkBackendKeys(backend: string | undefined, keys: Record<string, "iptables" | "nftables" | undefined>): void {
  if (backend === undefined) return;
  const wrong = Object.entries(keys).filter(([, b]) => b !== undefined && b !== backend).map(([k]) => k);
  if (wrong.length > 0) {
    throw invalidConfig(`${backend} backend was requested but the configuration contains ${backend === "iptables" ? "nftables" : "iptables"}-specific options [${wrong.join(" ")}]`);
  }
}

function stringList(config: Json, key: string): string[] | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw invalidConfig(`invalid "${key}": must be a list of strings, got ${JSON.stringify(value)}`);
  }
  return value as string[];
}

function parseMappings(value: unknown): PortMapping[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidConfig(`invalid "runtimeConfig.portMappings": must be a list, got ${JSON.stringify(value)}`);
  return value.map((entry, i) => parseMapping(entry, `runtimeConfig.portMappings[${i}]`));
}

/**
 * An entry's keys as Go's encoding/json reads them: case-insensitively. containerd's go-cni sends
 * its PortMapping struct, which has no JSON tags, as {"HostPort","ContainerPort","Protocol","HostIP"}.
 */
function withCanonicalKeys(entry: Json): Json {
  const out: Json = {};
  for (const key in entry) {
    const canonical = MAPPING_KEYS.find((k) => k.toLowerCase() === key.toLowerCase()) ?? key;
    out[canonical] ??= entry[key];
  }
  return out;
}

const MAPPING_KEYS = ["hostPort", "containerPort", "protocol", "hostIP"];

function parseMapping(entry: unknown, where: string): PortMapping {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw invalidConfig(`invalid "${where}": must be an object, got ${JSON.stringify(entry)}`);
  const e = withCanonicalKeys(entry as Json);
  const port = (key: string): number => {
    const v = e[key];
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) {
      throw invalidConfig(`invalid ${key === "hostPort" ? "host" : "container"} port number in "${where}": ${JSON.stringify(v)}`, "want an integer from 1 to 65535");
    }
    return v as number;
  };
  const mapping: PortMapping = { hostPort: port("hostPort"), containerPort: port("containerPort"), protocol: protocolOf(e.protocol, where) };
  const hostIP = optionalString(e, "hostIP");
  if (hostIP !== undefined) {
    const ip = tryParseIp(hostIP);
    if (!ip) throw invalidConfig(`invalid "hostIP" in "${where}": "${hostIP}" is not an IP address`);
    mapping.hostIP = ip;
  }
  return mapping;
}

/** tcp, udp or sctp, any case; absent or empty means tcp. */
function protocolOf(value: unknown, where: string): L4Proto {
  if (value === undefined || value === null || value === "") return "tcp";
  const p = typeof value === "string" ? value.toLowerCase() : value;
  if (!PROTOCOLS.includes(p as L4Proto)) throw invalidConfig(`invalid "protocol" in "${where}": ${JSON.stringify(value)}`, "want tcp, udp or sctp");
  return p as L4Proto;
}
