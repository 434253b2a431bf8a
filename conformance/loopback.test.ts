// Conformance of `loopback`: ADD at every spec version (result shape, lo really up), CHECK, DEL
// idempotence, VERSION, error codes, the netns==self guard, GC/STATUS at 1.1.0.
import t, { type Test } from "tap";
import { existsSync } from "node:fs";
import { ipJson } from "../test/helpers/netns.ts";
import {
  ALL_VERSIONS,
  cniEnv,
  commentProfile,
  expectCheckCatches,
  expectError,
  expectNoCheck,
  expectOk,
  expectQuietSuccess,
  expectRepeatedDel,
  expectSpec,
  expectSpecSame,
  expectSupports110,
  hasCheck,
  isLegacy,
  isLinkUp,
  isV0x,
  makeSandbox,
  networkList,
  pluginOrSkip,
  probe,
  requireEnvironment,
  setLinkUp,
  type Netns,
  type Profile,
  type Sandbox,
} from "./harness.ts";
import { addNetworkList, cachePath, gcNetworkList, statusNetworkList, versionOf, type RuntimeConf } from "../lib/runtime/index.ts";

const NETWORK = "tcf-lo";
const PLUGIN = "loopback";

const conf = (cniVersion: string) => ({ cniVersion, name: NETWORK, type: PLUGIN });
const attachmentEnv = (command: string, netns: string) => cniEnv(command, "tcf-lo-raw", netns, "lo");

interface AddrInfo {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
}

/** The first IPv4 and IPv6 address on lo as the kernel has them ("a/n"). */
function loAddresses(ns: Netns): { v4?: string; v6?: string } {
  const infos = ipJson<Array<{ addr_info: AddrInfo[] }>>(ns.name, ["addr", "show", "dev", "lo"])[0]?.addr_info ?? [];
  const first = (family: AddrInfo["family"]) => {
    const a = infos.find((info) => info.family === family);
    return a && `${a.local}/${a.prefixlen}`;
  };
  return { v4: first("inet"), v6: first("inet6") };
}

/** The result a spec-conformant loopback prints at `version` (SPEC.md "Result", 2.6 of the notes). */
function expectedResult(version: string, sandbox: string, addrs: { v4?: string; v6?: string }): Record<string, unknown> {
  const addresses = [addrs.v4, addrs.v6].filter((a): a is string => a !== undefined);
  if (isLegacy(version)) {
    return { cniVersion: version, ...(addrs.v4 && { ip4: { ip: addrs.v4 } }), ...(addrs.v6 && { ip6: { ip: addrs.v6 } }) };
  }
  return {
    cniVersion: version,
    interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox }],
    ips: addresses.map((address) => ({ ...(isV0x(version) && { version: address.includes(":") ? "6" : "4" }), address, interface: 0 })),
  };
}

/** Drops what a result may carry empty (Go prints `"dns": {}`). */
function withoutEmptyDns(result: unknown): unknown {
  const { dns, ...rest } = result as Record<string, unknown>;
  return dns !== undefined && !(typeof dns === "object" && dns !== null && Object.keys(dns).length === 0) ? { ...rest, dns } : rest;
}

async function main(t: Test): Promise<void> {
  const sb = makeSandbox(t);
  const profile = probe(sb, PLUGIN);
  commentProfile(t, profile);

  await t.test("VERSION", async (t) => versionSection(t, sb, profile));
  for (const version of ALL_VERSIONS) {
    await t.test(`ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, sb, profile, version));
  }
  await t.test("errors", async (t) => errorSection(t, sb, profile));
  await t.test("CNI_NETNS naming the plugin's own netns", async (t) => ownNetns(t, profile));
  await t.test("GC and STATUS at 1.1.0", async (t) => gcStatus(t, sb, profile));
}

function versionSection(t: Test, sb: Sandbox, profile: Profile): void {
  const listed = profile.version.supportedVersions;
  if (!t.same(listed.filter((v) => v !== "1.1.0"), ALL_VERSIONS.slice(0, -1), "supportedVersions lists 0.1.0 … 1.0.0 in order")) return;
  expectSpec(t, profile, "no-1.1.0", listed.includes("1.1.0"), "supportedVersions lists 1.1.0", { listed });
  for (const asked of listed) {
    const reply = sb.invoke(PLUGIN, { CNI_COMMAND: "VERSION" }, { cniVersion: asked });
    t.equal(reply.status, 0, `VERSION asked in ${asked}: exit 0`);
    const json = reply.json as { cniVersion?: unknown; supportedVersions?: unknown };
    t.same(json?.supportedVersions, listed, `VERSION asked in ${asked}: the same supportedVersions`);
    expectSpec(t, profile, "version-reply", json?.cniVersion === asked, `VERSION asked in ${asked} answers in ${asked}`, { answered: json?.cniVersion });
  }
  const info = expectOk(t, "VERSION as libcni asks it (dummy NETNS/IFNAME/PATH)", () => versionOf(sb.runtime, PLUGIN));
  if (info) t.same(info.supportedVersions, listed, "libcni's GetVersionInfo sees the same list");
}

function lifecycle(t: Test, sb: Sandbox, profile: Profile, version: string): void {
  const ctr = sb.container();
  const list = networkList(NETWORK, version, [{ type: PLUGIN }]);
  const rt: RuntimeConf = { containerId: `tcf-lo-${version.replaceAll(".", "")}`, netns: ctr.path, ifName: "lo" };

  if (!profile.supports(version)) {
    const reply = sb.invoke(PLUGIN, attachmentEnv("ADD", ctr.path), conf(version));
    expectSpec(t, profile, "no-1.1.0", reply.status === 0, `ADD at ${version} succeeds`);
    expectError(t, profile, reply, 1, `ADD at an unsupported version ${version}`);
    t.notOk(isLinkUp(ctr, "lo"), "a refused ADD leaves lo down");
    return;
  }

  const result = expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt)) as Record<string, unknown> | undefined;
  if (!result) return;
  t.equal(result.cniVersion, version, "the result speaks the requested version");
  t.ok(isLinkUp(ctr, "lo"), "lo is UP in the container netns");
  const addrs = loAddresses(ctr);
  t.equal(addrs.v4, "127.0.0.1/8", "the kernel put 127.0.0.1/8 on lo");
  expectSpecSame(t, profile, "loopback-result-shape", withoutEmptyDns(result), expectedResult(version, ctr.path, addrs), `the result has the ${version} shape`);
  t.ok(existsSync(cachePath(sb.runtime, NETWORK, rt)), "the runtime cached the result");

  if (hasCheck(version)) {
    expectCheckCatches(t, sb, profile, list, rt, { what: "CHECK with lo down", make: () => setLinkUp(ctr, "lo", false) });
    setLinkUp(ctr, "lo", true);
  } else {
    expectNoCheck(t, sb, list, rt);
    const reply = sb.invoke(PLUGIN, attachmentEnv("CHECK", ctr.path), conf(version));
    expectError(t, profile, reply, 1, `CHECK sent anyway at ${version}`);
  }

  const undone = () => {
    t.notOk(isLinkUp(ctr, "lo"), "DEL brings lo down again");
    t.notOk(existsSync(cachePath(sb.runtime, NETWORK, rt)), "the runtime dropped the cached result");
  };
  expectRepeatedDel(t, sb, list, rt, ctr, undone, "DEL again (already gone)");
}

function errorSection(t: Test, sb: Sandbox, profile: Profile): void {
  const ctr = sb.container();
  const newest = profile.version.supportedVersions.at(-1) ?? "1.0.0";
  for (const version of ["0.9.9", "1.0", "2.0.0"]) {
    expectError(t, profile, sb.invoke(PLUGIN, attachmentEnv("ADD", ctr.path), conf(version)), 1, `ADD with cniVersion "${version}"`);
  }
  expectError(t, profile, sb.invoke(PLUGIN, attachmentEnv("ADD", ctr.path), `{"cniVersion":"${newest}","name":`), 6, "ADD with truncated JSON");
  expectError(t, profile, sb.invoke(PLUGIN, attachmentEnv("ADD", ctr.path), "[]"), 6, "ADD with a JSON array for a config");
  for (const missing of ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] as const) {
    const reply = sb.invoke(PLUGIN, { ...attachmentEnv("ADD", ctr.path), [missing]: undefined }, conf(newest));
    expectError(t, profile, reply, 4, `ADD without ${missing}`);
    t.match((reply.json as { msg?: string })?.msg ?? "", missing, `the msg names ${missing}`);
  }
  const del = sb.invoke(PLUGIN, { ...attachmentEnv("DEL", ctr.path), CNI_CONTAINERID: undefined }, conf(newest));
  expectError(t, profile, del, 4, "DEL without CNI_CONTAINERID");
  expectError(t, profile, sb.invoke(PLUGIN, attachmentEnv("FROB", ctr.path), conf(newest)), 4, "CNI_COMMAND=FROB");
  t.notOk(isLinkUp(ctr, "lo"), "no refused request touched the container's lo");
}

function ownNetns(t: Test, profile: Profile): void {
  const sb = makeSandbox(t);
  const version = "1.0.0";
  for (const netns of [sb.host.path, "/proc/self/ns/net"]) {
    setLinkUp(sb.host, "lo", false);
    const add = sb.invoke(PLUGIN, attachmentEnv("ADD", netns), conf(version));
    if (expectSpec(t, profile, "own-netns-accepted", add.status !== 0, `ADD with CNI_NETNS=${netns} (the plugin's own) is refused`)) {
      expectError(t, profile, add, 8, `ADD with CNI_NETNS=${netns}`);
    }
    expectSpec(t, profile, "own-netns-changed", !isLinkUp(sb.host, "lo"), "the plugin's own lo stayed down");

    setLinkUp(sb.host, "lo", true);
    const del = sb.invoke(PLUGIN, attachmentEnv("DEL", netns), conf(version));
    if (expectSpec(t, profile, "own-netns-accepted", del.status !== 0, `DEL with CNI_NETNS=${netns} is refused`)) {
      expectError(t, profile, del, 8, `DEL with CNI_NETNS=${netns}`);
    }
    expectSpec(t, profile, "own-netns-changed", isLinkUp(sb.host, "lo"), "the plugin's own lo stayed up");
  }
}

function gcStatus(t: Test, sb: Sandbox, profile: Profile): void {
  const list = networkList(NETWORK, "1.1.0", [{ type: PLUGIN }]);
  if (!expectSupports110(t, profile, "GC and STATUS")) {
    const reply = sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf("1.1.0"));
    t.not(reply.status, 0, `STATUS is refused (${reply.stdout.replace(/\s+/g, " ").trim()})`);
    return;
  }
  const gcConf = { ...conf("1.1.0"), "cni.dev/valid-attachments": [{ containerID: "tcf-lo-gc", ifname: "lo" }] };
  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, gcConf), "GC with only CNI_COMMAND and CNI_PATH");
  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf("1.1.0")), "STATUS with only CNI_COMMAND and CNI_PATH");
  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS", CNI_PATH: undefined }, conf("1.1.0")), "STATUS without CNI_PATH");
  expectError(t, profile, sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, conf("1.0.0")), 1, "GC at 1.0.0");

  // The runtime's GC DELs cached attachments that are no longer valid, then GCs every plugin.
  const ctr = sb.container();
  const rt: RuntimeConf = { containerId: "tcf-lo-stale", netns: ctr.path, ifName: "lo" };
  if (!expectOk(t, "ADD an attachment that will go stale", () => addNetworkList(sb.runtime, list, rt))) return;
  expectOk(t, "GC the network with no valid attachment", () => gcNetworkList(sb.runtime, list, []));
  t.notOk(isLinkUp(ctr, "lo"), "GC DELed the stale attachment: lo is down");
  t.notOk(existsSync(cachePath(sb.runtime, NETWORK, rt)), "and its cache entry is gone");
  expectOk(t, "STATUS of the network", () => statusNetworkList(sb.runtime, list));
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
