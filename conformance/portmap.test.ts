// Conformance of `portmap`, chained after the bridge (with host-local) of the same directory, as
// libcni runs a conflist with the `portMappings` capability: the result passed through, real
// traffic to the mapped ports (from an outside netns, from the host, via 127.0.0.1, restricted by
// hostIP, hairpin, IPv6), CHECK, DEL at every version, and what a runtime relies on besides:
// DEL without portMappings, a host port already taken, stale UDP conntrack entries, bad input.
// Plugin-agnostic: the reference (iptables) and ours (nftables) are judged by their traffic. Every
// mapping names its protocol, as runtimes send them (the reference cannot do without).
import t, { type Test } from "tap";
import { compareVersions } from "../lib/cni/version.ts";
import { inNs } from "../test/helpers/netns.ts";
import { HOST_IP, HOST_IP6, HOST_IP_B, makeLab, OUTSIDE_IP, tcp, udp } from "../test/helpers/portmap-lab.ts";
import { cniDir, expectOk, expectPluginFailure, expectSpec, makeSandbox, pluginOrSkip, probe, requireEnvironment, type Profile } from "./harness.ts";
import { checkNetworkList, delNetworkList, execPlugin, type ExecOutcome } from "../lib/runtime/index.ts";
import { join } from "node:path";

const PLUGIN = "portmap";
// portmap is a chained plugin: it needs prevResult, which exists from 0.3.0 on.
const VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
const server = (reply: string): string => reply.split(" ")[0] ?? "";

async function main(t: Test): Promise<void> {
  if (!requireEnvironment(t)) return;
  if (!pluginOrSkip(t, PLUGIN) || !pluginOrSkip(t, "bridge") || !pluginOrSkip(t, "host-local")) return;
  const profile = probe(makeSandbox(t), PLUGIN);
  t.comment(`${PLUGIN}: VERSION says ${JSON.stringify(profile.version)}${profile.isReference ? " (reference behaviour: its known deviations are named, not failed)" : ""}`);
  for (const version of VERSIONS) {
    await t.test(`bridge + portmap at ${version}: result, traffic, CHECK, DEL`, async (t) => lifecycle(t, profile, version));
  }
  const version = profile.supports("1.1.0") ? "1.1.0" : "1.0.0";
  await t.test("hostIP and IPv6", async (t) => hostIpAndV6(t, version));
  await t.test("DEL without portMappings removes the mappings", async (t) => delWithoutMappings(t, profile, version));
  await t.test("a host port another container maps is refused", async (t) => duplicate(t, profile, version));
  await t.test("stale UDP conntrack entries go on ADD and on DEL", async (t) => conntrack(t, profile, version));
  await t.test("bad input is refused with code 7", async (t) => badInput(t, profile, version));
}

const lab = (t: Test, prefix: string) => makeLab(t, prefix, { bin: cniDir });

async function lifecycle(t: Test, profile: Profile, version: string): Promise<void> {
  const l = lab(t, `tcf-pm${version.replaceAll(".", "")}`);
  const list = l.list({}, { cniVersion: version });
  if (!profile.supports(version)) {
    expectPluginFailure(t, `ADD at unsupported ${version}`, () => l.pod("a", [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], { list }));
    expectSpec(t, profile, "no-1.1.0", false, `ADD at ${version} succeeds`);
    return;
  }
  const pod = expectOk(t, `ADD at ${version}`, () => l.pod("a", [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], { list }));
  if (!pod) return;
  t.ok(pod.ip?.startsWith("10.62.0."), `the result carries the bridge's address (${pod.ip}): prevResult passed through`);
  l.serve(pod, 80, "pod");
  t.same(tcp(l.outside, HOST_IP, 8080).split(" "), ["pod", OUTSIDE_IP], "outside → host:8080 reaches the pod, client address kept");
  t.equal(server(tcp(l.host, HOST_IP, 8080)), "pod", "the host → its own address:8080");
  t.equal(server(tcp(l.host, "127.0.0.1", 8080)), "pod", "the host → 127.0.0.1:8080");
  t.equal(server(tcp(pod.ns, HOST_IP, 8080)), "pod", "hairpin: the pod → host:8080 → itself");
  if (compareVersions(version, "0.4.0") >= 0) {
    let failure: string | undefined;
    try {
      checkNetworkList(l.runtime, list, pod.rt);
    } catch (e) {
      failure = (e as Error).message;
    }
    expectSpec(t, profile, "portmap-check-both-families", failure === undefined, "CHECK passes after ADD", { failure });
  }
  expectOk(t, "DEL", () => l.del(pod));
  t.equal(tcp(l.outside, HOST_IP, 8080, 1), "", "after DEL host:8080 reaches nothing");
  t.equal(tcp(l.host, "127.0.0.1", 8080, 1), "", "nor 127.0.0.1:8080");
  expectOk(t, "DEL again", () => delNetworkList(l.runtime, list, pod.rt));
}

async function hostIpAndV6(t: Test, version: string): Promise<void> {
  const l = lab(t, "tcf-pmh");
  const list = l.list({}, { dualStack: true, cniVersion: version });
  const pod = expectOk(t, "ADD", () => l.pod("h", [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: HOST_IP_B }, { hostPort: 9090, containerPort: 80, protocol: "tcp" }], { list }));
  if (!pod) return;
  l.serve(pod, 80, "pod", { v6: true });
  t.equal(server(tcp(l.outside, HOST_IP_B, 8080)), "pod", `${HOST_IP_B}:8080 (the hostIP) reaches the pod`);
  t.equal(tcp(l.outside, HOST_IP, 8080, 1), "", `${HOST_IP}:8080 does not`);
  t.equal(server(tcp(l.outside, HOST_IP6, 9090)), "pod", `[${HOST_IP6}]:9090 reaches the pod over IPv6`);
}

async function delWithoutMappings(t: Test, profile: Profile, version: string): Promise<void> {
  const l = lab(t, "tcf-pmd");
  const list = l.list({}, { cniVersion: version });
  const mappings = [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }];
  const a = expectOk(t, "ADD", () => l.pod("a", mappings, { list }));
  if (!a) return;
  expectOk(t, "DEL without runtimeConfig.portMappings", () => l.del(a, { mappings: null }));
  // The old pod's interface is gone with the bridge's DEL; whether its mapping went too shows when
  // a new pod maps the same port.
  const b = expectOk(t, "ADD of a new pod with the same mapping", () => l.pod("b", mappings, { list }));
  if (!b) return;
  l.serve(b, 80, "new");
  expectSpec(t, profile, "portmap-del-needs-mappings", server(tcp(l.outside, HOST_IP, 8080)) === "new", "host:8080 reaches the new pod");
}

async function duplicate(t: Test, profile: Profile, version: string): Promise<void> {
  const l = lab(t, "tcf-pmu");
  const list = l.list({}, { cniVersion: version });
  const a = expectOk(t, "ADD of the first pod", () => l.pod("a", [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], { list }));
  if (!a) return;
  l.serve(a, 80, "first");
  const { pod: b, error } = l.attempt("b", [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], { list });
  const code = (error as { code?: number } | undefined)?.code;
  expectSpec(t, profile, "portmap-duplicate-host-port", code === 7, "ADD of a second pod mapping the same host port fails with code 7", { error: error?.message });
  l.serve(b, 80, "second");
  t.equal(server(tcp(l.outside, HOST_IP, 8080)), "first", "the port still reaches the first pod");
}

async function conntrack(t: Test, profile: Profile, version: string): Promise<void> {
  const l = lab(t, "tcf-pmc");
  const list = l.list({}, { cniVersion: version });
  const mappings = [{ hostPort: 5353, containerPort: 53, protocol: "udp" }];
  const a = expectOk(t, "ADD", () => l.pod("a", mappings, { list }));
  if (!a) return;
  l.serve(a, 53, "a", { udp: true });
  t.equal(server(udp(l.outside, HOST_IP, 5353, 40000)), "a", "a steady client (source port 40000) reaches pod a");
  expectOk(t, "DEL", () => l.del(a));
  const flows = () => inNs(l.host, "conntrack", ["-L", "-p", "udp", "--orig-port-dst", "5353"], { allowFail: true }).split("\n").filter((x) => x.startsWith("udp"));
  expectSpec(t, profile, "portmap-del-keeps-conntrack", flows().length === 0, "DEL deletes the flows to the old pod");
  t.equal(udp(l.outside, HOST_IP, 5353, 40000), "", "no pod: no answer (the flow is now un-NATed)");
  const b = expectOk(t, "ADD of a new pod", () => l.pod("b", mappings, { list }));
  if (!b) return;
  l.serve(b, 53, "b", { udp: true });
  t.equal(server(udp(l.outside, HOST_IP, 5353, 40000)), "b", "the same client flow reaches the new pod at once");
}

async function badInput(t: Test, profile: Profile, version: string): Promise<void> {
  const l = lab(t, "tcf-pmb");
  // The outside netns stands in for the container's: portmap only needs it to exist.
  const run = (conf: object): ExecOutcome =>
    execPlugin(l.runtime, join(cniDir, PLUGIN), { CNI_COMMAND: "ADD", CNI_CONTAINERID: "tcf-pmb", CNI_NETNS: `/run/netns/${l.outside}`, CNI_IFNAME: "eth0", CNI_PATH: cniDir }, JSON.stringify({ cniVersion: version, name: "tcf-pmb", type: PLUGIN, ...conf }));
  const prevResult = { cniVersion: version, interfaces: [{ name: "eth0", sandbox: `/run/netns/${l.outside}` }], ips: [{ address: "10.62.0.5/24", interface: 0 }] };
  const cases: [string, object][] = [
    ["no prevResult", { runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] } }],
    ["host port 0", { prevResult, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80, protocol: "tcp" }] } }],
    ["container port -1", { prevResult, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: -1, protocol: "tcp" }] } }],
  ];
  for (const [what, conf] of cases) {
    const out = run(conf);
    t.not(out.status, 0, `${what}: ADD fails`);
    const json = JSON.parse(out.stdout.toString() || "{}") as { code?: number; msg?: string };
    t.ok(json.msg, `${what}: ${json.msg}`);
    expectSpec(t, profile, "config-error-999", json.code === 7, `${what}: code 7`, { code: json.code });
  }
  t.equal(tcp(l.host, "127.0.0.1", 8080, 1), "", "nothing was mapped");
}

void main(t);
