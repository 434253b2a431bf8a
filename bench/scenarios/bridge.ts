import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addNetworkList, delNetworkList, parseNetworkList, type NetworkList, type RuntimeConf, type RuntimeOptions } from "../../lib/runtime/index.ts";
import type { BenchContext, Scenario, Side } from "../scenario.ts";
import { summarize } from "../stats.ts";

// bridge + host-local as a default network has it (gateway, default route, masquerade): each side
// its own bridge and subnet in the bench's host netns (ours: nftables; the reference 1.1.1:
// iptables-nft for ipMasq). Three scenarios: one pod ADD/DEL again and again; pods that
// accumulate up to --runs (ADD cost as leases and rules grow); and 100 pods added then deleted
// 8 at a time (wall time of each phase, duplicate IPs counted).

function network(ctx: BenchContext, side: Side, name: string, dataDir: string, octet: number): NetworkList {
  return parseNetworkList(
    JSON.stringify({
      cniVersion: ctx.cniVersion,
      name,
      plugins: [
        {
          type: "bridge",
          bridge: name.slice(0, 15),
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: true,
          ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `10.${octet}.0.0/16` }]] },
        },
      ],
    }),
  );
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** One pod ADD then DEL, again and again in one container netns. */
export const bridge: Scenario = {
  name: "bridge",
  description: "bridge + host-local (gateway, default route, ipMasq) ADD/DEL of one pod",
  plugins: ["bridge", "host-local"],
  steps: ["ADD", "DEL"],
  setup(ctx, side) {
    const dataDir = mkdtempSync(join(tmpdir(), "tbn-br-"));
    const name = `tbn-br-${side.name}`;
    const list = network(ctx, side, name, dataDir, side.name === "ours" ? 80 : 81);
    const ctr = ctx.netns(`br-${side.name}`);
    const attachment = (i: number): RuntimeConf => ({ containerId: `tbn-br-${i}`, netns: ctr.path, ifName: "eth0" });
    return {
      step(step, i) {
        if (step === "ADD") addNetworkList(side.runtime, list, attachment(i));
        else delNetworkList(side.runtime, list, attachment(i));
      },
      teardown() {
        execFileSync("ip", ["link", "del", name]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

/**
 * One more pod per iteration, none removed until the end: report() gives the medians of the first
 * and last 10 ADDs. It times the execs itself, so run it without warm-up or RSS runs:
 *   npm run bench -- --vs /usr/lib/cni --only bridge-scale --runs 250 --warmup 0 --rss-runs 0
 */
export const bridgeScale: Scenario = {
  name: "bridge-scale",
  description: "one more pod (bridge + host-local) per iteration, none removed: ADD cost as pods accumulate",
  plugins: ["bridge", "host-local"],
  steps: ["ADD"],
  setup(ctx, side) {
    const dataDir = mkdtempSync(join(tmpdir(), "tbn-brs-"));
    const name = `tbn-brs-${side.name}`;
    const list = network(ctx, side, name, dataDir, side.name === "ours" ? 82 : 83);
    const samples: number[] = [];
    const timed: RuntimeOptions = {
      ...side.runtime,
      exec: (request) => {
        const start = process.hrtime.bigint();
        const outcome = side.runtime.exec(request);
        samples.push(Number(process.hrtime.bigint() - start) / 1e6);
        return outcome;
      },
    };
    const pods: RuntimeConf[] = [];
    return {
      step(_step, i) {
        const rt: RuntimeConf = { containerId: `tbn-brs-${i}`, netns: ctx.netns(`brs-${side.name}-${i}`).path, ifName: "eth0" };
        addNetworkList(timed, list, rt);
        pods.push(rt);
      },
      report() {
        const first = summarize(samples.slice(0, 10))!.median;
        const last = summarize(samples.slice(-10))!.median;
        return { pods: samples.length, first10MedianMs: round(first), last10MedianMs: round(last), last10OverFirst10: round(last / first, 3) };
      },
      teardown() {
        for (const rt of pods.reverse()) {
          try {
            delNetworkList(side.runtime, list, rt);
          } catch {
            // the netns and the bridge go anyway
          }
        }
        execFileSync("ip", ["link", "del", name]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

const CONCURRENT_PODS = 100;
const CONCURRENCY = 8;

/**
 * 100 pods ADDed 8 at a time, then DELed 8 at a time (the bridge plugin exec'd directly, as a
 * runtime does for a one-plugin list), by bench/concurrent-pods.ts in a child process (the harness
 * steps are synchronous). One iteration is the whole experiment, so run it with
 * `--only bridge-concurrency --runs 1 --warmup 0 --rss-runs 0`; report() has the wall time of each
 * phase and the number of IPs handed out twice.
 */
export const bridgeConcurrency: Scenario = {
  name: "bridge-concurrency",
  description: `${CONCURRENT_PODS} pods added then deleted ${CONCURRENCY} at a time (bridge + host-local)`,
  plugins: ["bridge", "host-local"],
  steps: ["PODS"],
  setup(ctx, side) {
    const dataDir = mkdtempSync(join(tmpdir(), "tbn-brc-"));
    const name = `tbn-brc-${side.name}`;
    const conf = {
      cniVersion: ctx.cniVersion,
      name,
      type: "bridge",
      bridge: name.slice(0, 15),
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: true,
      ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `10.${side.name === "ours" ? 84 : 85}.0.0/16` }]] },
    };
    const netns = Array.from({ length: CONCURRENT_PODS }, (_, i) => ctx.netns(`brc-${side.name}-${i}`).path);
    let figures: Record<string, unknown> = {};
    return {
      step() {
        const request = JSON.stringify({ pluginDir: side.dir, plugin: "bridge", conf, netns, concurrency: CONCURRENCY });
        const driver = new URL("../concurrent-pods.ts", import.meta.url).pathname;
        figures = JSON.parse(execFileSync(process.execPath, ["--import", "tsx", driver], { input: request, encoding: "utf8" })) as Record<string, unknown>;
      },
      report: () => figures,
      teardown() {
        execFileSync("ip", ["link", "del", name]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};
