// ipvlan on this host, whose kernel may lack CONFIG_IPVLAN: ADD must then fail cleanly (code 50,
// nothing left behind). Config checks, DEL and STATUS need no ipvlan support. Traffic is tested in
// the VM (test/vm/ipvlan.test.ts).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { DIST_BIN, execPlugin, type Invocation, type Reply } from "../helpers/plugin-exec.ts";
import { inNs, ipJson, isRoot, makeNetns, sh } from "../helpers/netns.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const IPVLAN = join(DIST_BIN, "ipvlan");

interface Netns {
  name: string;
  path: string;
}

function lab(t: Test) {
  const host = makeNetns(t, "tiv-h");
  inNs(host.name, "ip", ["link", "add", "tiv-m0", "type", "veth", "peer", "name", "tiv-p0"]);
  inNs(host.name, "ip", ["link", "set", "tiv-m0", "up"]);
  const dataDir = t.testdir({});
  const network = (extra: Record<string, unknown> = {}) => ({
    cniVersion: "1.1.0",
    name: "tivnet",
    type: "ipvlan",
    master: "tiv-m0",
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.66.0.0/24" }]] },
    ...extra,
  });
  const run = (command: Invocation["command"], ctr: Netns, config: object): Reply =>
    execPlugin(IPVLAN, host.name, { command, containerId: ctr.name, netns: ctr.path, ifname: "eth0" }, config);
  const leases = (): string[] => {
    try {
      return readdirSync(join(dataDir, "tivnet")).filter((f) => /^[0-9.]+$/.test(f));
    } catch {
      return [];
    }
  };
  const hostLinks = () => names(host.name);
  return { host, network, run, leases, hostLinks, container: () => makeNetns(t, "tiv-c") };
}

const names = (ns: string): string[] =>
  ipJson<Array<{ ifname: string }>>(ns, ["link", "show"])
    .map((l) => l.ifname)
    .sort();

function kernelHasIpvlan(t: Test): boolean {
  const probe = makeNetns(t, "tiv-probe");
  inNs(probe.name, "ip", ["link", "add", "tiv-pm", "type", "veth", "peer", "name", "tiv-pp"]);
  sh("ip", ["-n", probe.name, "link", "add", "tiv-pi", "link", "tiv-pm", "type", "ipvlan"], { allowFail: true });
  return names(probe.name).includes("tiv-pi");
}

t.test("ADD on this kernel: a clean 'kernel lacks ipvlan support' error, or a working link", async (t) => {
  const { network, run, leases, hostLinks, container } = lab(t);
  const c1 = container();
  const before = hostLinks();
  const reply = run("ADD", c1, network());
  if (kernelHasIpvlan(t)) {
    t.comment("this kernel has ipvlan: ADD must work");
    t.equal(reply.status, 0, reply.stdout);
    t.equal(ipJson<Array<{ linkinfo?: { info_kind?: string } }>>(c1.name, ["-d", "link", "show", "eth0"])[0]?.linkinfo?.info_kind, "ipvlan");
    t.equal(run("DEL", c1, network()).status, 0);
  } else {
    t.equal(reply.status, 1, "ADD fails");
    t.match(reply.json, {
      code: 50,
      msg: "the kernel lacks ipvlan support",
      details: /failed to add ipvlan on master "tiv-m0": EOPNOTSUPP .*CONFIG_IPVLAN/,
    });
  }
  t.same(names(c1.name), ["lo"], "nothing left in the container");
  t.same(hostLinks(), before, "nothing left in the host netns");
  t.same(leases(), [], "no lease taken");
});

t.test("config errors are code 7, found before any link is made", async (t) => {
  const { network, run, container } = lab(t);
  const c1 = container();
  const expect = (config: object, msg: RegExp) => t.match(run("ADD", c1, config).json, { code: 7, msg }, String(msg));
  expect(network({ mode: "l4" }), /unknown ipvlan mode "l4"/);
  expect(network({ flag: "promisc" }), /unknown ipvlan flag "promisc"/);
  expect(network({ mtu: 9000 }), /invalid MTU 9000: must be at most the MTU of master "tiv-m0" \(1500\)/);
  expect(network({ master: "tiv-nope" }), /master "tiv-nope" not found in the host netns/);
  expect(network({ ipam: {} }), /ipvlan needs "ipam" or a prevResult with IP addresses/);
  const twoInterfaces = { cniVersion: "1.1.0", interfaces: [{ name: "a" }, { name: "b" }], ips: [{ address: "10.66.1.2/24" }] };
  const chained: Record<string, unknown> = network({ ipam: {}, prevResult: twoInterfaces });
  delete chained.master;
  expect(chained, /chained master failure: prevResult lacks a single named interface/);
  t.same(names(c1.name), ["lo"]);
});

t.test("DEL is idempotent and releases the lease without any link", async (t) => {
  const { host, network, run, leases, container } = lab(t);
  const c1 = container();
  // A lease as a half-done ADD would leave it, taken straight from host-local.
  const inv = { command: "ADD", containerId: c1.name, netns: c1.path, ifname: "eth0" } as const;
  t.equal(execPlugin(join(DIST_BIN, "host-local"), host.name, inv, network()).status, 0);
  t.same(leases(), ["10.66.0.2"]);
  t.equal(run("DEL", c1, network()).status, 0);
  t.equal(run("DEL", c1, network()).status, 0, "again");
  t.equal(run("DEL", { name: c1.name, path: "/run/netns/tiv-gone" }, network()).status, 0, "netns gone");
  t.same(leases(), []);
});

t.test("STATUS checks a configured master", async (t) => {
  const { network, run, container } = lab(t);
  const c1 = container();
  t.equal(run("STATUS", c1, network()).status, 0);
  t.match(run("STATUS", c1, network({ master: "tiv-nope" })).json, { code: 50, msg: 'master "tiv-nope" not found in the host netns' });
  const noMaster: Record<string, unknown> = network();
  delete noMaster.master;
  t.equal(run("STATUS", c1, noMaster).status, 0, "without master (may come from prevResult) nothing to check");
});
