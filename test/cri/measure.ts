// Wall time of RunPodSandbox and of StopPodSandbox + RemovePodSandbox through containerd's CRI,
// with the Go reference plugins and with ours side by side in one run (two containerds, pods
// interleaved so drift hits both alike). Run by hand, as root:
//   node --import tsx test/cri/measure.ts [--pods 20]
// Pods are sandboxes without containers or host ports (the plugins' share of a typical pod start).
// Both use the same list: bridge → portmap, or bridge alone when a directory lacks portmap.
import { parseArgs } from "node:util";
import { Containerd } from "./containerd.ts";
import { missingPlugins, nodeConflist, pluginDirs } from "./conflist.ts";
import { podConfig } from "./pods.ts";

const { values } = parseArgs({ options: { pods: { type: "string", default: "20" } } });
const pods = Number(values.pods);
if (!Number.isInteger(pods) || pods < 10) throw new Error("--pods must be an integer >= 10");

const dirs = pluginDirs();
const portmap = dirs.every((d) => missingPlugins(d.binDir, ["portmap"]).length === 0);
const teardowns: (() => Promise<void> | void)[] = [];
const t = { teardown: (fn: () => Promise<void> | void) => void teardowns.unshift(fn) };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

try {
  const nodes = [];
  for (const [i, dir] of dirs.entries()) {
    const cd = await Containerd.start(t, {
      binDir: dir.binDir,
      prefix: "tcri",
      conflist: (dataDir) => nodeConflist({ name: "tcri-measure", bridge: "tcri0", subnet: `10.235.${i}.0/24`, dataDir, portmap }),
    });
    nodes.push({ ...dir, cd, run: [] as number[], teardown: [] as number[] });
  }
  // One pod each first, unmeasured: the first ADD creates the bridge (and the reference's chains).
  for (const n of nodes) {
    const id = await n.cd.client.runPodSandbox(podConfig(n.cd, { name: "warmup" }));
    await n.cd.client.stopPodSandbox(id);
    await n.cd.client.removePodSandbox(id);
  }
  for (let i = 0; i < pods; i++) {
    for (const n of nodes) {
      const config = podConfig(n.cd, { name: `pod-${i}` });
      let start = performance.now();
      const id = await n.cd.client.runPodSandbox(config);
      n.run.push(performance.now() - start);
      start = performance.now();
      await n.cd.client.stopPodSandbox(id);
      await n.cd.client.removePodSandbox(id);
      n.teardown.push(performance.now() - start);
    }
  }
  const version = await nodes[0]!.cd.client.version();
  console.log(`containerd ${version.runtimeVersion}, ${pods} pods each, list: bridge${portmap ? " → portmap" : " alone (a directory lacks portmap)"}`);
  console.log(`${"plugins".padEnd(40)} ${"RunPodSandbox median".padStart(22)} ${"Stop+Remove median".padStart(22)}`);
  for (const n of nodes) {
    console.log(`${`${n.label} (${n.binDir})`.padEnd(40)} ${fmt(median(n.run)).padStart(22)} ${fmt(median(n.teardown)).padStart(22)}`);
  }
} finally {
  for (const fn of teardowns) {
    try {
      await fn();
    } catch (e) {
      console.error((e as Error).message);
    }
  }
}
