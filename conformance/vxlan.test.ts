// Conformance of `vxlan` (ours only: there is no reference vxlan plugin) with host-local from the
// same directory: ADD/CHECK/DEL at every spec version with the container link, address, lease and
// the shared host state checked in the namespaces; CHECK noticing host drift and GC repairing it;
// chaining; failures that leave nothing behind; GC reconciling peers and leases; STATUS 50 and 51.
import t, { type Test } from "tap";
import { addNetworkList, checkNetworkList, delNetworkList, type RuntimeConf } from "../lib/runtime/index.ts";
import { inNs, ipJson } from "../test/helpers/netns.ts";
import {
  addHostVeth,
  addKeepAndStale,
  ALL_VERSIONS,
  cniEnv,
  expectCheckCatches,
  expectError,
  expectNoCheck,
  expectOk,
  expectQuietSuccess,
  expectRepeatedDel,
  hasAddress,
  hasCheck,
  hostLocalIpam,
  hostLocalLeases,
  isLegacy,
  isV0x,
  linkDetails,
  makeSandbox,
  networkList,
  pluginOrSkip,
  probe,
  requireEnvironment,
  versionAttachment,
  versionSays,
  type Profile,
  type Sandbox,
} from "./harness.ts";

const PLUGIN = "vxlan";
const UNDERLAY = "tcf-ul0";
const VNI = 4321;
const DEVICE = `vxlan.${VNI}`;
const BRIDGE = `vxbr.${VNI}`;

const routesOn = (ns: string, dev: string): string[] => ipJson<Array<{ dst: string }>>(ns, ["route", "show", "dev", dev]).map((r) => r.dst);

interface Lab {
  sb: Sandbox;
  profile: Profile;
  dataDir: string;
  /** The vxlan plugin config: this host owns 10.211.1.0/24 (or `subnet`), one peer 10.210.0.2 owns 10.211.2.0/24. */
  plugin(extra?: Record<string, unknown>, subnet?: string): { type: string } & Record<string, unknown>;
  leases(network: string): string[];
}

function makeLab(t: Test): Lab {
  const sb = makeSandbox(t);
  // The underlay: a veth whose far end stays in the host netns; the peer 10.210.0.2 is on its subnet.
  addHostVeth(sb, UNDERLAY, "tcf-ul1", "10.210.0.1/24");
  const dataDir = t.testdir({});
  return {
    sb,
    profile: probe(sb, PLUGIN),
    dataDir,
    plugin: (extra = {}, subnet = "10.211.1.0/24") => ({
      type: PLUGIN,
      vni: VNI,
      underlayInterface: UNDERLAY,
      subnet,
      peers: [
        { ip: "10.210.0.1", subnet },
        { ip: "10.210.0.2", subnet: "10.211.2.0/24" },
      ],
      ipam: hostLocalIpam(dataDir, subnet),
      ...extra,
    }),
    leases: (network) => hostLocalLeases(dataDir, network),
  };
}

async function main(t: Test): Promise<void> {
  const lab = makeLab(t);
  t.comment(versionSays(lab.profile));
  for (const version of ALL_VERSIONS) {
    await t.test(`ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, lab, version));
  }
  await t.test("chained after loopback: prevResult passes through", async (t) => chained(t, lab));
  await t.test("failures leave nothing behind", async (t) => failures(t, lab));
  await t.test("GC reconciles peers and leases; STATUS at 1.1.0", async (t) => gcStatus(t, lab));
}

function lifecycle(t: Test, lab: Lab, version: string): void {
  const { sb, profile } = lab;
  const { network, ctr, list, rt } = versionAttachment(sb, "tcf-vx", version, [lab.plugin()]);

  const result = expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  if (!result) return;
  const eth0 = linkDetails(ctr.name, "eth0");
  t.equal(eth0?.linkinfo?.info_kind, "veth", "eth0 is a veth");
  t.equal(eth0?.mtu, 1450, "MTU 1500 − 50");
  t.ok(hasAddress(ctr, "10.211.1.2/24"), "with the IPAM address");
  t.equal(linkDetails(sb.host.name, DEVICE)?.master, undefined, "routed mode: the vxlan device is not bridged");
  t.same(routesOn(sb.host.name, DEVICE), ["10.211.2.0/24"], "the peer's subnet is routed through the device");
  t.equal(result.cniVersion, version);
  if (isLegacy(version)) {
    t.match(result, { ip4: { ip: "10.211.1.2/24", gateway: "10.211.1.1" } }, `${version} result shape`);
  } else if (isV0x(version)) {
    t.match(result, { interfaces: [{ name: BRIDGE }, {}, { name: "eth0", mac: eth0?.address, sandbox: ctr.path }, { name: DEVICE }], ips: [{ address: "10.211.1.2/24", gateway: "10.211.1.1", interface: 2 }] }, `${version} result shape`);
  } else {
    t.match(
      result,
      { interfaces: [{ name: BRIDGE, mtu: 1450 }, { mtu: 1450 }, { name: "eth0", mac: eth0?.address, mtu: 1450, sandbox: ctr.path }, { name: DEVICE, mtu: 1450 }], ips: [{ address: "10.211.1.2/24", gateway: "10.211.1.1", interface: 2 }] },
      `${version} result shape, with interface MTUs`,
    );
  }
  t.same(lab.leases(network), ["10.211.1.2"], "one lease");

  if (hasCheck(version)) {
    const make = () => void inNs(sb.host.name, "ip", ["route", "del", "10.211.2.0/24", "dev", DEVICE]);
    const reply = expectCheckCatches(t, sb, profile, list, rt, { what: "CHECK without the peer's route", code: 7, make });
    if (reply) t.match((reply.json as { msg?: string })?.msg, /lacks peer state: route 10\.211\.2\.0\/24/, "names the missing route");
    // ADD trusts the state it recorded; GC compares with the kernel and repairs.
    const gc = sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, { cniVersion: "1.1.0", name: network, ...lab.plugin(), "cni.dev/valid-attachments": [{ containerID: rt.containerId, ifname: "eth0" }] });
    expectQuietSuccess(t, gc, "GC");
    t.same(routesOn(sb.host.name, DEVICE), ["10.211.2.0/24"], "GC put the route back");
    expectOk(t, "CHECK after GC", () => checkNetworkList(sb.runtime, list, rt));
  } else {
    expectNoCheck(t, sb, list, rt);
  }

  expectRepeatedDel(t, sb, list, rt, ctr, () => {
    t.equal(linkDetails(ctr.name, "eth0"), undefined, "DEL removed eth0");
    t.same(lab.leases(network), [], "DEL released the lease");
    t.equal(linkDetails(sb.host.name, DEVICE)?.linkinfo?.info_kind, "vxlan", "the shared vxlan device stays");
  });
}

function chained(t: Test, lab: Lab): void {
  const { sb } = lab;
  const ctr = sb.container();
  const list = networkList("tcf-vx-chain", "1.1.0", [{ type: "loopback" }, lab.plugin()]);
  const rt: RuntimeConf = { containerId: "tcf-vx-chain", netns: ctr.path, ifName: "eth0" };
  const result = expectOk(t, "ADD loopback + vxlan", () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  if (!result) return;
  const ours = (result.ips ?? []).find((ip: { address: string }) => ip.address.startsWith("10.211.1."));
  t.equal(result.interfaces?.[ours?.interface]?.name, "eth0", "the vxlan IP points at eth0");
  expectOk(t, "CHECK", () => checkNetworkList(sb.runtime, list, rt));
  expectOk(t, "DEL", () => delNetworkList(sb.runtime, list, rt));
  t.equal(linkDetails(ctr.name, "eth0"), undefined, "eth0 gone");
}

function failures(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const env = cniEnv("ADD", "tcf-vx-bad", ctr.path);
  const conf = (extra: Record<string, unknown>, subnet = "10.212.1.0/30") => ({ cniVersion: "1.1.0", name: "tcf-vx-bad", ...lab.plugin(extra, subnet) });
  for (const [what, extra] of [
    ["no vni", { vni: null }],
    ["a VNI above 2^24 − 1", { vni: 16777216 }],
    ["an MTU above what the underlay allows", { mtu: 1451 }],
    ["an unknown underlay interface", { underlayInterface: "tcf-nope" }],
  ] as const) {
    const reply = sb.invoke(PLUGIN, env, conf(extra));
    expectError(t, profile, reply, 7, `ADD with ${what}`);
  }
  const gone = sb.invoke(PLUGIN, { ...env, CNI_NETNS: "/run/netns/tcf-never-there" }, conf({}));
  expectError(t, profile, gone, 3, "ADD into a missing netns");
  t.equal(linkDetails(ctr.name, "eth0"), undefined, "no link after refused ADDs");
  t.same(lab.leases("tcf-vx-bad"), [], "no lease after refused ADDs");

  // 10.212.1.0/30 has a single address to give: the second container's ADD fails in IPAM.
  const first = sb.container();
  t.equal(sb.invoke(PLUGIN, { ...env, CNI_CONTAINERID: "tcf-vx-one", CNI_NETNS: first.path }, conf({})).status, 0, "ADD the only address");
  const exhausted = sb.invoke(PLUGIN, env, conf({}));
  expectError(t, profile, exhausted, undefined, "ADD with the range exhausted");
  t.equal(linkDetails(ctr.name, "eth0"), undefined, "the failed ADD left no link in the container");
  t.same(lab.leases("tcf-vx-bad"), ["10.212.1.2"], "only the first container's lease");
}

function gcStatus(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: "1.1.0", name: "tcf-vx-gc", ...lab.plugin({}, "10.213.1.0/24"), ...extra });
  const [keep] = addKeepAndStale(t, sb, PLUGIN, conf());
  const valid = [{ containerID: keep.name, ifname: "eth0" }];
  const newPeer = { ip: "10.210.0.3", subnet: "10.211.3.0/24" };
  const gc = sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, conf({ peers: [newPeer], "cni.dev/valid-attachments": valid }));
  expectQuietSuccess(t, gc, "GC");
  t.same(lab.leases("tcf-vx-gc"), ["10.213.1.2"], "GC released the stale attachment's lease through IPAM");
  t.same(routesOn(sb.host.name, DEVICE), ["10.211.3.0/24"], "GC replaced the removed peer's route with the new peer's");

  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf()), "STATUS with the underlay up");
  const unreachable = sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf({ peers: [{ ip: "192.0.2.9", subnet: "10.211.9.0/24" }] }));
  expectError(t, profile, unreachable, 51, "STATUS with a peer the underlay has no route to");
  inNs(sb.host.name, "ip", ["link", "set", UNDERLAY, "down"]);
  const down = sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf());
  inNs(sb.host.name, "ip", ["link", "set", UNDERLAY, "up"]);
  expectError(t, profile, down, 50, "STATUS with the underlay down");
  const missing = sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf({ underlayInterface: "tcf-nope" }));
  expectError(t, profile, missing, 50, "STATUS with the underlay missing");
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
