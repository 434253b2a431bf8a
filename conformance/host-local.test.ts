// Conformance of `host-local`, driven as the only plugin of a network list (as a runtime would run
// an IPAM plugin directly) with a temporary dataDir: ADD/CHECK/DEL at 0.3.1 and later with the
// result and the lease files (`<containerID>\r\n<ifname>`, no newline) checked on disk, a requested
// address through the `ips` capability, exhaustion, GC and STATUS at 1.1.0.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import t, { type Test } from "tap";
import { compareVersions } from "../lib/cni/version.ts";
import { makeNetns } from "../test/helpers/netns.ts";
import {
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
import { addNetworkList, checkNetworkList, delNetworkList, RuntimeError, type RuntimeConf } from "../lib/runtime/index.ts";

const PLUGIN = "host-local";
const VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

interface Lab {
  sb: Sandbox;
  profile: Profile;
  dataDir: string;
  /** A netns to name in CNI_NETNS: host-local never enters it, but the skel wants one. */
  ns: Netns;
  /** host-local as a plugin of its own on `subnet`, with `extra` top-level keys. */
  plugin(subnet: string, extra?: Record<string, unknown>): { type: string } & Record<string, unknown>;
  leases(network: string): string[];
  lease(network: string, ip: string): string | undefined;
}

function makeLab(t: Test): Lab {
  const sb = makeSandbox(t);
  const dataDir = t.testdir({});
  return {
    sb,
    profile: probe(sb, PLUGIN),
    dataDir,
    ns: makeNetns(t, "tcfb-c"),
    plugin: (subnet, extra = {}) => ({ type: PLUGIN, ipam: { type: PLUGIN, dataDir, ranges: [[{ subnet }]] }, ...extra }),
    leases: (network) => {
      try {
        return readdirSync(`${dataDir}/${network}`)
          .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
          .sort();
      } catch {
        return [];
      }
    },
    lease: (network, ip) => {
      const path = `${dataDir}/${network}/${ip}`;
      return existsSync(path) ? readFileSync(path, "latin1") : undefined;
    },
  };
}

async function main(t: Test): Promise<void> {
  const lab = makeLab(t);
  t.comment(`${PLUGIN}: VERSION says ${JSON.stringify(lab.profile.version)}${lab.profile.isReference ? " (reference behaviour: its known deviations are named, not failed)" : ""}`);
  for (const [i, version] of VERSIONS.entries()) {
    await t.test(`ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, lab, version, i));
  }
  await t.test("a requested address (runtimeConfig.ips) is honoured", async (t) => requested(t, lab));
  await t.test("ADD with the range exhausted fails", async (t) => exhausted(t, lab));
  await t.test("GC and STATUS at 1.1.0", async (t) => gcStatus(t, lab));
}

function lifecycle(t: Test, lab: Lab, version: string, index: number): void {
  const { sb, profile } = lab;
  const network = `tcfb-hl-${version.replaceAll(".", "")}`;
  const prefix = `10.141.${index}`;
  const list = networkList(network, version, [lab.plugin(`${prefix}.0/24`)]);
  const rt: RuntimeConf = { containerId: `tcfb-hl-${version}`, netns: lab.ns.path, ifName: "eth0" };
  if (!profile.supports(version)) {
    const reply = expectPluginFailure(t, `ADD at unsupported ${version}`, () => addNetworkList(sb.runtime, list, rt));
    expectSpec(t, profile, "no-1.1.0", false, `ADD at ${version} succeeds`);
    if (reply) expectError(t, profile, reply, 1, `ADD at ${version}`);
    t.same(lab.leases(network), [], "no lease made");
    return;
  }

  const result = expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  if (!result) return;
  t.equal(result.cniVersion, version, "the result has the requested version");
  t.match(result, { ips: [{ address: `${prefix}.2/24`, gateway: `${prefix}.1` }] }, `${version} result: the first free address and the gateway`);
  t.equal(result.ips?.length, 1, "one address");
  t.notOk(result.interfaces?.length, "no interfaces (IPAM)");
  t.notOk("interface" in (result.ips?.[0] ?? {}), "the address names no interface");
  t.same(lab.leases(network), [`${prefix}.2`], "one lease file, named by the address");
  t.equal(lab.lease(network, `${prefix}.2`), `${rt.containerId}\r\neth0`, "lease content: <containerID>\\r\\n<ifname>, no newline");
  t.equal(readFileSync(`${lab.dataDir}/${network}/last_reserved_ip.0`, "latin1"), `${prefix}.2`, "last_reserved_ip.0 holds the address");
  t.ok(existsSync(`${lab.dataDir}/${network}/lock`), "the lock file exists");

  const other: RuntimeConf = { ...rt, containerId: `tcfb-hl-${version}-other` };
  if (compareVersions(version, "0.4.0") >= 0) {
    expectOk(t, "CHECK right after ADD", () => checkNetworkList(sb.runtime, list, rt));
    const reply = sb.invoke(PLUGIN, { CNI_COMMAND: "CHECK", CNI_CONTAINERID: other.containerId, CNI_NETNS: rt.netns, CNI_IFNAME: "eth0" }, { cniVersion: version, name: network, ...lab.plugin(`${prefix}.0/24`), prevResult: result });
    expectError(t, profile, reply, undefined, "CHECK of a container without a lease");
  } else {
    t.throws(() => checkNetworkList(sb.runtime, list, rt), RuntimeError, "the runtime does not CHECK below 0.4.0");
  }

  const second = expectOk(t, "ADD of a second container", () => addNetworkList(sb.runtime, list, other)) as Record<string, any> | undefined;
  t.equal(second?.ips?.[0]?.address, `${prefix}.3/24`, "gets the next address");
  expectOk(t, "DEL", () => delNetworkList(sb.runtime, list, rt));
  t.same(lab.leases(network), [`${prefix}.3`], "DEL released this container's lease only");
  expectOk(t, "DEL again", () => delNetworkList(sb.runtime, list, rt));
  if (compareVersions(version, "0.4.0") >= 0) {
    const reply = sb.invoke(PLUGIN, { CNI_COMMAND: "CHECK", CNI_CONTAINERID: rt.containerId, CNI_NETNS: rt.netns, CNI_IFNAME: "eth0" }, { cniVersion: version, name: network, ...lab.plugin(`${prefix}.0/24`), prevResult: result });
    expectError(t, profile, reply, undefined, "CHECK after DEL");
  }
  expectOk(t, "DEL of the second container", () => delNetworkList(sb.runtime, list, other));
  t.same(lab.leases(network), [], "no lease left");
}

function requested(t: Test, lab: Lab): void {
  const { sb } = lab;
  const network = "tcfb-hl-req";
  const list = networkList(network, "1.0.0", [lab.plugin("10.142.0.0/24", { capabilities: { ips: true } })]);
  const rt: RuntimeConf = { containerId: "tcfb-hl-req", netns: lab.ns.path, ifName: "eth0", capabilityArgs: { ips: ["10.142.0.7/24"] } };
  const result = expectOk(t, "ADD with runtimeConfig.ips", () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  t.equal(result?.ips?.[0]?.address, "10.142.0.7/24", "the result has the requested address");
  t.same(lab.leases(network), ["10.142.0.7"], "and it is the one leased");
  t.equal(lab.lease(network, "10.142.0.7"), "tcfb-hl-req\r\neth0", "to this attachment");

  const taken = expectPluginFailure(t, "another container requesting the same address", () => addNetworkList(sb.runtime, list, { ...rt, containerId: "tcfb-hl-req2" }));
  if (taken) expectError(t, lab.profile, taken, undefined, "ADD of a leased address");
  expectOk(t, "DEL", () => delNetworkList(sb.runtime, list, rt));
  t.same(lab.leases(network), [], "the requested address is released");
}

function exhausted(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  // A /30 has one address to give (.2; .1 is the gateway).
  const network = "tcfb-hl-full";
  const list = networkList(network, "1.0.0", [lab.plugin("10.143.0.0/30")]);
  expectOk(t, "ADD of the only address", () => addNetworkList(sb.runtime, list, { containerId: "tcfb-hl-one", netns: lab.ns.path, ifName: "eth0" }));
  const reply = expectPluginFailure(t, "ADD with the range exhausted", () => addNetworkList(sb.runtime, list, { containerId: "tcfb-hl-two", netns: lab.ns.path, ifName: "eth0" }));
  if (reply) {
    expectError(t, profile, reply, undefined, "ADD with the range exhausted");
    t.match((reply.json as { msg?: string })?.msg ?? "", /no IP addresses available/, "the message says the range is full");
  }
  t.same(lab.leases(network), ["10.143.0.2"], "only the first container's lease");
}

function gcStatus(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  if (!expectSpec(t, profile, "no-1.1.0", profile.supports("1.1.0"), "1.1.0 is supported, so GC and STATUS can be asked")) return;
  const network = "tcfb-hl-gc";
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: "1.1.0", name: network, ...lab.plugin("10.144.0.0/30"), ...extra });
  const env = (cid: string) => ({ CNI_COMMAND: "ADD", CNI_CONTAINERID: cid, CNI_NETNS: lab.ns.path, CNI_IFNAME: "eth0" });

  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf()), "STATUS with a free address");
  t.equal(sb.invoke(PLUGIN, env("tcfb-hl-stale"), conf()).status, 0, "ADD takes the only address");
  const full = sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf());
  expectError(t, profile, full, 50, "STATUS with the range full");

  const gc = sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, conf({ "cni.dev/valid-attachments": [{ containerID: "tcfb-hl-keep", ifname: "eth0" }] }));
  expectQuietSuccess(t, gc, "GC");
  t.same(lab.leases(network), [], "GC released the lease of the attachment not named valid");
  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "STATUS" }, conf()), "STATUS after GC: an address is free again");
  const keep = sb.invoke(PLUGIN, env("tcfb-hl-keep"), conf());
  t.equal(keep.status, 0, "ADD of a valid attachment");
  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, conf({ "cni.dev/valid-attachments": [{ containerID: "tcfb-hl-keep", ifname: "eth0" }] })), "GC again");
  t.same(lab.leases(network), ["10.144.0.2"], "GC kept the valid attachment's lease");
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
