// Conformance of `bridge` (with the host-local of the same directory as IPAM): ADD/CHECK/DEL at
// 0.3.1 and later with the result shape, the container's address and default route, the bridge's
// gateway address and the host end of the veth checked in the namespaces; traffic between two
// containers; DEL when things are already gone; an ADD failing in IPAM leaves no veth behind.
import { readdirSync } from "node:fs";
import t, { type Test } from "tap";
import { compareVersions } from "../lib/cni/version.ts";
import { inNs, ipJson, makeNetns } from "../test/helpers/netns.ts";
import {
  deleteNetns,
  expectError,
  expectOk,
  expectPluginFailure,
  expectSpec,
  expectSpecSame,
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

const PLUGIN = "bridge";
const VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

interface LinkJson {
  ifname: string;
  address: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}
interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
}

const links = (ns: string): LinkJson[] => ipJson<LinkJson[]>(ns, ["-d", "link", "show"]);
const containerLink = (ns: Netns): LinkJson | undefined => links(ns.name).find((l) => l.ifname === "eth0");
const ports = (sb: Sandbox, bridge: string): string[] => links(sb.host.name).filter((l) => l.master === bridge).map((l) => l.ifname);
const hasAddress = (ns: string, dev: string, cidr: string): boolean => inNs(ns, "ip", ["-o", "addr", "show", "dev", dev]).includes(` ${cidr} `);
const pings = (ns: Netns, ip: string): boolean => {
  try {
    inNs(ns.name, "ping", ["-c", "1", "-W", "1", ip]);
    return true;
  } catch {
    return false;
  }
};

interface Lab {
  sb: Sandbox;
  profile: Profile;
  container(): Netns;
  /** The bridge plugin config: bridge `bridge`, gateway and default route, host-local on `subnet`. */
  plugin(bridge: string, subnet: string): { type: string } & Record<string, unknown>;
  leases(network: string): string[];
}

function makeLab(t: Test): Lab {
  const sb = makeSandbox(t);
  const dataDir = t.testdir({});
  return {
    sb,
    profile: probe(sb, PLUGIN),
    container: () => makeNetns(t, "tcfb-c"),
    plugin: (bridge, subnet) => ({ type: PLUGIN, bridge, isGateway: true, isDefaultGateway: true, ipam: { type: "host-local", dataDir, ranges: [[{ subnet }]] } }),
    leases: (network) => {
      try {
        return readdirSync(`${dataDir}/${network}`).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
      } catch {
        return [];
      }
    },
  };
}

async function main(t: Test): Promise<void> {
  const lab = makeLab(t);
  t.comment(`${PLUGIN}: VERSION says ${JSON.stringify(lab.profile.version)}${lab.profile.isReference ? " (reference behaviour: its known deviations are named, not failed)" : ""}`);
  for (const [i, version] of VERSIONS.entries()) {
    await t.test(`ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, lab, version, i));
  }
  await t.test("two containers on the bridge ping each other", async (t) => traffic(t, lab));
  await t.test("ADD with the range exhausted fails and leaves no veth", async (t) => exhausted(t, lab));
}

function lifecycle(t: Test, lab: Lab, version: string, index: number): void {
  const { sb, profile } = lab;
  const tag = version.replaceAll(".", "");
  const network = `tcfb-br-${tag}`;
  const bridge = `tcfb-br${tag}`;
  const prefix = `10.131.${index}`;
  const ctr = lab.container();
  const list = networkList(network, version, [lab.plugin(bridge, `${prefix}.0/24`)]);
  const rt: RuntimeConf = { containerId: `tcfb-br-${version}`, netns: ctr.path, ifName: "eth0" };
  if (!profile.supports(version)) {
    const reply = expectPluginFailure(t, `ADD at unsupported ${version}`, () => addNetworkList(sb.runtime, list, rt));
    expectSpec(t, profile, "no-1.1.0", false, `ADD at ${version} succeeds`);
    if (reply) expectError(t, profile, reply, 1, `ADD at ${version}`);
    t.equal(containerLink(ctr), undefined, "no link made");
    return;
  }

  const result = expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  if (!result) return;
  const link = containerLink(ctr);
  const hostPorts = ports(sb, bridge);
  t.equal(result.cniVersion, version, "the result has the requested version");
  t.equal(result.interfaces?.length, 3, "three interfaces: bridge, host veth, container veth");
  t.match(
    result,
    {
      interfaces: [{ name: bridge }, { name: hostPorts[0] ?? "(no port)" }, { name: "eth0", mac: link?.address, sandbox: ctr.path }],
      ips: [{ address: `${prefix}.2/24`, gateway: `${prefix}.1`, interface: 2 }],
    },
    `${version} result shape`,
  );
  t.equal(link?.linkinfo?.info_kind, "veth", "eth0 in the container is a veth");
  t.ok(hasAddress(ctr.name, "eth0", `${prefix}.2/24`), "eth0 has the IPAM address");
  const defaults = ipJson<RouteJson[]>(ctr.name, ["route", "show", "default"]);
  t.match(defaults, [{ dst: "default", gateway: `${prefix}.1`, dev: "eth0" }], "a default route via the gateway");
  t.equal(hostPorts.length, 1, "one port on the bridge");
  t.ok(hasAddress(sb.host.name, bridge, `${prefix}.1/24`), "the bridge holds the gateway address");
  t.ok(pings(ctr, `${prefix}.1`), "the container reaches the gateway");
  t.same(lab.leases(network), [`${prefix}.2`], "one lease");

  if (compareVersions(version, "0.4.0") >= 0) {
    expectOk(t, "CHECK right after ADD", () => checkNetworkList(sb.runtime, list, rt));
    inNs(ctr.name, "ip", ["addr", "del", `${prefix}.2/24`, "dev", "eth0"]);
    const reply = expectPluginFailure(t, "CHECK without the address", () => checkNetworkList(sb.runtime, list, rt));
    if (reply) expectError(t, profile, reply, undefined, "CHECK without the address");
  } else {
    t.throws(() => checkNetworkList(sb.runtime, list, rt), RuntimeError, "the runtime does not CHECK below 0.4.0");
  }

  expectOk(t, "DEL", () => delNetworkList(sb.runtime, list, rt));
  t.equal(containerLink(ctr), undefined, "DEL removed eth0");
  t.same(ports(sb, bridge), [], "DEL removed the host end of the veth");
  t.same(lab.leases(network), [], "DEL released the lease");
  expectOk(t, "DEL again", () => delNetworkList(sb.runtime, list, rt));

  const again = expectOk(t, "ADD again", () => addNetworkList(sb.runtime, list, rt));
  if (!again) return;
  deleteNetns(ctr);
  expectOk(t, "DEL after the netns was deleted", () => delNetworkList(sb.runtime, list, rt));
  expectSpecSame(t, profile, "del-leaves-host-veth", ports(sb, bridge), [], "no port left on the bridge");
  t.same(lab.leases(network), [], "the lease is released");
}

function traffic(t: Test, lab: Lab): void {
  const { sb } = lab;
  const list = networkList("tcfb-br-ping", "1.0.0", [lab.plugin("tcfb-brping", "10.132.0.0/24")]);
  const [a, b] = [lab.container(), lab.container()];
  const added = [a, b].map((ctr) => expectOk(t, `ADD ${ctr.name}`, () => addNetworkList(sb.runtime, list, { containerId: ctr.name, netns: ctr.path, ifName: "eth0" })) as Record<string, any> | undefined);
  const [ipA, ipB] = added.map((r) => String(r?.ips?.[0]?.address ?? "").split("/")[0]);
  if (!ipA || !ipB) return;
  t.not(ipA, ipB, "different addresses");
  t.ok(pings(a, ipB!), `${a.name} pings ${ipB}`);
  t.ok(pings(b, ipA!), `${b.name} pings ${ipA}`);
  for (const [ctr, ip] of [[a, ipA], [b, ipB]] as const) {
    expectOk(t, `DEL ${ctr.name}`, () => delNetworkList(sb.runtime, list, { containerId: ctr.name, netns: ctr.path, ifName: "eth0" }));
    t.notOk(pings(ctr === a ? b : a, ip!), `${ip} is gone after DEL`);
  }
}

function exhausted(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  // A /30 has one address to give (.2; .1 is the gateway): the second ADD fails in IPAM.
  const bridge = "tcfb-brfull";
  const list = networkList("tcfb-br-full", "1.0.0", [lab.plugin(bridge, "10.133.0.0/30")]);
  const [first, second] = [lab.container(), lab.container()];
  const ok = expectOk(t, "ADD of the only address", () => addNetworkList(sb.runtime, list, { containerId: "tcfb-br-one", netns: first.path, ifName: "eth0" }));
  if (!ok) return;
  const before = ports(sb, bridge);
  const reply = expectPluginFailure(t, "ADD with the range exhausted", () => addNetworkList(sb.runtime, list, { containerId: "tcfb-br-two", netns: second.path, ifName: "eth0" }));
  if (reply) expectError(t, profile, reply, undefined, "ADD with the range exhausted");
  expectSpec(t, profile, "add-failure-leaks-link", containerLink(second) === undefined, "the failed ADD left no veth in the container", { links: links(second.name).map((l) => l.ifname) });
  expectSpec(t, profile, "add-failure-leaks-link", ports(sb, bridge).length === before.length, "nor a host end on the bridge", { before, after: ports(sb, bridge) });
  t.same(lab.leases("tcfb-br-full"), ["10.133.0.2"], "only the first container's lease");
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN) && pluginOrSkip(t, "host-local")) await main(t);
