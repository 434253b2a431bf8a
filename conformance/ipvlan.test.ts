// Conformance of `ipvlan` (host-local of the same directory as IPAM). What runs depends on the
// kernel: without CONFIG_IPVLAN (this project's usual host) ADD must fail cleanly and leave nothing
// behind; with it, ADD/CHECK/DEL at every version, traffic and chaining. Config errors, DEL and
// STATUS run either way. Traffic on a real ipvlan kernel is also covered by test/vm/ipvlan.test.ts.
import t, { type Test } from "tap";
import { inNs, ipJson, sh } from "../test/helpers/netns.ts";
import {
  ALL_VERSIONS,
  cniEnv,
  expectConfigError,
  expectError,
  expectMasterStatus,
  expectOk,
  expectPluginFailure,
  expectSpec,
  expectSupports110,
  hasCheck,
  linkDetails,
  makeMasterLinkLab,
  networkList,
  pluginOrSkip,
  requireEnvironment,
  versionSays,
  type MasterLinkLab,
  type Netns,
  type Sandbox,
} from "./harness.ts";
import { addNetworkList, checkNetworkList, delNetworkList, type RuntimeConf } from "../lib/runtime/index.ts";

const PLUGIN = "ipvlan";
const MASTER = "tcf-m0";

const linkNames = (ns: Netns): string[] =>
  ipJson<Array<{ ifname: string }>>(ns.name, ["link", "show"])
    .map((l) => l.ifname)
    .sort();
const containerLink = (ns: Netns) => linkDetails(ns.name, "eth0");

type Lab = MasterLinkLab;

/** Whether the kernel can make an ipvlan link (tried in the sandbox's host netns). */
function kernelHasIpvlan(sb: Sandbox): boolean {
  sh("ip", ["-n", sb.host.name, "link", "add", "tcf-ivprobe", "link", MASTER, "type", "ipvlan"], { allowFail: true });
  const made = linkNames(sb.host).includes("tcf-ivprobe");
  if (made) sh("ip", ["-n", sb.host.name, "link", "del", "tcf-ivprobe"]);
  return made;
}

async function main(t: Test): Promise<void> {
  const lab = makeMasterLinkLab(t, PLUGIN, MASTER, "tcf-p0");
  const hasIpvlan = kernelHasIpvlan(lab.sb);
  t.comment(`${versionSays(lab.profile)}; the kernel ${hasIpvlan ? "has" : "lacks"} ipvlan`);
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
  if (hasCheck(version)) expectOk(t, "CHECK", () => checkNetworkList(sb.runtime, list, rt(a)));
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
  const env = cniEnv("ADD", "tcf-iv-bad", ctr.path);
  const conf = (extra: Record<string, unknown>) => ({ cniVersion: "1.0.0", name: "tcf-iv-bad", ...lab.plugin("10.84.0.0/24", extra) });
  for (const [what, config] of [
    ["an unknown mode", conf({ mode: "l4" })],
    ["neither ipam nor prevResult", conf({ ipam: {} })],
  ] as const) {
    expectConfigError(t, profile, sb.invoke(PLUGIN, env, config), `ADD with ${what}`);
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
  if (!expectSupports110(t, lab.profile, "STATUS")) return;
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: "1.1.0", name: "tcf-iv-status", ...lab.plugin("10.86.0.0/24"), ...extra });
  expectMasterStatus(t, lab, conf);
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
