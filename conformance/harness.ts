// What every conformance section shares: the plugin directory under test, a sandbox of throw-away
// namespaces in which plugins run, the implementation profile, and assertions that name the
// reference's known deviations instead of failing on them.
import { appendFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { Test } from "tap";
import { inNs, ipJson, isRoot, makeNetns, sh } from "../test/helpers/netns.ts";
import { REFERENCE_DEVIATIONS, type DeviationId } from "./deviations.ts";
import { execInNetns } from "./netns-exec.ts";
import { execPlugin, parseNetworkList, PluginError, type ExecOutcome, type NetworkList, type PluginConf, type RuntimeOptions, type VersionInfo } from "../lib/runtime/index.ts";

/** The directory of plugin executables under test (`run.ts --cni-path`), dist/bin by default. */
export const cniDir = resolve(process.env.CONFORMANCE_CNI_PATH ?? "dist/bin");

/** The spec's versions, written out here rather than taken from the implementation under test. */
export const ALL_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

const NETNS_PREFIX = "tcf";

/** Fails the whole file when the suite cannot run at all (not root, no such directory). */
export function requireEnvironment(t: Test): boolean {
  if (!isRoot()) {
    t.fail("conformance needs root: it creates network namespaces");
    return false;
  }
  if (!existsSync(cniDir)) {
    t.fail(`plugin directory ${cniDir} does not exist (build ours with: node build.mjs)`);
    return false;
  }
  return true;
}

/**
 * The path of `type` in the directory under test. Absent from our own build (which has `tscni`) it
 * is a failure; absent from another directory (the reference has no vxlan) the section is noted
 * and passes, since there is nothing of that plugin to check.
 */
export function pluginOrSkip(t: Test, type: string): string | undefined {
  const path = join(cniDir, type);
  if (existsSync(path)) return path;
  if (existsSync(join(cniDir, "tscni"))) t.fail(`no "${type}" in ${cniDir}: run node build.mjs`);
  else t.pass(`no "${type}" in ${cniDir}: nothing to check there`);
  return undefined;
}

export interface Netns {
  name: string;
  path: string;
}

/** A plugin's stdout/stderr with the stdout parsed as JSON when it is JSON. */
export interface Reply {
  status: number;
  stdout: string;
  stderr: string;
  json: unknown;
}

export interface Sandbox {
  /** The "host" namespace every plugin runs in. */
  host: Netns;
  /** Drives plugins like libcni: CNI_PATH = the directory under test, a private cache dir. */
  runtime: RuntimeOptions;
  /** A fresh container namespace, deleted in teardown; `lo` is down unless asked otherwise. */
  container(opts?: { loUp?: boolean }): Netns;
  /** Runs a plugin with exactly these CNI_* variables (CNI_PATH defaults to the directory under test). */
  invoke(type: string, env: Record<string, string | undefined>, stdin: string | object): Reply;
}

export function makeSandbox(t: Test): Sandbox {
  const host = makeNetns(t, `${NETNS_PREFIX}-h`);
  const cacheDir = mkdtempSync(join(tmpdir(), "tcf-cache-"));
  t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }));
  const runtime: RuntimeOptions = { path: [cniDir], cacheDir, exec: execInNetns(host.name), env: { PATH: process.env.PATH } };
  return {
    host,
    runtime,
    container: ({ loUp = false } = {}) => {
      const ns = makeNetns(t, `${NETNS_PREFIX}-c`);
      if (!loUp) inNs(ns.name, "ip", ["link", "set", "lo", "down"]);
      return ns;
    },
    invoke: (type, env, stdin) => {
      const text = typeof stdin === "string" ? stdin : JSON.stringify(stdin);
      return toReply(execPlugin(runtime, join(cniDir, type), { CNI_PATH: cniDir, ...env }, text));
    },
  };
}

/** A conflist of `plugins` at `cniVersion`, as the runtime would read it from disk. */
export function networkList(name: string, cniVersion: string, plugins: PluginConf[], extra: Record<string, unknown> = {}): NetworkList {
  return parseNetworkList(JSON.stringify({ cniVersion, name, ...extra, plugins }));
}

export interface Profile {
  plugin: string;
  /** VERSION's reply to {"cniVersion":"0.3.1"}. */
  version: VersionInfo;
  /**
   * The plugin answers VERSION with a version of its own rather than the one asked for, as the Go
   * reference's skel does. Only then are the reference's known deviations tolerated.
   */
  isReference: boolean;
  supports(version: string): boolean;
}

/** Classifies the implementation by its behaviour (never by its path). */
export function probe(sb: Sandbox, plugin: string): Profile {
  const asked = "0.3.1";
  const reply = sb.invoke(plugin, { CNI_COMMAND: "VERSION" }, { cniVersion: asked });
  const json = (reply.json ?? {}) as { cniVersion?: unknown; supportedVersions?: unknown };
  const supportedVersions = Array.isArray(json.supportedVersions) ? json.supportedVersions.filter((v): v is string => typeof v === "string") : [];
  const cniVersion = typeof json.cniVersion === "string" ? json.cniVersion : "";
  const isReference = reply.status === 0 && cniVersion !== asked && supportedVersions.includes(cniVersion);
  return { plugin, version: { cniVersion, supportedVersions }, isReference, supports: (v) => supportedVersions.includes(v) };
}

/** Appends to the run's deviation log (read by run.ts for its summary). */
function logDeviation(profile: Profile, id: DeviationId, assertion: string): void {
  const log = process.env.CONFORMANCE_DEVIATION_LOG;
  if (log) appendFileSync(log, `${JSON.stringify({ plugin: profile.plugin, id, text: REFERENCE_DEVIATIONS[id], assertion })}\n`);
}

/**
 * A spec requirement the reference is known to miss: passes when `ok`; otherwise fails, unless the
 * implementation is the reference, in which case the deviation is named (a comment and a TODO).
 */
export function expectSpec(t: Test, profile: Profile, id: DeviationId, ok: boolean, message: string, diag: Record<string, unknown> = {}): boolean {
  if (ok) {
    t.pass(message);
    return true;
  }
  if (profile.isReference) {
    const text = `deviation: reference ${profile.plugin} ${REFERENCE_DEVIATIONS[id]}`;
    t.comment(text);
    t.fail(message, { ...diag, todo: text });
    logDeviation(profile, id, message);
  } else {
    t.fail(message, diag);
  }
  return false;
}

/** expectSpec for a deep equality, with found/wanted in the diagnostics. */
export function expectSpecSame(t: Test, profile: Profile, id: DeviationId, found: unknown, wanted: unknown, message: string): boolean {
  return expectSpec(t, profile, id, isDeepStrictEqual(found, wanted), message, { found, wanted });
}

/**
 * A failed invocation as the spec describes it: non-zero exit, error JSON on stdout with a numeric
 * `code`, a non-empty `msg`, `details` a string if present, and the request's cniVersion.
 */
export function expectError(t: Test, profile: Profile, reply: Reply, code: number | undefined, what: string): void {
  t.not(reply.status, 0, `${what}: exit status is non-zero`);
  const json = reply.json as { cniVersion?: unknown; code?: unknown; msg?: unknown; details?: unknown } | undefined;
  if (!t.ok(json && typeof json === "object" && !Array.isArray(json), `${what}: error JSON on stdout`, { stdout: reply.stdout, stderr: reply.stderr })) return;
  if (code === undefined) t.type(json!.code, "number", `${what}: numeric code`);
  else t.equal(json!.code, code, `${what}: code ${code}`, { msg: json!.msg });
  t.ok(typeof json!.msg === "string" && json!.msg !== "", `${what}: non-empty msg`);
  if (json!.details !== undefined) t.type(json!.details, "string", `${what}: details is a string`);
  expectSpec(t, profile, "error-without-version", typeof json!.cniVersion === "string", `${what}: error JSON carries cniVersion`);
}

/** A success as the spec describes it for DEL/CHECK/GC/STATUS: exit 0 and nothing on stdout. */
export function expectQuietSuccess(t: Test, reply: Reply, what: string): boolean {
  return t.ok(reply.status === 0 && reply.stdout.trim() === "", `${what}: exit 0, nothing on stdout`, { status: reply.status, stdout: reply.stdout, stderr: reply.stderr });
}

interface IpLink {
  ifname: string;
  flags: string[];
}

export const isLinkUp = (ns: Netns, ifname: string): boolean =>
  ipJson<IpLink[]>(ns.name, ["link", "show", "dev", ifname])[0]?.flags.includes("UP") ?? false;

export const setLinkUp = (ns: Netns, ifname: string, up: boolean): void =>
  void inNs(ns.name, "ip", ["link", "set", "dev", ifname, up ? "up" : "down"]);

/** `ip netns del`: the container disappears before DEL, as when a runtime cleans up out of order. */
export const deleteNetns = (ns: Netns): void => void sh("ip", ["netns", "del", ns.name]);

function toReply(outcome: ExecOutcome): Reply {
  const stdout = outcome.stdout.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { status: outcome.status, stdout, stderr: outcome.stderr?.toString("utf8") ?? "", json };
}

/** Runs a runtime operation that must succeed; a failure is reported with the plugin's error. */
export function expectOk<T>(t: Test, what: string, fn: () => T): T | undefined {
  try {
    const value = fn();
    t.pass(what);
    return value;
  } catch (e) {
    const diag = e instanceof PluginError ? { plugin: e.plugin, command: e.command, code: e.code, details: e.details, stderr: e.outcome.stderr?.toString("utf8") } : {};
    t.fail(`${what}: ${(e as Error).message}`, diag);
    return undefined;
  }
}

/** Runs a runtime operation that must fail in the plugin; returns its reply for expectError. */
export function expectPluginFailure(t: Test, what: string, fn: () => unknown): Reply | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof PluginError) return toReply(e.outcome);
    t.fail(`${what}: failed outside the plugin: ${(e as Error).message}`);
    return undefined;
  }
  t.fail(`${what}: succeeded`);
  return undefined;
}
