// --startup: where the time of one invocation of our binary goes. From the exec floor up: a
// dynamic C binary, an empty Bun executable (Bun's own start), our binary loading its entry and
// refusing an unknown name, the CLI (`tscni --version`), the loopback about text, VERSION, then real ADD/DEL work.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { summarize, type Summary } from "./stats.ts";
import { peakRssKiB, timedSpawn, type Timed } from "./spawn.ts";

export interface Probe {
  label: string;
  path: string;
  args?: string[];
  env: Record<string, string>;
  stdin: string;
  /** Exit statuses that count as the expected outcome. */
  ok: number[];
}

export interface ProbeResult {
  label: string;
  path: string;
  wallMs: Summary;
  cpuMs: Summary;
  rssMiB: Summary | undefined;
}

/** An empty program compiled like our binary (same Bun, same flags), built once into `cacheDir`. */
export function emptyBunExecutable(cacheDir: string): string {
  const bunDir = dirname(createRequire(import.meta.url).resolve("@oven/bun-linux-x64/package.json"));
  const version = (createRequire(import.meta.url)("@oven/bun-linux-x64/package.json") as { version: string }).version;
  const out = join(cacheDir, `bun-empty-${version}`);
  if (existsSync(out)) return out;
  mkdirSync(cacheDir, { recursive: true });
  const source = join(cacheDir, "empty.ts");
  writeFileSync(source, "export {};\n");
  execFileSync(
    join(bunDir, "bin", "bun"),
    ["build", "--compile", "--minify", "--bytecode", "--format=esm", "--target=bun-linux-x64", source, "--outfile", out],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return out;
}

/** The probes for one plugin directory; `netns` is a container namespace for ADD/DEL. */
export function loopbackProbes(prefix: string, dir: string, netns: string, cniVersion: string): Probe[] {
  const path = join(dir, "loopback");
  const base = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  const attachment = { CNI_CONTAINERID: "tbn-startup", CNI_NETNS: netns, CNI_IFNAME: "lo", CNI_PATH: dir };
  const conf = JSON.stringify({ cniVersion, name: "tbn-startup", type: "loopback" });
  return [
    { label: `${prefix} loopback, no CNI_COMMAND (about)`, path, env: base, stdin: "", ok: [0] },
    { label: `${prefix} loopback VERSION`, path, env: { ...base, CNI_COMMAND: "VERSION" }, stdin: `{"cniVersion":"${cniVersion}"}`, ok: [0] },
    { label: `${prefix} loopback ADD`, path, env: { ...base, ...attachment, CNI_COMMAND: "ADD" }, stdin: conf, ok: [0] },
    { label: `${prefix} loopback DEL`, path, env: { ...base, ...attachment, CNI_COMMAND: "DEL" }, stdin: conf, ok: [0] },
  ];
}

/** Runs every probe `runs` times round-robin (the order rotates each round), plus `rssRuns` under /usr/bin/time. */
export function measureProbes(probes: Probe[], runs: number, rssRuns: number, warmup: number): ProbeResult[] {
  const wall = probes.map(() => [] as number[]);
  const cpu = probes.map(() => [] as number[]);
  const rss = probes.map(() => [] as number[]);
  const total = warmup + rssRuns + runs;
  for (let round = 0; round < total; round++) {
    for (let k = 0; k < probes.length; k++) {
      const index = (k + round) % probes.length;
      const probe = probes[index]!;
      const rssPhase = round >= warmup && round < warmup + rssRuns;
      const run: Timed & { rssKiB?: number } = rssPhase ? peakRssKiB(probe.path, probe.args ?? [], probe.env, probe.stdin) : timedSpawn(probe.path, probe.args ?? [], probe.env, probe.stdin);
      if (!probe.ok.includes(run.status)) {
        throw new Error(`${probe.label}: exit ${run.status}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
      }
      if (rssPhase) rss[index]!.push(run.rssKiB! / 1024);
      else if (round >= warmup) {
        wall[index]!.push(run.wallNs / 1e6);
        cpu[index]!.push(run.cpuNs / 1e6);
      }
    }
  }
  return probes.map((probe, i) => ({ label: probe.label, path: probe.path, wallMs: summarize(wall[i]!)!, cpuMs: summarize(cpu[i]!)!, rssMiB: summarize(rss[i]!) }));
}
