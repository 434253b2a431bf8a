import { CniCode, CniError } from "./errors.ts";

export const CNI_COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"] as const;

export type CniCommand = (typeof CNI_COMMANDS)[number];

/** The CNI_* variables of one invocation; absent optional ones are "" (path: []). */
export interface CniEnv {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS unparsed; see parseCniArgs. */
  args: string;
  path: string[];
}

type AttachmentVar = "CNI_CONTAINERID" | "CNI_NETNS" | "CNI_IFNAME" | "CNI_PATH";

/**
 * Variables each command requires, listed in the Go skel's order so the "missing" message names
 * them the same way. Go also requires CNI_PATH for STATUS; the spec makes it optional, so we don't.
 */
const REQUIRED_VARS: Record<CniCommand, readonly AttachmentVar[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  GC: ["CNI_PATH"],
  STATUS: [],
  VERSION: [],
};

const VALIDATORS: Partial<Record<AttachmentVar, (value: string) => void>> = {
  CNI_CONTAINERID: validateContainerId,
  CNI_IFNAME: validateIfName,
};

/**
 * Reads and validates the CNI_* variables like the Go skel: an empty variable counts as missing,
 * and a required variable is validated when it is reached, so a bad CNI_CONTAINERID is reported
 * before a missing CNI_PATH. Variables a command does not require are returned unvalidated.
 */
export function readCniEnv(env: Readonly<Record<string, string | undefined>>): CniEnv {
  const command = env.CNI_COMMAND ?? "";
  if (command === "") throw missingVars(["CNI_COMMAND"]);
  if (!isCniCommand(command)) throw new CniError(CniCode.invalidEnvironment, `unknown CNI_COMMAND: ${command}`);

  const missing: string[] = [];
  for (const name of REQUIRED_VARS[command]) {
    const value = env[name] ?? "";
    if (value === "") missing.push(name);
    else VALIDATORS[name]?.(value);
  }
  if (missing.length > 0) throw missingVars(missing);

  return {
    command,
    containerId: env.CNI_CONTAINERID ?? "",
    netns: env.CNI_NETNS ?? "",
    ifname: env.CNI_IFNAME ?? "",
    args: env.CNI_ARGS ?? "",
    path: (env.CNI_PATH ?? "").split(":").filter((dir) => dir !== ""),
  };
}

const CONTAINER_ID_SYNTAX = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/**
 * Go's ValidateContainerID. Its code 3 "missing containerID" for an empty id is unreachable
 * through the skel, which reports an empty CNI_CONTAINERID as missing (code 4) first.
 */
export function validateContainerId(containerId: string): void {
  if (containerId === "") throw new CniError(CniCode.unknownContainer, "missing containerID");
  if (!CONTAINER_ID_SYNTAX.test(containerId)) {
    throw new CniError(
      CniCode.invalidEnvironment,
      "invalid characters in containerID",
      `"${containerId}" must match ${CONTAINER_ID_SYNTAX.source}`,
    );
  }
}

const MAX_IFNAME_BYTES = 15; // IFNAMSIZ - 1
const utf8 = new TextEncoder();
// Go tests unicode.IsSpace, i.e. the Unicode White_Space property (JS \s differs: it has U+FEFF,
// lacks U+0085). Listed explicitly: compiling \p{White_Space} costs a cold process over 2 ms.
const IFNAME_FORBIDDEN = /[/:\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** Go's ValidateInterfaceName, which follows the kernel's dev_valid_name(). */
export function validateIfName(ifname: string): void {
  const invalid = (msg: string, details?: string) => new CniError(CniCode.invalidEnvironment, msg, details);
  if (ifname === "") throw invalid("interface name is empty");
  const bytes = utf8.encode(ifname).length;
  if (bytes > MAX_IFNAME_BYTES) {
    throw invalid("interface name is too long", `"${ifname}" is ${bytes} bytes, the limit is ${MAX_IFNAME_BYTES}`);
  }
  if (ifname === "." || ifname === "..") throw invalid("interface name is . or ..");
  if (IFNAME_FORBIDDEN.test(ifname)) {
    throw invalid("interface name contains / or : or whitespace characters", JSON.stringify(ifname));
  }
}

function isCniCommand(value: string): value is CniCommand {
  return (CNI_COMMANDS as readonly string[]).includes(value);
}

function missingVars(names: readonly string[]): CniError {
  return new CniError(CniCode.invalidEnvironment, `required env variables [${names.join(",")}] missing`);
}
