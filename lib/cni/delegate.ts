import { isRegularFile, joinPath, sameFile, stat, statIfExists } from "../sys/files.ts";
import { runExecutable } from "../sys/run-executable.ts";
import type { CniCommand } from "./env.ts";
import { CniCode, CniError } from "./errors.ts";
import { parseResult, type Result } from "./result.ts";
import type { Plugin, PluginContext } from "./skel.ts";

type DelegatedCommand = Exclude<CniCommand, "VERSION">;

/** Plugins compiled into this same executable, run in-process instead of exec'ing ourselves. */
const builtins = new Map<string, Plugin>();

export function registerBuiltinPlugin(type: string, plugin: Plugin): void {
  builtins.set(type, plugin);
}

/** The first executable named `type` in CNI_PATH (like libcni's FindInPath). */
export function findPlugin(type: string, path: string[]): string {
  if (!type || type.includes("/")) throw new CniError(CniCode.invalidNetworkConfig, `invalid plugin type "${type}"`);
  for (const dir of path) {
    const candidate = joinPath(dir, type);
    const s = statIfExists(candidate);
    if (s && isRegularFile(s) && (s.mode & 0o111) !== 0) return candidate;
  }
  throw new CniError(CniCode.invalidNetworkConfig, `failed to find plugin "${type}" in path [${path.join(" ")}]`);
}

function isThisExecutable(path: string): boolean {
  const self = statIfExists(process.execPath);
  return self !== undefined && sameFile(stat(path), self);
}

/**
 * Runs `type` for `command` with the same config and env (only CNI_COMMAND differs), as the spec's
 * delegation requires. Returns the ADD result; other commands return undefined.
 */
export function delegate(ctx: PluginContext, type: string, command: DelegatedCommand): Result | undefined {
  const path = findPlugin(type, ctx.env.path);
  const builtin = builtins.get(type);
  if (builtin && isThisExecutable(path)) return runBuiltin(builtin, { ...ctx, env: { ...ctx.env, command } }, command);

  const env = Object.entries({ ...ctx.processEnv, CNI_COMMAND: command }).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const { status, stdout } = runExecutable(path, [path], env, ctx.stdin);
  if (status !== 0) throw delegatedError(type, status, stdout);
  if (command !== "ADD") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(stdout.toString("utf8"));
  } catch (e) {
    throw new CniError(CniCode.decodingFailure, `failed to decode the result of plugin "${type}"`, (e as Error).message);
  }
  return parseResult(json, ctx.cniVersion);
}

function runBuiltin(plugin: Plugin, ctx: PluginContext, command: DelegatedCommand): Result | undefined {
  switch (command) {
    case "ADD":
      return plugin.add(ctx);
    case "DEL":
      return void plugin.del(ctx);
    case "CHECK":
      return void plugin.check(ctx);
    case "GC":
      return void plugin.gc?.(ctx);
    case "STATUS":
      return void plugin.status?.(ctx);
  }
}

/** The delegated plugin's own error JSON, passed on with its code; libcni's wording otherwise. */
function delegatedError(type: string, status: number, stdout: Buffer): CniError {
  const text = stdout.toString("utf8").trim();
  try {
    const e = JSON.parse(text) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === "number" && typeof e.msg === "string") {
      return new CniError(e.code, e.msg, typeof e.details === "string" ? e.details : undefined);
    }
  } catch {
    // not JSON: fall through
  }
  return new CniError(CniCode.internal, `plugin "${type}" failed with exit status ${status}`, text || "no error message");
}

/** The `ipam.type` of the config, or undefined for an L2-only network (`"ipam": {}` or none). */
export function ipamType(config: Record<string, unknown>): string | undefined {
  const ipam = config.ipam;
  if (ipam === undefined || ipam === null) return undefined;
  if (typeof ipam !== "object" || Array.isArray(ipam)) throw new CniError(CniCode.invalidNetworkConfig, "ipam must be an object");
  const type = (ipam as { type?: unknown }).type;
  if (type === undefined || type === "") return undefined;
  if (typeof type !== "string") throw new CniError(CniCode.invalidNetworkConfig, "ipam.type must be a string");
  return type;
}
