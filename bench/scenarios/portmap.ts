import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { addNetworkList, delNetworkList, parseNetworkList, type NetworkList, type RuntimeConf, type RuntimeOptions } from "../../lib/runtime/index.ts";
import type { BenchContext, Scenario, Side } from "../scenario.ts";
import { summarize } from "../stats.ts";

// A whole pod as a runtime makes it: bridge (with host-local) then portmap with two mappings
// (tcp and udp, as `-p 8080:80 -p 5353:53/udp`), through lib/runtime. Each side has its own
// bridge, subnet and host ports in the bench's host netns (ours: nftables; the reference 1.1.1:
// iptables-nft there).

interface Pod {
  list: NetworkList;
  mappings: (n: number) => object[];
}

function podConfig(ctx: BenchContext, side: Side, name: string, dataDir: string, octet: number): Pod {
  const list = parseNetworkList(
    JSON.stringify({
      cniVersion: ctx.cniVersion,
      name,
      plugins: [
        { type: "bridge", bridge: name.slice(0, 15), isGateway: true, isDefaultGateway: true, hairpinMode: true, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `10.${octet}.0.0/16` }]] } },
        { type: "portmap", capabilities: { portMappings: true }, dataDir: join(dataDir, "portmap") },
      ],
    }),
  );
  // The sides use different host ports: both rule sets live in the same host netns.
  const base = side.name === "ours" ? 20000 : 40000;
  return {
    list,
    mappings: (n) => [
      { hostPort: base + 2 * n, containerPort: 80, protocol: "tcp" },
      { hostPort: base + 2 * n + 1, containerPort: 53, protocol: "udp" },
    ],
  };
}

/** ADD and DEL of one pod, again and again in one container netns. */
export const portmap: Scenario = {
  name: "portmap",
  description: "bridge + host-local + portmap (tcp and udp mapping) ADD/DEL of one pod",
  plugins: ["bridge", "host-local", "portmap"],
  steps: ["ADD", "DEL"],
  setup(ctx, side) {
    const dataDir = mkdtempSync(join(tmpdir(), "tbn-pm-"));
    const pod = podConfig(ctx, side, `tbn-pm-${side.name}`, dataDir, side.name === "ours" ? 70 : 71);
    const ctr = ctx.netns(`pm-${side.name}`);
    const attachment = (i: number): RuntimeConf => ({ containerId: `tbn-pm-${i}`, netns: ctr.path, ifName: "eth0", capabilityArgs: { portMappings: pod.mappings(0) } });
    return {
      step(name, i) {
        if (name === "ADD") addNetworkList(side.runtime, pod.list, attachment(i));
        else delNetworkList(side.runtime, pod.list, attachment(i));
      },
      teardown() {
        execFileSync("ip", ["link", "del", `tbn-pm-${side.name}`]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

/**
 * Pods that stay: every iteration ADDs one more pod (own netns, two mappings of its own), none is
 * DELed until the end, so the last ADDs run against hundreds of mappings. report() gives the
 * medians of the first 10 and the last 10 ADDs (portmap alone and the whole pod): with rules that
 * grow per pod the ratio climbs, with map elements it stays near 1. The scenario times the execs
 * itself (wrapping the bench's timed exec), so run it without warm-up or RSS runs, which would
 * count as the first pods:
 *   npm run bench -- --vs /usr/lib/cni --only portmap-scale --runs 250 --warmup 0 --rss-runs 0
 */
export const portmapScale: Scenario = {
  name: "portmap-scale",
  description: "one more pod (bridge + portmap, 2 mappings) per iteration, none removed: ADD cost as pods accumulate",
  plugins: ["bridge", "host-local", "portmap"],
  steps: ["ADD"],
  setup(ctx, side) {
    const dataDir = mkdtempSync(join(tmpdir(), "tbn-pms-"));
    const pod = podConfig(ctx, side, `tbn-pms-${side.name}`, dataDir, side.name === "ours" ? 72 : 73);
    const samples: { portmapMs: number[]; podMs: number[] } = { portmapMs: [], podMs: [] };
    let podMs = 0;
    const timed: RuntimeOptions = {
      ...side.runtime,
      exec: (request) => {
        const start = process.hrtime.bigint();
        const outcome = side.runtime.exec(request);
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        podMs += ms;
        if (basename(request.path) === "portmap") samples.portmapMs.push(ms);
        return outcome;
      },
    };
    const pods: RuntimeConf[] = [];
    return {
      step(_name, i) {
        const ctr = ctx.netns(`pms-${side.name}-${i}`);
        const rt: RuntimeConf = { containerId: `tbn-pms-${i}`, netns: ctr.path, ifName: "eth0", capabilityArgs: { portMappings: pod.mappings(i) } };
        podMs = 0;
        addNetworkList(timed, pod.list, rt);
        samples.podMs.push(podMs);
        pods.push(rt);
      },
      report() {
        const growth = (xs: number[]) => {
          const first = summarize(xs.slice(0, 10))!.median;
          const last = summarize(xs.slice(-10))!.median;
          return { first10MedianMs: round(first), last10MedianMs: round(last), last10OverFirst10: round(last / first, 3) };
        };
        return { pods: samples.podMs.length, mappingsPerPod: 2, portmapAdd: growth(samples.portmapMs), wholePodAdd: growth(samples.podMs) };
      },
      teardown() {
        for (const rt of pods.reverse()) {
          try {
            delNetworkList(side.runtime, pod.list, rt);
          } catch {
            // the netns and the bridge go anyway
          }
        }
        execFileSync("ip", ["link", "del", `tbn-pms-${side.name}`]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
