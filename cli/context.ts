import { resolve } from "node:path";
import type { PluginExec, RuntimeOptions } from "../lib/runtime/index.ts";

/** Where output goes; the binary writes to fds 1 and 2, tests collect strings. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** Everything a command reads from outside its arguments, injectable for tests. */
export interface CliContext {
  io: Io;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** How plugins are run (the binary: posix_spawn). */
  exec: PluginExec;
  /** The tscni executable itself, which `install` links. */
  self: string;
  /** The plugin names the executable answers to. */
  plugins: string[];
}

/** The global options, with their environment fallbacks resolved. */
export interface Settings {
  confDir: string;
  cniPath: string[];
  cacheDir: string;
}

export const DEFAULT_CONF_DIR = "/etc/cni/net.d";
export const DEFAULT_CNI_PATH = "/opt/cni/bin";
export const DEFAULT_CACHE_DIR = "/var/lib/cni";

/** A refusal of the CLI itself: printed as `tscni: <message>`, exit status 1. */
export class CliError extends Error {
  override name = "CliError";
}

export function settingsOf(ctx: CliContext, args: { "conf-dir"?: string; "cni-path"?: string; "cache-dir"?: string }): Settings {
  const pick = (flag: string | undefined, env: string, fallback: string) => flag || ctx.env[env] || fallback;
  return {
    confDir: resolve(ctx.cwd, pick(args["conf-dir"], "NETCONFPATH", DEFAULT_CONF_DIR)),
    cniPath: pick(args["cni-path"], "CNI_PATH", DEFAULT_CNI_PATH)
      .split(":")
      .filter((dir) => dir !== "")
      .map((dir) => resolve(ctx.cwd, dir)),
    cacheDir: resolve(ctx.cwd, pick(args["cache-dir"], "CNI_CACHE_DIR", DEFAULT_CACHE_DIR)),
  };
}

/** The runtime as libcni's CNIConfig: plugins get this process's environment besides CNI_*. */
export function runtimeOf(ctx: CliContext, settings: Settings): RuntimeOptions {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(ctx.env)) if (!key.startsWith("CNI_")) env[key] = value;
  return { path: settings.cniPath, cacheDir: settings.cacheDir, exec: ctx.exec, env };
}
