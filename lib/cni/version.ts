import { CniCode, CniError } from "./errors.ts";

/** Every spec version we speak, oldest first (Go's `version.All`). */
export const SUPPORTED_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** Version negotiation is an exact string match, as in Go's Reconciler: "1.0" is not "1.0.0". */
export function isSupportedVersion(version: string): version is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

/**
 * Orders two versions like Go's `version.GreaterThan`: "" means 0.1.0, missing minor/micro parts
 * are 0. A malformed version is code 6, which is what the Go skel returns when CHECK/GC/STATUS
 * cannot parse the config version.
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const left = parseVersion(a);
  const right = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return diff > 0 ? 1 : -1;
  }
  return 0;
}

export const versionHasCheck = (version: string): boolean => compareVersions(version, "0.4.0") >= 0;

export const versionHasGcStatus = (version: string): boolean => compareVersions(version, "1.1.0") >= 0;

/**
 * The version to answer a request in: the highest supported one of `cniVersion` ∪ `cniVersions`.
 * A missing or empty `cniVersion` means "0.1.0" (Go's DecodeVersion).
 *
 * Codes: a `cniVersion` we do not list is code 1 even when it is malformed, because the Go skel
 * never parses it for ADD/DEL, it only compares strings. `cniVersions` entries must parse (libcni
 * rejects the whole list otherwise): a malformed one is code 6. Well-formed entries we do not
 * support, e.g. a future "1.2.0", are skipped, as libcni skips versions newer than its own.
 */
export function pickVersion(
  conf: { cniVersion?: unknown; cniVersions?: unknown },
  supported: readonly CniVersion[] = SUPPORTED_VERSIONS,
): CniVersion {
  const configVersion = readConfigVersion(conf.cniVersion);
  const candidates = [configVersion, ...readVersionList(conf.cniVersions)];
  let highest: CniVersion | undefined;
  for (const version of supported) {
    if (candidates.includes(version) && (highest === undefined || compareVersions(version, highest) > 0)) highest = version;
  }
  if (highest !== undefined) return highest;
  const quotedList = supported.map((version) => `"${version}"`).join(" ");
  throw new CniError(
    CniCode.incompatibleVersion,
    "incompatible CNI versions",
    `config is "${configVersion}", plugin supports [${quotedList}]`,
  );
}

function readConfigVersion(value: unknown): string {
  if (value === undefined || value === null || value === "") return "0.1.0";
  if (typeof value !== "string") {
    throw new CniError(CniCode.decodingFailure, `cniVersion must be a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readVersionList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new CniError(CniCode.decodingFailure, `cniVersions must be a list of strings, got ${JSON.stringify(value)}`);
  }
  return value.map((entry, index) => {
    if (typeof entry !== "string") {
      throw new CniError(CniCode.decodingFailure, `cniVersions[${index}] must be a string, got ${JSON.stringify(entry)}`);
    }
    parseVersion(entry);
    return entry;
  });
}

const VERSION_SYNTAX = /^\d+(\.\d+){0,2}$/;

function parseVersion(version: string): number[] {
  if (version === "") return [0, 1, 0];
  if (!VERSION_SYNTAX.test(version)) {
    throw new CniError(CniCode.decodingFailure, `invalid CNI version "${version}"`, "want MAJOR[.MINOR[.MICRO]]");
  }
  return version.split(".").map(Number);
}
