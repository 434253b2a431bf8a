import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";
import { PluginError, RuntimeError } from "./errors.ts";

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

/** Runs `path` as libcni does: every CNI_* variable set (empty ones included), CNI_PATH from the options. */
export function invokeRaw(opts: RuntimeOptions, path: string, command: string, env: Record<string, string>, stdin: Buffer): ExecOutcome {
  const base = { CNI_CONTAINERID: "", CNI_NETNS: "", CNI_ARGS: "", CNI_IFNAME: "" };
  return execPlugin(opts, path, { ...base, CNI_PATH: opts.path.join(":"), ...env, CNI_COMMAND: command }, stdin);
}

/** Finds the plugin in CNI_PATH and runs it; a non-zero exit becomes its PluginError. */
export function invoke(opts: RuntimeOptions, type: string, command: string, env: Record<string, string>, stdin: Buffer): ExecOutcome {
  const outcome = invokeRaw(opts, findInPath(type, opts.path), command, env, stdin);
  if (outcome.status !== 0) throw pluginError(type, command, outcome);
  return outcome;
}

/** invoke, returning the result it printed; a result without cniVersion speaks `confVersion` (libcni's fixupResultVersion). */
export function invokeWithResult(opts: RuntimeOptions, type: string, command: string, env: Record<string, string>, stdin: Buffer, confVersion: string): unknown {
  const result = parseStdout(type, invoke(opts, type, command, env, stdin));
  if (typeof result !== "object" || result === null || Array.isArray(result)) throw new RuntimeError(`plugin "${type}" printed a result that is not an object`);
  const fixed = result as Record<string, unknown>;
  if (fixed.cniVersion === undefined || fixed.cniVersion === "") fixed.cniVersion = confVersion;
  return fixed;
}

export function parseStdout(type: string, outcome: ExecOutcome): unknown {
  try {
    return JSON.parse(outcome.stdout.toString("utf8"));
  } catch (e) {
    throw new RuntimeError(`plugin "${type}" printed invalid JSON: ${(e as Error).message}`);
  }
}

/** libcni's wording when the error JSON is missing or unreadable. */
export function pluginError(type: string, command: string, outcome: ExecOutcome): PluginError {
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
