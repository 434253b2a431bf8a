// Conformance of `ipvlan` (host-local of the same directory as IPAM). What runs depends on the
// kernel: without CONFIG_IPVLAN (this project's usual host) ADD must fail cleanly and leave nothing
// behind; with it, ADD/CHECK/DEL at every version, traffic and chaining. Config errors, DEL and
// STATUS run either way. Traffic on a real ipvlan kernel is also covered by test/vm/ipvlan.test.ts.
import { readdirSync } from "node:fs";
import t, { type Test } from "tap";
import { compareVersions } from "../lib/cni/version.ts";
import { inNs, ipJson, sh } from "../test/helpers/netns.ts";
import {
  ALL_VERSIONS,
  expectError,
  expectOk,
  expectPluginFailure,
  expectQuietSuccess,
  expectSpec,
  makeSandbox,
  networkList,
  pluginOrSkip,
  probe,
  requireEnvironment,
  type Netns,
  type Profile,
  type Sandbox,
} from "./harness.ts";
import { addNetworkList, checkNetworkList, delNetworkList, type RuntimeConf } from "../lib/runtime/index.ts";

const PLUGIN = "ipvlan";
const MASTER = "tcf-m0";

interface LinkJson {
  ifname: string;
  linkinfo?: { info_kind?: string; info_data?: { mode?: string } };
}

const linkNames = (ns: Netns): string[] =>
  ipJson<LinkJson[]>(ns.name, ["link", "show"])
    .map((l) => l.ifname)
    .sort();
const containerLink = (ns: Netns): LinkJson | undefined => ipJson<LinkJson[]>(ns.name, ["-d", "link", "show"]).find((l) => l.ifname === "eth0");

interface Lab {
  sb: Sandbox;
  profile: Profile;
  plugin(subnet: string, extra?: Record<string, unknown>): { type: string } & Record<string, unknown>;
  leases(network: string): string[];
}

function makeLab(t: Test): Lab {
  const sb = makeSandbox(t);
  inNs(sb.host.name, "ip", ["link", "add", MASTER, "type", "veth", "peer", "name", "tcf-p0"]);
  inNs(sb.host.name, "ip", ["link", "set", MASTER, "up"]);
  inNs(sb.host.name, "ip", ["link", "set", "tcf-p0", "up"]);
  const dataDir = t.testdir({});
  return {
    sb,
    profile: probe(sb, PLUGIN),
    plugin: (subnet, extra = {}) => ({ type: PLUGIN, master: MASTER, ipam: { type: "host-local", dataDir, ranges: [[{ subnet }]] }, ...extra }),
    leases: (network) => {
      try {
        return readdirSync(`${dataDir}/${network}`).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
      } catch {
        return [];
      }
    },
  };
}

/** Whether the kernel can make an ipvlan link (tried in the sandbox's host netns). */
function kernelHasIpvlan(sb: Sandbox): boolean {
  sh("ip", ["-n", sb.host.name, "link", "add", "tcf-ivprobe", "link", MASTER, "type", "ipvlan"], { allowFail: true });
  const made = linkNames(sb.host).includes("tcf-ivprobe");
  if (made) sh("ip", ["-n", sb.host.name, "link", "del", "tcf-ivprobe"]);
  return made;
}

async function main(t: Test): Promise<void> {
  const lab = makeLab(t);
  const hasIpvlan = kernelHasIpvlan(lab.sb);
  t.comment(`${PLUGIN}: VERSION says ${JSON.stringify(lab.profile.version)}; the kernel ${hasIpvlan ? "has" : "lacks"} ipvlan`);
  if (hasIpvlan) {
    for (const version of ALL_VERSIONS) {
      await t.test(`ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, lab, version));
    }
    await t.test("chained after loopback: prevResult passes through", async (t) => chained(t, lab));
  } else {
    await t.test("ADD on a kernel without ipvlan fails cleanly", async (t) => noKernelSupport(t, lab));
  }
  await t.test("config errors", async (t) => configErrors(t, lab));
  await t.test("DEL of what was never added", async (t) => delNothing(t, lab));
  await t.test("STATUS at 1.1.0", async (t) => status(t, lab));
}

function lifecycle(t: Test, lab: Lab, version: string): void {
  const { sb, profile } = lab;
  if (!profile.supports(version)) {
    expectSpec(t, profile, "no-1.1.0", false, `ADD at ${version} succeeds`);
    return;
  }
  const network = `tcf-iv-${version.replaceAll(".", "")}`;
  const [a, b] = [sb.container(), sb.container()];
  const list = networkList(network, version, [lab.plugin("10.81.0.0/24")]);
  const rt = (ctr: Netns): RuntimeConf => ({ containerId: ctr.name, netns: ctr.path, ifName: "eth0" });
  if (!expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt(a)))) return;
  if (!expectOk(t, `second ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt(b)))) return;
  t.equal(containerLink(a)?.linkinfo?.info_kind, "ipvlan", "eth0 is an ipvlan");
  t.equal(containerLink(a)?.linkinfo?.info_data?.mode, "l2", "in l2 mode");
  t.doesNotThrow(() => inNs(a.name, "ping", ["-c", "1", "-W", "2", "10.81.0.3"]), "the containers reach each other");
  if (compareVersions(version, "0.4.0") >= 0) expectOk(t, "CHECK", () => checkNetworkList(sb.runtime, list, rt(a)));
  for (const ctr of [a, b]) expectOk(t, `DEL ${ctr.name}`, () => delNetworkList(sb.runtime, list, rt(ctr)));
  t.equal(containerLink(a), undefined, "DEL removed eth0");
  t.same(lab.leases(network), [], "DEL released the leases");
}

function chained(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const list = networkList("tcf-iv-chain", "1.0.0", [{ type: "loopback" }, lab.plugin("10.82.0.0/24")]);
  const result = expectOk(t, "ADD loopback + ipvlan", () => addNetworkList(sb.runtime, list, { containerId: "tcf-iv-chain", netns: ctr.path, ifName: "eth0" })) as
    | Record<string, any>
    | undefined;
  const names = (result?.interfaces ?? []).map((i: { name: string }) => i.name);
  expectSpec(t, profile, "drops-prev-interfaces", names.join() === "lo,eth0", "loopback's interface is kept, ipvlan's appended", { names });
}

function noKernelSupport(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const hostLinks = linkNames(sb.host);
  const list = networkList("tcf-iv-nokernel", "1.0.0", [lab.plugin("10.83.0.0/24")]);
  const reply = expectPluginFailure(t, "ADD", () => addNetworkList(sb.runtime, list, { containerId: "tcf-iv-nokernel", netns: ctr.path, ifName: "eth0" }));
  if (reply) {
    expectError(t, profile, reply, undefined, "ADD without kernel support");
    const code = (reply.json as { code?: number })?.code;
    expectSpec(t, profile, "no-kernel-support-999", code === 50, "code 50: the plugin cannot serve ADD here", { code });
  }
  t.same(linkNames(ctr), ["lo"], "nothing left in the container");
  t.same(linkNames(sb.host), hostLinks, "nothing left in the host netns");
  t.same(lab.leases("tcf-iv-nokernel"), [], "no lease left");
}

function configErrors(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "tcf-iv-bad", CNI_NETNS: ctr.path, CNI_IFNAME: "eth0" };
  const conf = (extra: Record<string, unknown>) => ({ cniVersion: "1.0.0", name: "tcf-iv-bad", ...lab.plugin("10.84.0.0/24", extra) });
  for (const [what, config] of [
    ["an unknown mode", conf({ mode: "l4" })],
    ["neither ipam nor prevResult", conf({ ipam: {} })],
  ] as const) {
    const reply = sb.invoke(PLUGIN, env, config);
    expectError(t, profile, reply, undefined, `ADD with ${what}`);
    expectSpec(t, profile, "config-error-999", (reply.json as { code?: number })?.code === 7, `ADD with ${what}: code 7`);
  }
  t.same(linkNames(ctr), ["lo"], "no link after refused ADDs");
  t.same(lab.leases("tcf-iv-bad"), [], "no lease after refused ADDs");
}

function delNothing(t: Test, lab: Lab): void {
  const { sb } = lab;
  const ctr = sb.container();
  const list = networkList("tcf-iv-del", "1.0.0", [lab.plugin("10.85.0.0/24")]);
  const rt: RuntimeConf = { containerId: "tcf-iv-del", netns: ctr.path, ifName: "eth0" };
  expectOk(t, "DEL", () => delNetworkList(sb.runtime, list, rt));
  expectOk(t, "DEL with the netns gone", () => delNetworkList(sb.runtime, list, { ...rt, netns: "/run/netns/tcf-never-there" }));
  t.same(linkNames(ctr), ["lo"]);
}

function status(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  if (!expectSpec(t, profile, "no-1.1.0", profile.supports("1.1.0"), "1.1.0 is supported, so STATUS can be asked")) return;
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: "1.1.0", name: "tcf-iv-status", ...lab.plugin("10.86.0.0/24"), ...extra });
  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf()), "STATUS with the master present");
  expectError(t, profile, sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf({ master: "tcf-nope" })), 50, "STATUS with the master missing");
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
