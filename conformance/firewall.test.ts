// Conformance of `firewall`, chained after the bridge of the same directory (with host-local), as
// podman's conflists chain it, on a host netns with Docker's `iptables -P FORWARD DROP`
// (iptables-nft, inside the sandbox's host netns only): the container reaches an outside netns
// only with the firewall, CHECK passes after ADD and fails once its rule is deleted by hand, the
// firewall's DEL closes the traffic again and leaves no rule naming the container's address,
// same-bridge isolates two bridge networks, GC (1.1.0) drops the rules of attachments that are
// not valid, refused input is code 7.
import type { Test } from "tap";
import t from "tap";
import { addNetworkList, checkNetworkList, delNetworkList, type NetworkList, type RuntimeConf } from "../lib/runtime/index.ts";
import { inNs, sh } from "../test/helpers/netns.ts";
import {
  cniEnv,
  commentProfile,
  expectConfigError,
  expectDelWithoutNetns,
  expectError,
  expectOk,
  expectPluginFailure,
  expectQuietSuccess,
  expectSpec,
  expectUnsupportedAdd,
  hasCheck,
  hostLocalIpam,
  makeSandbox,
  networkList,
  pluginOrSkip,
  pluginsOrSkip,
  probe,
  requireEnvironment,
  type Netns,
  type Profile,
  type Sandbox,
} from "./harness.ts";

const PLUGIN = "firewall";
const OUTSIDE = "10.97.255.2";
const VERSIONS = ["0.4.0", "1.0.0", "1.1.0"] as const;

interface Lab {
  sb: Sandbox;
  profile: Profile;
  outside: Netns;
  network(name: string, n: number, version: string, firewall?: Record<string, unknown>): NetworkList;
}

/** A sandbox whose host netns drops forwarded traffic, with an "outside" netns routed through it. */
function makeLab(t: Test): Lab {
  const sb = makeSandbox(t);
  const outside = sb.container({ loUp: true });
  sh("ip", ["-n", sb.host.name, "link", "add", "tcf-fwup", "type", "veth", "peer", "name", "eth0", "netns", outside.name]);
  sh("ip", ["-n", sb.host.name, "addr", "add", "10.97.255.1/24", "dev", "tcf-fwup"]);
  sh("ip", ["-n", sb.host.name, "link", "set", "tcf-fwup", "up"]);
  sh("ip", ["-n", outside.name, "addr", "add", `${OUTSIDE}/24`, "dev", "eth0"]);
  sh("ip", ["-n", outside.name, "link", "set", "eth0", "up"]);
  sh("ip", ["-n", outside.name, "route", "add", "default", "via", "10.97.255.1"]);
  inNs(sb.host.name, "iptables", ["-P", "FORWARD", "DROP"]);
  const ipamDir = t.testdir({});
  return {
    sb,
    profile: probe(sb, PLUGIN),
    outside,
    network: (name, n, version, firewall = {}) =>
      networkList(name, version, [
        { type: "bridge", bridge: `tcf-fw${n}`, isGateway: true, isDefaultGateway: true, ipam: hostLocalIpam(ipamDir, `10.97.${n}.0/24`) },
        { type: PLUGIN, ...firewall },
      ]),
  };
}

const ping = (ns: Netns, ip: string, tries = 5): boolean => {
  for (let i = 0; i < tries; i++) if (inNs(ns.name, "ping", ["-c1", "-W1", ip], { allowFail: true }).includes(" 0% packet loss")) return true;
  return false;
};

interface ListedRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  expr: unknown[];
}

/** The rules of the host netns that name `address` (`nft -j list ruleset`), whoever made them. */
function rulesNaming(sb: Sandbox, address: string): ListedRule[] {
  const items = (JSON.parse(inNs(sb.host.name, "nft", ["-j", "list", "ruleset"])) as { nftables: Array<{ rule?: ListedRule }> }).nftables;
  return items.flatMap((i) => (i.rule && JSON.stringify(i.rule.expr).includes(`"${address}"`) ? [i.rule] : []));
}

const addressOf = (result: any): string => String(result?.ips?.[0]?.address ?? result?.ip4?.ip ?? "").split("/")[0]!;

async function main(t: Test): Promise<void> {
  const lab = makeLab(t);
  commentProfile(t, lab.profile);
  if (!pluginsOrSkip(t, "bridge", "host-local")) return;
  for (const version of VERSIONS) {
    await t.test(`bridge + firewall under FORWARD DROP: ADD, CHECK, DEL at ${version}`, async (t) => lifecycle(t, lab, version));
  }
  await t.test("ingressPolicy same-bridge isolates two bridge networks", async (t) => isolation(t, lab));
  await t.test("GC drops the rules of attachments that are not valid", async (t) => gc(t, lab));
  await t.test("refused input", async (t) => refused(t, lab));
}

function lifecycle(t: Test, lab: Lab, version: string): void {
  const { sb, profile } = lab;
  const list = lab.network(`tcf-fw-${version.replaceAll(".", "")}`, 1, version);
  const ctr = sb.container();
  const rt: RuntimeConf = { containerId: `tcf-fw-${version}`, netns: ctr.path, ifName: "eth0" };
  if (!profile.supports(version)) {
    expectUnsupportedAdd(t, sb, profile, list, rt, version);
    return;
  }
  const result = expectOk(t, `ADD at ${version}`, () => addNetworkList(sb.runtime, list, rt)) as Record<string, unknown> | undefined;
  if (!result) return;
  const address = addressOf(result);
  t.ok(ping(ctr, OUTSIDE), "container → outside flows past the FORWARD drop policy");
  t.notOk(ping(lab.outside, address, 1), "outside → container (a new connection) is still dropped");
  t.equal(sh("ip", ["netns", "exec", sb.host.name, "iptables", "-S"], { allowFail: true }) !== "", true, "iptables -S still lists the filter table");
  t.ok(rulesNaming(sb, address).length > 0, "rules name the container's address");

  if (hasCheck(version)) {
    expectOk(t, "CHECK right after ADD", () => checkNetworkList(sb.runtime, list, rt));
    const outgoing = rulesNaming(sb, address).find((r) => JSON.stringify(r.expr).includes('"saddr"'));
    if (t.ok(outgoing, "a rule accepts the container's outgoing traffic")) {
      inNs(sb.host.name, "nft", ["delete", "rule", outgoing!.family, outgoing!.table, outgoing!.chain, "handle", String(outgoing!.handle)]);
      const reply = expectPluginFailure(t, "CHECK after that rule was deleted by hand", () => checkNetworkList(sb.runtime, list, rt));
      if (reply) expectError(t, profile, reply, undefined, "CHECK with a rule missing");
      // The reference's ADD appends only what is missing (AppendUnique): a fresh ADD of the
      // firewall alone restores the rule for the rest of the test.
      const again = sb.invoke(PLUGIN, cniEnv("ADD", rt.containerId, ctr.path), { ...list.plugins[1], name: list.name, cniVersion: version, prevResult: result });
      t.equal(again.status, 0, `a repeated ADD of the firewall restores it: ${again.stdout}`);
      expectOk(t, "CHECK after that", () => checkNetworkList(sb.runtime, list, rt));
    }
  }

  const env = cniEnv("DEL", rt.containerId, ctr.path);
  const delConf = { ...list.plugins[1], name: list.name, cniVersion: version, prevResult: result };
  expectQuietSuccess(t, sb.invoke(PLUGIN, env, delConf), "the firewall's DEL");
  t.same(rulesNaming(sb, address), [], "no rule names the container's address any more");
  t.notOk(ping(ctr, OUTSIDE, 1), "container → outside is dropped again");
  expectQuietSuccess(t, sb.invoke(PLUGIN, env, delConf), "the firewall's DEL again");
  expectOk(t, "DEL of the whole list", () => delNetworkList(sb.runtime, list, rt));
  expectDelWithoutNetns(t, sb, list, rt, ctr);
}

function isolation(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const version = profile.supports("1.1.0") ? "1.1.0" : "1.0.0";
  const policy = { ingressPolicy: "same-bridge" };
  const netA = lab.network("tcf-fw-a", 2, version, policy);
  const netB = lab.network("tcf-fw-b", 3, version, policy);
  const attach = (list: NetworkList, id: string) => {
    const ctr = sb.container({ loUp: true });
    const rt: RuntimeConf = { containerId: id, netns: ctr.path, ifName: "eth0" };
    const result = expectOk(t, `ADD ${id}`, () => addNetworkList(sb.runtime, list, rt));
    return { ctr, rt, address: addressOf(result) };
  };
  const a1 = attach(netA, "tcf-fw-a1");
  const a2 = attach(netA, "tcf-fw-a2");
  const b1 = attach(netB, "tcf-fw-b1");
  t.ok(ping(a1.ctr, a2.address), "a1 → a2 on the same bridge");
  t.notOk(ping(a1.ctr, b1.address, 1), "a1 → b1 across isolated bridges is dropped");
  t.notOk(ping(b1.ctr, a1.address, 1), "b1 → a1 too");
  t.ok(ping(a1.ctr, OUTSIDE), "a1 → outside");
  t.ok(ping(b1.ctr, OUTSIDE), "b1 → outside");
  for (const [list, a] of [[netA, a1], [netA, a2], [netB, b1]] as const) expectOk(t, `DEL ${a.rt.containerId}`, () => delNetworkList(sb.runtime, list, a.rt));
  for (const a of [a1, a2, b1]) t.same(rulesNaming(sb, a.address), [], `no rule names ${a.address} after DEL`);
}

function gc(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  if (!profile.supports("1.1.0")) {
    expectSpec(t, profile, "no-1.1.0", false, "GC is supported");
    return;
  }
  const list = lab.network("tcf-fw-gc", 4, "1.1.0");
  const attached = ["tcf-fw-gc1", "tcf-fw-gc2"].map((id) => {
    const ctr = sb.container();
    const rt: RuntimeConf = { containerId: id, netns: ctr.path, ifName: "eth0" };
    return { ctr, rt, address: addressOf(expectOk(t, `ADD ${id}`, () => addNetworkList(sb.runtime, list, rt))) };
  });
  const [keep, stale] = attached as [(typeof attached)[0], (typeof attached)[0]];
  const conf = { ...list.plugins[1], name: list.name, cniVersion: "1.1.0", "cni.dev/valid-attachments": [{ containerID: keep.rt.containerId, ifname: "eth0" }] };
  expectQuietSuccess(t, sb.invoke(PLUGIN, { CNI_COMMAND: "GC" }, conf), "GC with one valid attachment");
  t.ok(rulesNaming(sb, keep.address).length > 0, "the valid attachment keeps its rules");
  t.same(rulesNaming(sb, stale.address), [], "the other loses them");
  t.ok(ping(keep.ctr, OUTSIDE), "the valid attachment's traffic flows");
  t.notOk(ping(stale.ctr, OUTSIDE, 1), "the stale one's is dropped");
  for (const a of attached) expectOk(t, `DEL ${a.rt.containerId}`, () => delNetworkList(sb.runtime, list, a.rt));
}

function refused(t: Test, lab: Lab): void {
  const { sb, profile } = lab;
  const ctr = sb.container();
  const env = cniEnv("ADD", "tcf-fw-bad", ctr.path);
  const base = { cniVersion: "1.0.0", name: "tcf-fw-bad", type: PLUGIN };
  const prevResult = { cniVersion: "1.0.0", interfaces: [{ name: "tcf-fw9" }, { name: "eth0", sandbox: ctr.path }], ips: [{ address: "10.97.9.2/24", interface: 1 }] };
  const before = inNs(sb.host.name, "nft", ["list", "ruleset"]);
  for (const [what, conf] of [
    ["ADD without prevResult", base],
    ["ADD with an unknown ingressPolicy", { ...base, prevResult, ingressPolicy: "nope" }],
  ] as const) {
    expectConfigError(t, profile, sb.invoke(PLUGIN, env, conf), what);
  }
  expectSpec(t, profile, "add-failure-keeps-changes", inNs(sb.host.name, "nft", ["list", "ruleset"]) === before, "nothing changed in the host's ruleset");
}

if (requireEnvironment(t) && pluginOrSkip(t, PLUGIN)) await main(t);
