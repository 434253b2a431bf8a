// What every conformance section shares: the plugin directory under test, a sandbox of throw-away
// namespaces in which plugins run, the implementation profile, and assertions that name the
// reference's known deviations instead of failing on them; below those, the set-up and the
// ADD/CHECK/DEL steps the plugin sections have in common.
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { Test } from "tap";
import { compareVersions } from "../lib/cni/version.ts";
import { inNs, ipJson, isRoot, makeNetns, sh } from "../test/helpers/netns.ts";
import { REFERENCE_DEVIATIONS, type DeviationId } from "./deviations.ts";
import { execInNetns } from "./netns-exec.ts";
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  execPlugin,
  parseNetworkList,
  PluginError,
  RuntimeError,
  type ExecOutcome,
  type NetworkList,
  type PluginConf,
  type RuntimeConf,
  type RuntimeOptions,
  type VersionInfo,
} from "../lib/runtime/index.ts";

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

// ---------------------------------------------------------------------------------------------
// Steps the plugin sections share: the version predicates, the opening comment, the host-side
// set-up, host-local IPAM, and the ADD/CHECK/DEL checks every attaching plugin goes through.

/** CHECK exists from 0.4.0 on; below it the runtime does not send it. */
export const hasCheck = (version: string): boolean => compareVersions(version, "0.4.0") >= 0;

/** 0.1.0 and 0.2.0: results have ip4/ip6 rather than interfaces and ips. */
export const isLegacy = (version: string): boolean => compareVersions(version, "0.3.0") < 0;

/** The 0.x versions, whose ips[] entries carry a `version`. */
export const isV0x = (version: string): boolean => compareVersions(version, "1.0.0") < 0;

/** "<plugin>: VERSION says {…}": what a section notes first about the implementation it runs. */
export const versionSays = (profile: Profile): string => `${profile.plugin}: VERSION says ${JSON.stringify(profile.version)}`;

/** Notes the plugin's VERSION reply, and that the reference's known deviations are named rather than failed. */
export function commentProfile(t: Test, profile: Profile): void {
  t.comment(`${versionSays(profile)}${profile.isReference ? " (reference behaviour: its known deviations are named, not failed)" : ""}`);
}

/** pluginOrSkip for each of `types` in turn, stopping at the first one missing. */
export const pluginsOrSkip = (t: Test, ...types: string[]): boolean => types.every((type) => pluginOrSkip(t, type) !== undefined);

/** The CNI_* variables of a request about one attachment. */
export const cniEnv = (command: string, containerId: string, netns: string, ifName = "eth0") => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: containerId,
  CNI_NETNS: netns,
  CNI_IFNAME: ifName,
});

/** A veth pair in the sandbox's host netns, both ends up; `name` gets `address` (a/n) when given. */
export function addHostVeth(sb: Sandbox, name: string, peer: string, address?: string): void {
  inNs(sb.host.name, "ip", ["link", "add", name, "type", "veth", "peer", "name", peer]);
  if (address !== undefined) inNs(sb.host.name, "ip", ["addr", "add", address, "dev", name]);
  inNs(sb.host.name, "ip", ["link", "set", name, "up"]);
  inNs(sb.host.name, "ip", ["link", "set", peer, "up"]);
}

/** host-local IPAM handing out `subnet`, its leases kept under `dataDir`. */
export const hostLocalIpam = (dataDir: string, subnet: string) => ({ type: "host-local", dataDir, ranges: [[{ subnet }]] });

/** The IPv4 addresses host-local has leased on `network` under `dataDir` (none when it never ran). */
export function hostLocalLeases(dataDir: string, network: string): string[] {
  try {
    return readdirSync(`${dataDir}/${network}`).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  } catch {
    return [];
  }
}

/** What `ip -d link show` says of one link. */
export interface LinkDetails {
  ifname: string;
  address: string;
  mtu: number;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

/** `ifname` in the netns named `netns` with its link details, if it is there. */
export const linkDetails = (netns: string, ifname: string): LinkDetails | undefined =>
  ipJson<LinkDetails[]>(netns, ["-d", "link", "show"]).find((l) => l.ifname === ifname);

/** Whether `dev` in `ns` has the address `cidr` (a/n). */
export const hasAddress = (ns: Netns, cidr: string, dev = "eth0"): boolean => inNs(ns.name, "ip", ["-o", "addr", "show", "dev", dev]).includes(` ${cidr} `);

/** A plugin that sits on a `master` link of the host netns (macvlan, ipvlan), with host-local IPAM. */
export interface MasterLinkLab {
  sb: Sandbox;
  profile: Profile;
  /** host-local's dataDir. */
  dataDir: string;
  /** The plugin config on `subnet` (10.x.0.0/24) with `master`, with `extra` keys. */
  plugin(subnet: string, extra?: Record<string, unknown>): { type: string } & Record<string, unknown>;
  leases(network: string): string[];
}

/** A sandbox whose host netns has the veth `master` (peer `peer`), both up, for `type` to sit on. */
export function makeMasterLinkLab(t: Test, type: string, master: string, peer: string): MasterLinkLab {
  const sb = makeSandbox(t);
  addHostVeth(sb, master, peer);
  const dataDir = t.testdir({});
  return {
    sb,
    profile: probe(sb, type),
    dataDir,
    plugin: (subnet, extra = {}) => ({ type, master, ipam: hostLocalIpam(dataDir, subnet), ...extra }),
    leases: (network) => hostLocalLeases(dataDir, network),
  };
}

/** The attachment an ADD/CHECK/DEL-at-`version` test works on. */
export interface VersionAttachment {
  /** `<prefix>-<version without dots>`. */
  network: string;
  /** A fresh container netns. */
  ctr: Netns;
  /** `plugins` as the network at `version`. */
  list: NetworkList;
  /** The container as `<prefix>-<version>`, on eth0. */
  rt: RuntimeConf;
}

/** A fresh container to attach to `plugins` at `version`, named after `prefix` and the version. */
export function versionAttachment(sb: Sandbox, prefix: string, version: string, plugins: PluginConf[]): VersionAttachment {
  const network = `${prefix}-${version.replaceAll(".", "")}`;
  const ctr = sb.container();
  const list = networkList(network, version, plugins);
  const rt: RuntimeConf = { containerId: `${prefix}-${version}`, netns: ctr.path, ifName: "eth0" };
  return { network, ctr, list, rt };
}

/** GC and STATUS need 1.1.0: passes when the plugin supports it, else names the reference's deviation. */
export const expectSupports110 = (t: Test, profile: Profile, what: string): boolean =>
  expectSpec(t, profile, "no-1.1.0", profile.supports("1.1.0"), `1.1.0 is supported, so ${what} can be asked`);

/** ADD at a version the plugin does not support: the runtime's ADD fails with the spec's error, code 1. */
export function expectUnsupportedAdd(t: Test, sb: Sandbox, profile: Profile, list: NetworkList, rt: RuntimeConf, version: string): void {
  const reply = expectPluginFailure(t, `ADD at unsupported ${version}`, () => addNetworkList(sb.runtime, list, rt));
  expectSpec(t, profile, "no-1.1.0", false, `ADD at ${version} succeeds`);
  if (reply) expectError(t, profile, reply, 1, `ADD at ${version}`);
}

/** A config the plugin must refuse: the spec's error JSON, with code 7 (invalid network config). */
export function expectConfigError(t: Test, profile: Profile, reply: Reply, what: string): void {
  expectError(t, profile, reply, undefined, what);
  expectSpec(t, profile, "config-error-999", (reply.json as { code?: number })?.code === 7, `${what}: code 7`);
}

/** Something undone behind the plugin's back after ADD, which CHECK must notice. */
export interface Drift {
  /** The failing CHECK's description ("CHECK without the address"). */
  what: string;
  /** Undoes part of what ADD did. */
  make(): void;
  /** The expected error code, any numeric one when absent. */
  code?: number;
  /** The description of the error checks, `what` when absent. */
  error?: string;
}

/**
 * CHECK (from 0.4.0) passes right after ADD, then fails with the spec's error once `drift` is
 * made. Returns the failed CHECK's reply.
 */
export function expectCheckCatches(t: Test, sb: Sandbox, profile: Profile, list: NetworkList, rt: RuntimeConf, drift: Drift): Reply | undefined {
  expectOk(t, "CHECK right after ADD", () => checkNetworkList(sb.runtime, list, rt));
  drift.make();
  const reply = expectPluginFailure(t, drift.what, () => checkNetworkList(sb.runtime, list, rt));
  if (reply) expectError(t, profile, reply, drift.code, drift.error ?? drift.what);
  return reply;
}

/** Below 0.4.0 the runtime itself refuses to CHECK. */
export function expectNoCheck(t: Test, sb: Sandbox, list: NetworkList, rt: RuntimeConf): void {
  t.throws(() => checkNetworkList(sb.runtime, list, rt), RuntimeError, "the runtime does not CHECK below 0.4.0");
}

/**
 * DEL as runtimes repeat it: DEL succeeds (then `undone` checks what it removed), DEL again
 * (`again` names it) succeeds, and so does a DEL after the container netns was deleted.
 */
export function expectRepeatedDel(t: Test, sb: Sandbox, list: NetworkList, rt: RuntimeConf, ctr: Netns, undone: () => void, again = "DEL again"): void {
  expectOk(t, "DEL", () => delNetworkList(sb.runtime, list, rt));
  undone();
  expectOk(t, again, () => delNetworkList(sb.runtime, list, rt));
  expectDelWithoutNetns(t, sb, list, rt, ctr);
}

/** Deletes the container netns, as a runtime cleaning up out of order does; DEL must still succeed. */
export function expectDelWithoutNetns(t: Test, sb: Sandbox, list: NetworkList, rt: RuntimeConf, ctr: Netns): void {
  deleteNetns(ctr);
  expectOk(t, "DEL after the netns was deleted", () => delNetworkList(sb.runtime, list, rt));
}

/** Two containers ADDed by invoking `type` with `conf` (1.1.0): for GC, the first to be kept, the second to go stale. */
export function addKeepAndStale(t: Test, sb: Sandbox, type: string, conf: object): [keep: Netns, stale: Netns] {
  const [keep, stale] = [sb.container(), sb.container()];
  for (const ctr of [keep, stale]) {
    const reply = sb.invoke(type, cniEnv("ADD", ctr.name, ctr.path), conf);
    t.equal(reply.status, 0, `ADD ${ctr.name}`);
  }
  return [keep, stale];
}

/** STATUS of a plugin on a master link: success while the master is there, code 50 when `conf` names one that is not. */
export function expectMasterStatus(t: Test, lab: MasterLinkLab, conf: (extra?: Record<string, unknown>) => object): void {
  const { sb, profile } = lab;
  expectQuietSuccess(t, sb.invoke(profile.plugin, { CNI_COMMAND: "STATUS" }, conf()), "STATUS with the master present");
  expectError(t, profile, sb.invoke(profile.plugin, { CNI_COMMAND: "STATUS" }, conf({ master: "tcf-nope" })), 50, "STATUS with the master missing");
}
