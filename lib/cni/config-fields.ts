import { parseMac } from "../ip/mac.ts";
import { CniCode, CniError } from "./errors.ts";
import type { Dns } from "./result.ts";

// Typed readers for plugin config keys. null counts as absent (Go's encoding/json); a value of the
// wrong type is code 7 naming the key and the value.

type Json = Record<string, unknown>;

function wrongType(key: string, expected: string, value: unknown): CniError {
  return new CniError(CniCode.invalidNetworkConfig, `invalid "${key}": must be ${expected}, got ${JSON.stringify(value)}`);
}

export function optionalString(config: Json, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw wrongType(key, "a string", value);
  return value;
}

export function optionalBool(config: Json, key: string): boolean | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw wrongType(key, "true or false", value);
  return value;
}

/** An integer in [0, max]; 0 reads as absent (Go's zero value means "unset"). */
export function optionalCount(config: Json, key: string, max = 0xffffffff): number | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > max) {
    throw wrongType(key, `an integer from 0 to ${max}`, value);
  }
  return value === 0 ? undefined : (value as number);
}

/** A nested object (`runtimeConfig`, `args`); absent when missing. */
export function optionalObject(config: Json, key: string): Json | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw wrongType(key, "an object", value);
  return value as Json;
}

/** A unicast MAC (`c2:11:22:33:44:55`), as the kernel accepts for a link; `what` names it in errors. */
export function parseUnicastMac(text: string, what: string, code: number = CniCode.invalidNetworkConfig): Buffer {
  let mac: Buffer;
  try {
    mac = parseMac(text);
  } catch {
    throw new CniError(code, `invalid ${what} "${text}"`, "want six hex bytes like c2:11:22:33:44:55");
  }
  if (((mac[0] ?? 0) & 1) !== 0 || mac.every((b) => b === 0)) {
    throw new CniError(code, `invalid ${what} "${text}"`, "a link address must be unicast and not all zeros");
  }
  return mac;
}

/** The config's `dns` object (same keys as the result's). */
export function optionalDns(config: Json): Dns | undefined {
  const dns = optionalObject(config, "dns");
  if (!dns) return undefined;
  const list = (key: string): string[] | undefined => {
    const value = dns[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw wrongType(`dns.${key}`, "a list of strings", value);
    return value.length > 0 ? [...(value as string[])] : undefined;
  };
  const out: Dns = {};
  const nameservers = list("nameservers");
  const domain = optionalString(dns, "domain");
  const search = list("search");
  const options = list("options");
  if (nameservers) out.nameservers = nameservers;
  if (domain) out.domain = domain;
  if (search) out.search = search;
  if (options) out.options = options;
  return Object.keys(out).length > 0 ? out : undefined;
}
