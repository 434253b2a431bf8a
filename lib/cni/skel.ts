import { isOwnNetns } from "../netns/netns.ts";
import { copyBytes, encodeText, isErrno, writeFd } from "../sys/files.ts";
import { sys } from "../sys/index.ts";
import { parseCniArgs } from "./args.ts";
import { readCniEnv, type CniEnv } from "./env.ts";
import { CniCode, CniError, toCniError } from "./errors.ts";
import { convertResult, formatResult, parseResult, type Result } from "./result.ts";
import { compareVersions, pickVersion, SUPPORTED_VERSIONS, type CniVersion } from "./version.ts";

/** Everything a plugin command gets: the validated env, the decoded config and the raw stdin. */
export interface PluginContext {
  env: CniEnv;
  /** CNI_ARGS as key/value pairs (unvalidated: plugins check the keys they know). */
  cniArgs: Map<string, string>;
  /** The network config as sent (plugins parse their keys from it in their config.ts). */
  config: Record<string, unknown>;
  /** The version the request speaks and the result must be printed in. */
  cniVersion: CniVersion;
  prevResult: Result | undefined;
  /** The raw stdin bytes, forwarded unchanged to delegated plugins. */
  stdin: Buffer;
  /** The whole process environment, forwarded to delegated plugins. */
  processEnv: Readonly<Record<string, string | undefined>>;
  log(message: string): void;
}

export interface Plugin {
  add(ctx: PluginContext): Result;
  del(ctx: PluginContext): void;
  check(ctx: PluginContext): void;
  gc?(ctx: PluginContext): void;
  status?(ctx: PluginContext): void;
}

export interface PluginInfo {
  name: string;
  about: string;
  versions?: readonly CniVersion[];
}

/** Where a plugin reads and writes; injectable so tests can run plugins in-process. */
export interface PluginIo {
  env: Readonly<Record<string, string | undefined>>;
  readStdin(): Buffer;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
}

/** stdin larger than this is refused: a CNI config is a few KiB, a conflist rarely over 100 KiB. */
export const MAX_STDIN_BYTES = 4 << 20;

export const processIo: PluginIo = {
  env: process.env,
  readStdin: () => readAllStdin(MAX_STDIN_BYTES + 1),
  writeStdout: (text) => writeFd(1, encodeText(text)),
  writeStderr: (text) => writeFd(2, encodeText(text)),
};

/** Runs one CNI invocation; returns the process exit status (0, or 1 after printing an error). */
export function runPlugin(plugin: Plugin, info: PluginInfo, io: PluginIo): number {
  const versions = info.versions ?? SUPPORTED_VERSIONS;
  if (!io.env.CNI_COMMAND) {
    io.writeStderr(`CNI ${info.name} plugin (tscni)\n${info.about}\nCNI protocol versions supported: ${versions.join(", ")}\n`);
    return 0;
  }
  let replyVersion: string = versions[versions.length - 1] ?? "1.1.0";
  try {
    const env = readCniEnv(io.env);
    const stdin = io.readStdin();
    if (env.command === "VERSION") {
      io.writeStdout(`${JSON.stringify(versionReply(stdin, versions))}\n`);
      return 0;
    }
    if (stdin.length > MAX_STDIN_BYTES) {
      throw new CniError(CniCode.ioFailure, "network config too large", `stdin exceeds ${MAX_STDIN_BYTES} bytes`);
    }
    const config = decodeConfig(stdin);
    const cniVersion = pickVersion(config, versions);
    replyVersion = cniVersion;
    requireVerbSupported(env.command, cniVersion);
    const ctx: PluginContext = {
      env,
      cniArgs: parseCniArgs(env.args),
      config,
      cniVersion,
      prevResult: config.prevResult === undefined ? undefined : parseResult(config.prevResult, cniVersion),
      stdin,
      processEnv: io.env,
      log: (message) => io.writeStderr(`${info.name}: ${message}\n`),
    };
    refuseOwnNetns(env, io.env);
    switch (env.command) {
      case "ADD":
        io.writeStdout(formatResult(convertResult(plugin.add(ctx), cniVersion)));
        return 0;
      case "DEL":
        plugin.del(ctx);
        return 0;
      case "CHECK":
        plugin.check(ctx);
        return 0;
      case "GC":
        plugin.gc?.(ctx);
        return 0;
      case "STATUS":
        plugin.status?.(ctx);
        return 0;
    }
  } catch (err) {
    const error = toCniError(err);
    io.writeStdout(JSON.stringify(error.toJSON(replyVersion)));
    if (error.code === CniCode.internal && err instanceof Error && io.env.TSCNI_DEBUG) io.writeStderr(`${err.stack}\n`);
    return 1;
  }
}

/** The executable's entry: runs the command and exits. */
export function pluginMain(plugin: Plugin, info: PluginInfo): never {
  process.exit(runPlugin(plugin, info, processIo));
}

/** The spec says VERSION answers in the requested version; Go answers its own. We follow the spec. */
function versionReply(stdin: Buffer, versions: readonly CniVersion[]): { cniVersion: string; supportedVersions: string[] } {
  let requested: unknown;
  try {
    requested = (JSON.parse(stdin.toString("utf8") || "{}") as { cniVersion?: unknown }).cniVersion;
  } catch {
    requested = undefined;
  }
  const latest = versions[versions.length - 1] ?? "1.1.0";
  const cniVersion = typeof requested === "string" && (versions as readonly string[]).includes(requested) ? requested : latest;
  return { cniVersion, supportedVersions: [...versions] };
}

const NAME_SYNTAX = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

function decodeConfig(stdin: Buffer): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(stdin.toString("utf8"));
  } catch (e) {
    throw new CniError(CniCode.decodingFailure, "failed to decode network config", (e as Error).message);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new CniError(CniCode.decodingFailure, "failed to decode network config", "the config must be a JSON object");
  }
  const { name } = config as { name?: unknown };
  if (name === undefined || name === "") throw new CniError(CniCode.invalidNetworkConfig, "missing network name");
  if (typeof name !== "string" || !NAME_SYNTAX.test(name)) {
    throw new CniError(CniCode.invalidNetworkConfig, "invalid characters found in network name", `name ${JSON.stringify(name)} must match ${NAME_SYNTAX.source}`);
  }
  return config as Record<string, unknown>;
}

function requireVerbSupported(command: CniEnv["command"], version: string): void {
  const since = command === "CHECK" ? "0.4.0" : command === "GC" || command === "STATUS" ? "1.1.0" : undefined;
  if (since && compareVersions(version, since) < 0) {
    throw new CniError(CniCode.incompatibleVersion, `config version does not allow ${command}`, `${command} needs cniVersion ${since} or later, config has ${version}`);
  }
}

/**
 * Refuses to touch the plugin's own namespace (a recycled /proc/<pid>/ns/net can point at the host).
 * Checked before the command runs, unlike the reference which checks after the damage is done.
 */
function refuseOwnNetns(env: CniEnv, processEnv: PluginIo["env"]): void {
  if (!env.netns || env.command === "GC" || env.command === "STATUS") return;
  const override = processEnv.CNI_NETNS_OVERRIDE;
  if (override === "1" || override === "true") return;
  let own: boolean;
  try {
    own = isOwnNetns(env.netns);
  } catch {
    return; // a missing netns is each command's business (DEL treats it as gone)
  }
  if (own) {
    throw new CniError(CniCode.invalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same", `CNI_NETNS=${env.netns}`);
  }
}

/** Reads stdin up to `limit` bytes (enough to tell that it is too large). A closed stdin is empty. */
function readAllStdin(limit: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(65536);
  try {
    for (let n; total < limit && (n = sys.read(0, buf)) > 0; total += n) chunks.push(copyBytes(buf.subarray(0, n)));
  } catch (e) {
    if (!isErrno(e, "EBADF")) throw new CniError(CniCode.ioFailure, "failed to read network config from stdin", (e as Error).message);
  }
  return Buffer.concat(chunks);
}
