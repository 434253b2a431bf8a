import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execInNetns } from "../../conformance/netns-exec.ts";
import { addNetworkList, delNetworkList, parseNetworkList, type NetworkList, type RuntimeConf, type RuntimeOptions } from "../../lib/runtime/index.ts";
import type { Scenario } from "../scenario.ts";

// vxlan ADD/DEL next to our bridge's, both with host-local, in the bench's host netns ("host A"),
// whose vxlan peer is a second netns ("host B") joined by a veth underlay (MTU 1500). After the
// timed runs, the report measures TCP throughput with iperf3 between two containers on A
// (same host, through the bridge) and from A to a container on B (across the overlay), plus
// A↔B on the underlay as the baseline, and counts fragments created on either host.

const VNI = 4242;
const IPERF_SECONDS = 5;

interface Throughput {
  gbitPerSecond: number;
  retransmits: number;
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const inNs = (ns: string | undefined, args: string[]): [string, string[]] => (ns ? ["ip", ["netns", "exec", ns, ...args]] : [args[0]!, args.slice(1)]);

/** iperf3 for IPERF_SECONDS from `clientNs` (undefined: here) to a one-off server in `serverNs`. */
function iperf(clientNs: string | undefined, serverNs: string, serverIp: string): Throughput {
  const server = spawn(...inNs(serverNs, ["iperf3", "-s", "-1", "-p", "5201"]), { stdio: "ignore" });
  try {
    for (let i = 0; i < 100 && !spawnSync(...inNs(serverNs, ["ss", "-ltnH", "sport = :5201"]), { encoding: "utf8" }).stdout.trim(); i++) sleep(50);
    const [cmd, args] = inNs(clientNs, ["iperf3", "-c", serverIp, "-p", "5201", "-t", String(IPERF_SECONDS), "-J"]);
    const out = JSON.parse(execFileSync(cmd, args, { encoding: "utf8" })) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    return { gbitPerSecond: Number((out.end.sum_received.bits_per_second / 1e9).toFixed(2)), retransmits: out.end.sum_sent.retransmits ?? 0 };
  } finally {
    server.kill();
  }
}

/** IPv4 fragments created in `ns` (or here) so far. */
function fragmentsCreated(ns?: string): number {
  const text = ns ? execFileSync("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"], { encoding: "utf8" }) : execFileSync("cat", ["/proc/net/snmp"], { encoding: "utf8" });
  const [names, values] = text.split("\n").filter((l) => l.startsWith("Ip:")).map((l) => l.split(/\s+/));
  return Number(values?.[names?.indexOf("FragCreates") ?? -1] ?? 0);
}

export const vxlan: Scenario = {
  name: "vxlan",
  description: "vxlan (routed, host-local) ADD/DEL next to bridge ADD/DEL; then iperf3 same-host, cross-host and underlay",
  plugins: ["vxlan", "bridge", "host-local"],
  steps: ["bridge ADD", "bridge DEL", "vxlan ADD", "vxlan DEL"],
  setup(ctx, side) {
    const hostB = ctx.netns(`vx-b-${side.name}`);
    const ul = `tbn-vx-${side.name}`;
    execFileSync("ip", ["link", "add", ul, "type", "veth", "peer", "name", "ul0", "netns", hostB.name]);
    execFileSync("ip", ["addr", "add", "10.201.0.1/24", "dev", ul]);
    execFileSync("ip", ["link", "set", ul, "up"]);
    execFileSync("ip", ["netns", "exec", hostB.name, "ip", "addr", "add", "10.201.0.2/24", "dev", "ul0"]);
    execFileSync("ip", ["netns", "exec", hostB.name, "ip", "link", "set", "ul0", "up"]);
    execFileSync("ip", ["netns", "exec", hostB.name, "ip", "link", "set", "lo", "up"]);
    const dataDir = mkdtempSync(join(tmpdir(), "tbn-vx-ipam-"));
    const vxlanConf = (host: "a" | "b", underlay: string) => {
      const n = host === "a" ? 1 : 2;
      return {
        type: "vxlan",
        vni: VNI,
        underlayInterface: underlay,
        subnet: `10.202.${n}.0/24`,
        peers: [1, 2].map((p) => ({ ip: `10.201.0.${p}`, subnet: `10.202.${p}.0/24` })),
        ipam: { type: "host-local", dataDir: join(dataDir, host), ranges: [[{ subnet: `10.202.${n}.0/24` }]] },
      };
    };
    const list = (name: string, plugin: object): NetworkList => parseNetworkList(JSON.stringify({ cniVersion: ctx.cniVersion, name, plugins: [plugin] }));
    const bridgeList = list(`tbn-br-${side.name}`, {
      type: "bridge",
      bridge: `tbn-br-${side.name}`,
      isGateway: true,
      ipam: { type: "host-local", dataDir: join(dataDir, "br"), ranges: [[{ subnet: "10.203.0.0/24" }]] },
    });
    const vxlanA = list(`tbn-vx-${side.name}`, vxlanConf("a", ul));
    const vxlanB = list(`tbn-vx-${side.name}`, vxlanConf("b", "ul0"));
    const brCtr = ctx.netns(`vx-br-${side.name}`);
    const vxCtr = ctx.netns(`vx-ctr-${side.name}`);
    const attachment = (ns: { path: string }, id: string): RuntimeConf => ({ containerId: id, netns: ns.path, ifName: "eth0" });
    const onB: RuntimeOptions = { ...side.runtime, exec: execInNetns(hostB.name) };

    return {
      step(name, iteration) {
        if (name === "bridge ADD") addNetworkList(side.runtime, bridgeList, attachment(brCtr, `tbn-br-${iteration}`));
        else if (name === "bridge DEL") delNetworkList(side.runtime, bridgeList, attachment(brCtr, `tbn-br-${iteration}`));
        else if (name === "vxlan ADD") addNetworkList(side.runtime, vxlanA, attachment(vxCtr, `tbn-vx-${iteration}`));
        else delNetworkList(side.runtime, vxlanA, attachment(vxCtr, `tbn-vx-${iteration}`));
      },
      report() {
        const ctr = (label: string) => ctx.netns(`vx-tp-${label}-${side.name}`);
        const [a1, a2, b1] = [ctr("a1"), ctr("a2"), ctr("b1")];
        const ipOf = (result: unknown) => ((result as { ips: Array<{ address: string }> }).ips[0]!.address.split("/")[0]!);
        addNetworkList(side.runtime, vxlanA, attachment(a1, "tbn-tp-a1"));
        const ipA2 = ipOf(addNetworkList(side.runtime, vxlanA, attachment(a2, "tbn-tp-a2")));
        const ipB1 = ipOf(addNetworkList(onB, vxlanB, attachment(b1, "tbn-tp-b1")));
        const mtu = Number(execFileSync("ip", ["netns", "exec", a1.name, "cat", "/sys/class/net/eth0/mtu"], { encoding: "utf8" }));
        const fragsBefore = fragmentsCreated() + fragmentsCreated(hostB.name);
        const underlay = iperf(undefined, hostB.name, "10.201.0.2");
        const sameHost = iperf(a1.name, a2.name, ipA2);
        const crossHost = iperf(a1.name, b1.name, ipB1);
        const fragments = fragmentsCreated() + fragmentsCreated(hostB.name) - fragsBefore;
        return {
          containerMtu: mtu,
          iperfSeconds: IPERF_SECONDS,
          underlay,
          sameHost,
          crossHost,
          crossHostOfUnderlay: Number((crossHost.gbitPerSecond / underlay.gbitPerSecond).toFixed(3)),
          underlayFragmentsCreated: fragments,
        };
      },
      teardown() {
        execFileSync("ip", ["link", "del", ul]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};
