import { CniCode, CniError } from "./errors.ts";

// Every CNI_ARGS problem is code 4 (invalid environment variable): CNI_ARGS is an env var, not
// network config (code 2), and code 4 messages must name the variable. Go's LoadArgs returns plain
// errors that the skel turns into 999; we keep its rules and give the runtime a spec code.

/**
 * Parses `K=V;K2=V2` like Go's `types.LoadArgs`: split on ";", then every pair must split on "="
 * into exactly two parts, so values cannot contain "=" and a trailing ";" is an error. Keys are
 * case-sensitive; a repeated key keeps its last value.
 */
export function parseCniArgs(raw: string | undefined): Map<string, string> {
  const args = new Map<string, string>();
  if (!raw) return args;
  for (const pair of raw.split(";")) {
    const parts = pair.split("=");
    if (parts.length !== 2) {
      throw new CniError(CniCode.invalidEnvironment, `CNI_ARGS: invalid pair "${pair}"`, "want KEY=VALUE pairs separated by ;");
    }
    const [key = "", value = ""] = parts;
    args.set(key, value);
  }
  return args;
}

/**
 * Rejects keys outside `known` unless `IgnoreUnknown` is true, as LoadArgs does with a plugin's
 * args struct. Runtimes (containerd, CRI-O) send `IgnoreUnknown=1` with their K8S_POD_* keys.
 */
export function checkKnownArgs(args: ReadonlyMap<string, string>, known: readonly string[]): void {
  if (readIgnoreUnknown(args.get("IgnoreUnknown"))) return;
  const unknownKeys = [...args.keys()].filter((key) => key !== "IgnoreUnknown" && !known.includes(key));
  if (unknownKeys.length === 0) return;
  throw new CniError(
    CniCode.invalidEnvironment,
    `CNI_ARGS: unknown keys ${unknownKeys.map((key) => `"${key}"`).join(", ")}`,
    `known keys: ${[...known, "IgnoreUnknown"].join(", ")}; set IgnoreUnknown=1 to ignore others`,
  );
}

/** Go's UnmarshallableBool: "1"/"true" or "0"/"false", any letter case. */
function readIgnoreUnknown(value: string | undefined): boolean {
  if (value === undefined) return false;
  switch (value.toLowerCase()) {
    case "1":
    case "true":
      return true;
    case "0":
    case "false":
      return false;
    default:
      throw new CniError(
        CniCode.invalidEnvironment,
        `CNI_ARGS: invalid IgnoreUnknown value "${value}"`,
        "want 1, true, 0 or false",
      );
  }
}
