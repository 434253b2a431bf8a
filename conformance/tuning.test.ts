// Conformance of `tuning`, chained after the bridge of the same directory (with host-local), as
// podman's conflists chain it: ADD/CHECK/DEL at every spec version with the interface attributes
// and sysctls checked in the container, the result passing the new MAC on, DEL restoring the
// attributes of an interface that outlives it, refused input changing nothing, and an ADD that
// fails halfway leaving nothing changed.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { inNs, ipJson } from "../test/helpers/netns.ts";
import {
  ALL_VERSIONS,
  cniEnv,
  commentProfile,
  expectCheckCatches,
  expectConfigError,
  expectError,
  expectNoCheck,
  expectOk,
  expectRepeatedDel,
  expectSpec,
  expectUnsupportedAdd,
  hasCheck,
  hostLocalIpam,
  isLegacy,
  makeSandbox,
  pluginOrSkip,
  pluginsOrSkip,
  probe,
  requireEnvironment,
  versionAttachment,
  type Netns,
  type Profile,
  type Sandbox,
} from "./harness.ts";
import { addNetworkList } from "../lib/runtime/index.ts";

const PLUGIN = "tuning";

// Keys every implementation since the reference 1.1.1 knows; IFNAME-free, because the reference's
// CHECK before v1.3.0 does not replace it.
const TUNED = {
  mac: "c2:11:22:33:44:57",
  mtu: 1420,
  promisc: true,
  allmulti: true,
  sysctl: { "net.core.somaxconn": "321", "net.ipv4.conf.all.arp_ignore": "1" },
};

interface LinkJson {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
}

const linkOf = (ns: Netns, ifname = "eth0"): LinkJson | undefined => ipJson<LinkJson[]>(ns.name, ["link", "show"]).find((l) => l.ifname === ifname);
const attributes = (ns: Netns, ifname = "eth0") => {
  const l = linkOf(ns, ifname);
  return l && { address: l.address, mtu: l.mtu, promisc: l.flags.includes("PROMISC"), allmulti: l.flags.includes("ALLMULTI") };
};
const sysctl = (ns: Netns, path: string): string => inNs(ns.name, "cat", [`/proc/sys/${path}`]).trim();

interface Lab {
  sb: Sandbox;
  profile: Profile;
  /** The tuning plugin's dataDir (its saved originals). */
  dataDir: string;
  bridge(subnet: string): { type: string } & Record<string, unknown>;
  tuning(extra?: Record<string, unknown>): { type: string } & Record<string, unknown>;
  saved(): string[];
  /** A container netns with a veth `eth0` whose peer is in the host netns (for tuning alone). */
  vethContainer(): Netns;
}

function makeLab(t: Test): Lab {
  const sb = makeSandbox(t);
  const dir = t.testdir({});
  const dataDir = join(dir, "tuning");
  const ipamDir = join(dir, "ipam");
  let peers = 0;
  return {
    sb,
    profile: probe(sb, PLUGIN),
    dataDir,
    bridge: (subnet) => ({ type: "bridge", bridge: "tcf-tu0", isGateway: true, ipam: hostLocalIpam(ipamDir, subnet) }),
    tuning: (extra = {}) => ({ type: PLUGIN, dataDir, ...TUNED, ...extra }),
    saved: () => (existsSync(dataDir) ? readdirSync(dataDir) : []),
    vethContainer: () => {
      const ctr = sb.container();
      const peer = `tcf-tp${peers++}`;
      inNs(sb.host.name, "ip", ["link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", ctr.name]);
      inNs(ctr.name, "ip", ["link", "set", "eth0", "up"]);
      return ctr;
    },
  };
}

async function main(t: Test): Promise<void> {
  const lab = makeLab(t);
  commentProfile(t, lab.profile);
  if (!pluginsOrSkip(t, "bridge", "host-local")) return;
  for (const version of ALL_VERSIONS) {
    await t.test(`bridge + tuning: ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, lab, version));
  }
  await t.test("DEL restores the attributes of an interface that outlives it", async (t) => restores(t, lab));
  await t.test("refused input changes nothing", async (t) => refused(t, lab));
  await t.test("an ADD that fails halfway leaves nothing changed", async (t) => halfway(t, lab));
}

function lifecycle(t: Test, lab: Lab, version: string): void {
  const { sb, profile } = lab;
  const { ctr, list, rt } = versionAttachment(sb, "tcf-tu", version, [lab.bridge("10.94.0.0/24"), lab.tuning()]);
  if (!profile.supports(version)) {
    expectUnsupportedAdd(t, sb, profile, list, rt, version);
    return;
  }

  const result = expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt)) as Record<string, any> | undefined;
  if (!result) return;
  t.same(attributes(ctr), { address: TUNED.mac, mtu: 1420, promisc: true, allmulti: true }, "eth0 has the MAC, MTU, promisc and allmulti");
  t.equal(sysctl(ctr, "net/core/somaxconn"), "321", "net.core.somaxconn is set in the container");
  t.equal(sysctl(ctr, "net/ipv4/conf/all/arp_ignore"), "1", "net.ipv4.conf.all.arp_ignore too");
  t.equal(result.cniVersion, version);
  if (isLegacy(version)) {
    t.match(result, { ip4: { ip: "10.94.0.2/24" } }, `${version} result shape`);
  } else {
    const iface = (result.interfaces as Array<{ name: string; mac?: string; sandbox?: string }>).find((i) => i.sandbox === ctr.path);
    t.match(iface, { name: "eth0", mac: TUNED.mac }, "the result carries the new MAC of the container interface");
  }

  if (hasCheck(version)) {
    const make = () => void inNs(ctr.name, "ip", ["link", "set", "eth0", "mtu", "1500"]);
    expectCheckCatches(t, sb, profile, list, rt, { what: "CHECK with the MTU changed behind its back", error: "CHECK with the MTU changed", make });
  } else {
    expectNoCheck(t, sb, list, rt);
  }

  expectRepeatedDel(t, sb, list, rt, ctr, () => {
    t.equal(linkOf(ctr), undefined, "the bridge's DEL removed eth0");
    t.same(lab.saved(), [], "tuning kept nothing saved");
  });
}

/** A tuning request on a container made by vethContainer, with the prevResult an interface plugin would pass. */
function tuningRequest(lab: Lab, ctr: Netns, command: string, extra: Record<string, unknown> = {}) {
  const env = cniEnv(command, ctr.name, ctr.path);
  const prevResult = { cniVersion: "1.0.0", interfaces: [{ name: "eth0", mac: linkOf(ctr)?.address, sandbox: ctr.path }], ips: [{ address: "10.95.0.2/24", interface: 0 }] };
  return lab.sb.invoke(PLUGIN, env, { cniVersion: "1.0.0", name: "tcf-tu-direct", prevResult, ...lab.tuning(extra) });
}

function restores(t: Test, lab: Lab): void {
  const ctr = lab.vethContainer();
  const before = attributes(ctr);
  const added = tuningRequest(lab, ctr, "ADD");
  t.equal(added.status, 0, `ADD: ${added.stdout}`);
  t.same(attributes(ctr), { address: TUNED.mac, mtu: 1420, promisc: true, allmulti: true }, "tuned");
  const del = tuningRequest(lab, ctr, "DEL");
  t.equal(del.status, 0, `DEL: ${del.stdout}`);
  t.same(attributes(ctr), before, "DEL restored MAC, MTU, promisc and allmulti");
  t.same(lab.saved(), [], "and dropped what it saved");
  t.equal(tuningRequest(lab, ctr, "DEL").status, 0, "DEL again");
}

function refused(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = lab.vethContainer();
  const before = { link: attributes(ctr), somaxconn: sysctl(ctr, "net/core/somaxconn") };
  const noPrev = sb.invoke(PLUGIN, cniEnv("ADD", ctr.name, ctr.path), { cniVersion: "1.0.0", name: "tcf-tu-bad", ...lab.tuning() });
  expectConfigError(t, profile, noPrev, "ADD without prevResult");
  for (const key of ["kernel.hostname", "net/../kernel/hostname"]) {
    expectConfigError(t, profile, tuningRequest(lab, ctr, "ADD", { sysctl: { [key]: "tcf" } }), `ADD with sysctl "${key}"`);
  }
  t.same({ link: attributes(ctr), somaxconn: sysctl(ctr, "net/core/somaxconn") }, before, "nothing changed in the container");
  t.same(lab.saved(), [], "nothing saved");
}

function halfway(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  // An ifb device refuses a MAC change while it is up: the sysctl is written by then.
  try {
    inNs(ctr.name, "ip", ["link", "add", "eth0", "type", "ifb"]);
  } catch {
    t.pass("no ifb support in this kernel: nothing to fail halfway on", { skip: "no ifb" });
    return;
  }
  inNs(ctr.name, "ip", ["link", "set", "eth0", "up"]);
  const before = { link: attributes(ctr), somaxconn: sysctl(ctr, "net/core/somaxconn") };
  const reply = tuningRequest(lab, ctr, "ADD", { sysctl: { "net.core.somaxconn": "123" } });
  expectError(t, profile, reply, undefined, "ADD that fails on the MAC");
  t.same(attributes(ctr), before.link, "the interface is as before");
  expectSpec(t, profile, "add-failure-keeps-changes", sysctl(ctr, "net/core/somaxconn") === before.somaxconn, "the sysctl it had written is restored");
  expectOk(t, "the runtime's DEL after the failed ADD", () => {
    const del = tuningRequest(lab, ctr, "DEL");
    if (del.status !== 0) throw new Error(del.stdout);
  });
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
