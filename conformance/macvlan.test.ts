// Conformance of `macvlan` (with the host-local of the same directory as IPAM): ADD/CHECK/DEL at
// every spec version with the link, address and lease checked in the namespaces, traffic between
// two containers and private-mode isolation, the mac capability, chaining, IPAM dns, failures that
// must leave nothing behind, GC and STATUS at 1.1.0.
import t, { type Test } from "tap";
import { inNs } from "../test/helpers/netns.ts";
import {
  addKeepAndStale,
  ALL_VERSIONS,
  cniEnv,
  commentProfile,
  expectCheckCatches,
  expectConfigError,
  expectError,
  expectMasterStatus,
  expectNoCheck,
  expectOk,
  expectQuietSuccess,
  expectRepeatedDel,
  expectSpec,
  expectSupports110,
  expectUnsupportedAdd,
  hasAddress,
  hasCheck,
  isLegacy,
  linkDetails,
  makeMasterLinkLab,
  networkList,
  pluginOrSkip,
  requireEnvironment,
  versionAttachment,
  type MasterLinkLab,
  type Netns,
} from "./harness.ts";
import { addNetworkList, checkNetworkList, delNetworkList, type RuntimeConf } from "../lib/runtime/index.ts";

const PLUGIN = "macvlan";
const MASTER = "tcf-m0";

const containerLink = (ns: Netns) => linkDetails(ns.name, "eth0");
const pings = (ns: Netns, ip: string): boolean => {
  try {
    inNs(ns.name, "ping", ["-c", "1", "-W", "1", ip]);
    return true;
  } catch {
    return false;
  }
};

type Lab = MasterLinkLab;

async function main(t: Test): Promise<void> {
  const lab = makeMasterLinkLab(t, PLUGIN, MASTER, "tcf-p0");
  commentProfile(t, lab.profile);
  for (const version of ALL_VERSIONS) {
    await t.test(`ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, lab, version));
  }
  await t.test("traffic: bridge mode connects, private mode isolates", async (t) => traffic(t, lab));
  await t.test("the mac capability sets the MAC", async (t) => macCapability(t, lab));
  await t.test("chained after loopback: prevResult passes through", async (t) => chained(t, lab));
  await t.test("IPAM dns reaches the result", async (t) => ipamDns(t, lab));
  await t.test("failures leave nothing behind", async (t) => failures(t, lab));
  await t.test("GC and STATUS at 1.1.0", async (t) => gcStatus(t, lab));
}

function lifecycle(t: Test, lab: Lab, version: string): void {
  const { sb, profile } = lab;
  const { network, ctr, list, rt } = versionAttachment(sb, "tcf-mv", version, [lab.plugin("10.91.0.0/24")]);
  if (!profile.supports(version)) {
    expectUnsupportedAdd(t, sb, profile, list, rt, version);
    t.equal(containerLink(ctr), undefined, "no link made");
    return;
  }

  const result = expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  if (!result) return;
  const link = containerLink(ctr);
  t.equal(link?.linkinfo?.info_kind, "macvlan", "eth0 is a macvlan");
  t.equal(link?.linkinfo?.info_data?.mode, "bridge", "in bridge mode");
  t.ok(hasAddress(ctr, "10.91.0.2/24"), "with the IPAM address");
  t.equal(result.cniVersion, version);
  if (isLegacy(version)) {
    t.match(result, { ip4: { ip: "10.91.0.2/24", gateway: "10.91.0.1" } }, `${version} result shape`);
  } else {
    t.match(result, { interfaces: [{ name: "eth0", mac: link?.address, sandbox: ctr.path }], ips: [{ address: "10.91.0.2/24", gateway: "10.91.0.1", interface: 0 }] }, `${version} result shape`);
  }
  t.same(lab.leases(network), ["10.91.0.2"], "one lease");

  if (hasCheck(version)) {
    const make = () => void inNs(ctr.name, "ip", ["addr", "del", "10.91.0.2/24", "dev", "eth0"]);
    expectCheckCatches(t, sb, profile, list, rt, { what: "CHECK without the address", make });
  } else {
    expectNoCheck(t, sb, list, rt);
  }

  expectRepeatedDel(t, sb, list, rt, ctr, () => {
    t.equal(containerLink(ctr), undefined, "DEL removed eth0");
    t.same(lab.leases(network), [], "DEL released the lease");
  });
}

function traffic(t: Test, lab: Lab): void {
  const { sb } = lab;
  for (const [mode, subnet, reachable] of [
    ["bridge", "10.92.0.0/24", true],
    ["private", "10.93.0.0/24", false],
  ] as const) {
    const list = networkList(`tcf-mv-${mode}`, "1.0.0", [lab.plugin(subnet, { mode })]);
    const [a, b] = [sb.container(), sb.container()];
    const ok = [a, b].every((ctr) => expectOk(t, `ADD ${mode} ${ctr.name}`, () => addNetworkList(sb.runtime, list, { containerId: ctr.name, netns: ctr.path, ifName: "eth0" })));
    if (!ok) continue;
    const peer = subnet.replace(/0\/24$/, "3");
    t.equal(pings(a, peer), reachable, `${mode} mode: the containers ${reachable ? "reach" : "cannot reach"} each other`);
  }
}

function macCapability(t: Test, lab: Lab): void {
  const { sb } = lab;
  const ctr = sb.container();
  const list = networkList("tcf-mv-mac", "1.0.0", [lab.plugin("10.94.0.0/24", { capabilities: { mac: true } })]);
  const rt: RuntimeConf = { containerId: "tcf-mv-mac", netns: ctr.path, ifName: "eth0", capabilityArgs: { mac: "02:0c:f0:00:00:01" } };
  const result = expectOk(t, "ADD with runtimeConfig.mac", () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  t.equal(containerLink(ctr)?.address, "02:0c:f0:00:00:01", "the link has the MAC");
  t.equal(result?.interfaces?.[0]?.mac, "02:0c:f0:00:00:01", "and the result says so");
}

function chained(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const list = networkList("tcf-mv-chain", "1.0.0", [{ type: "loopback" }, lab.plugin("10.95.0.0/24")]);
  const rt: RuntimeConf = { containerId: "tcf-mv-chain", netns: ctr.path, ifName: "eth0" };
  const result = expectOk(t, "ADD loopback + macvlan", () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  if (!result) return;
  const names = (result.interfaces ?? []).map((i: { name: string }) => i.name);
  expectSpec(t, profile, "drops-prev-interfaces", names.join() === "lo,eth0", "loopback's interface is kept, macvlan's appended", { names });
  const ours = (result.ips ?? []).find((ip: { address: string }) => ip.address === "10.95.0.2/24");
  t.equal(result.interfaces?.[ours?.interface]?.name, "eth0", "the macvlan IP points at eth0");
  expectOk(t, "CHECK", () => checkNetworkList(sb.runtime, list, rt));
  expectOk(t, "DEL", () => delNetworkList(sb.runtime, list, rt));
  t.equal(containerLink(ctr), undefined, "eth0 gone");
}

function ipamDns(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const resolvConf = `${t.testdir({ "resolv.conf": "nameserver 10.96.0.53\nsearch tcf.test\n" })}/resolv.conf`;
  const plugin = lab.plugin("10.96.0.0/24");
  const list = networkList("tcf-mv-dns", "1.0.0", [{ ...plugin, ipam: { ...(plugin.ipam as object), resolvConf } }]);
  const result = expectOk(t, "ADD", () => addNetworkList(sb.runtime, list, { containerId: "tcf-mv-dns", netns: ctr.path, ifName: "eth0" })) as Record<string, any> | undefined;
  expectSpec(t, profile, "drops-ipam-dns", result?.dns?.nameservers?.[0] === "10.96.0.53", "the result carries host-local's nameserver", { dns: result?.dns });
}

function failures(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const env = cniEnv("ADD", "tcf-mv-bad", ctr.path);
  const conf = (extra: Record<string, unknown>) => ({ cniVersion: "1.0.0", name: "tcf-mv-bad", ...lab.plugin("10.97.0.0/30", extra) });
  for (const [what, extra] of [
    ["an unknown mode", { mode: "bridged" }],
    ["an MTU above the master's", { mtu: 9000 }],
  ] as const) {
    expectConfigError(t, profile, sb.invoke(PLUGIN, env, conf(extra)), `ADD with ${what}`);
  }
  const gone = sb.invoke(PLUGIN, { ...env, CNI_NETNS: "/run/netns/tcf-never-there" }, conf({}));
  expectError(t, profile, gone, undefined, "ADD into a missing netns");
  expectSpec(t, profile, "missing-netns-999", (gone.json as { code?: number })?.code === 3, "ADD into a missing netns: code 3");
  t.equal(containerLink(ctr), undefined, "no link after refused ADDs");
  t.same(lab.leases("tcf-mv-bad"), [], "no lease after refused ADDs");

  // 10.97.0.0/30 has a single address to give: the second container's ADD fails in IPAM.
  const first = sb.container();
  t.equal(sb.invoke(PLUGIN, { ...env, CNI_CONTAINERID: "tcf-mv-one", CNI_NETNS: first.path }, conf({})).status, 0, "ADD the only address");
  const exhausted = sb.invoke(PLUGIN, env, conf({}));
  expectError(t, profile, exhausted, undefined, "ADD with the range exhausted");
  expectSpec(t, profile, "add-failure-leaks-link", containerLink(ctr) === undefined, "the failed ADD left no link in the container");
  t.same(lab.leases("tcf-mv-bad"), ["10.97.0.2"], "only the first container's lease");
}

function gcStatus(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  if (!expectSupports110(t, profile, "GC and STATUS")) return;
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: "1.1.0", name: "tcf-mv-gc", ...lab.plugin("10.98.0.0/24"), ...extra });
  const [keep] = addKeepAndStale(t, sb, PLUGIN, conf());
  const gc = sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, conf({ "cni.dev/valid-attachments": [{ containerID: keep.name, ifname: "eth0" }] }));
  expectQuietSuccess(t, gc, "GC");
  t.same(lab.leases("tcf-mv-gc"), ["10.98.0.2"], "GC released the stale attachment's lease through IPAM");

  expectMasterStatus(t, lab, conf);
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
