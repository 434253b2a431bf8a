// npm run bench -- [--vs /usr/lib/cni] [--ours dist/bin] [--runs 100] [--only loopback] [--startup]
// Side-by-side timings of our plugins and the reference. The process re-executes itself inside a
// throw-away "host" netns (ip netns exec), so plugins are spawned directly, with nothing between
// the clock and the exec; see bench/README.md.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { versionOf } from "../lib/runtime/index.ts";
import { Recorder, runScenario, type Plan } from "./harness.ts";
import type { BenchContext, Scenario, Side } from "./scenario.ts";
import { SCENARIOS } from "./scenarios/index.ts";
import { emptyBunExecutable, loopbackProbes, measureProbes, type Probe, type ProbeResult } from "./startup.ts";
import { summarize, type Summary } from "./stats.ts";
import { timedSpawn } from "./spawn.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const resultsDir = join(root, "bench/results");

const { values: opts } = parseArgs({
  options: {
    vs: { type: "string" },
    ours: { type: "string", default: join(root, "dist/bin") },
    runs: { type: "string", default: "100" },
    "rss-runs": { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    only: { type: "string" },
    startup: { type: "boolean", default: false },
    out: { type: "string" },
    inside: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (opts.help) {
  console.log(`usage: npm run bench -- [--vs REF_DIR] [--ours DIR] [--runs N] [--rss-runs N] [--warmup N] [--only S,...] [--startup] [--out FILE]
scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}
--startup  break down the start-up of our binary (exec floor, empty Bun, module load, about, VERSION, ADD, DEL)`);
  process.exit(0);
}

const plan: Plan = { runs: Number(opts.runs), rssRuns: Number(opts["rss-runs"]), warmup: Number(opts.warmup) };
for (const [name, value] of Object.entries(plan)) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
}

if (opts.inside === undefined) outer();
else inner(opts.inside);

/** Makes the host netns, runs this script again inside it, and removes every namespace it made. */
function outer(): never {
  if (process.getuid?.() !== 0) {
    console.error("bench: needs root (it creates network namespaces)");
    process.exit(2);
  }
  const host = `tbn-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", host]);
  process.on("SIGINT", () => {}); // Ctrl-C ends the child; we stay to clean up after it
  let status = 1;
  try {
    execFileSync("ip", ["-n", host, "link", "set", "lo", "up"]);
    const self = fileURLToPath(import.meta.url);
    const child = spawnSync("ip", ["netns", "exec", host, process.execPath, ...process.execArgv, self, ...process.argv.slice(2), "--inside", host], { stdio: "inherit" });
    status = child.status ?? 1;
  } finally {
    // Namespaces the child made are mounted only in its mount namespace; if it was interrupted,
    // their files remain here. Same for its cache directories.
    const leftovers = readdirSync("/run/netns").filter((name) => name === host || name.startsWith(`${host}-`));
    for (const name of leftovers) spawnSync("ip", ["netns", "del", name]);
    for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(`${host}-`))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  process.exit(status);
}

function inner(host: string): void {
  const own = statSync("/proc/self/ns/net");
  const target = statSync(`/run/netns/${host}`);
  if (own.ino !== target.ino || own.dev !== target.dev) throw new Error(`bench: not running inside netns ${host}`);

  const made: string[] = [];
  const cleanup = () => {
    for (const name of made.splice(0)) spawnSync("ip", ["netns", "del", name]);
  };
  const netns = (label: string) => {
    const name = `${host}-${label}`;
    execFileSync("ip", ["netns", "add", name]);
    made.push(name);
    return { name, path: `/run/netns/${name}` };
  };
  const cacheDirs: string[] = [];
  const recorder = new Recorder();
  const side = (name: Side["name"], dir: string): Side => {
    const cacheDir = join(tmpdir(), `${host}-cache-${name}`);
    mkdirSync(cacheDir, { mode: 0o700 });
    cacheDirs.push(cacheDir);
    return { name, dir, runtime: { path: [dir], cacheDir, exec: recorder.exec, env: { PATH: process.env.PATH } } };
  };
  const sides = [side("ours", resolve(opts.ours!)), ...(opts.vs ? [side("ref", resolve(opts.vs))] : [])];
  const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

  try {
    const report = opts.startup ? startup(sides, netns, progress) : scenarios(sides, netns, recorder, progress);
    mkdirSync(resultsDir, { recursive: true });
    const file = opts.out ? resolve(opts.out) : join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${opts.startup ? "startup" : "scenarios"}.json`);
    writeFileSync(file, `${JSON.stringify({ ...report, machine: { ...report.machine, loadavgEnd: loadavg() } }, null, 2)}\n`);
    console.log(`\nwritten ${file}`);
  } finally {
    cleanup();
    for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
  }
}

interface Report {
  kind: string;
  reports?: unknown[];
  date: string;
  plan: Plan;
  machine: Record<string, unknown>;
  sides: Record<string, unknown>;
  results: unknown[];
}

function header(kind: string, sides: Side[]): Omit<Report, "results"> {
  return {
    kind,
    date: new Date().toISOString(),
    plan,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version, loadavgStart: loadavg() },
    sides: Object.fromEntries(sides.map((s) => [s.name, { dir: s.dir, about: aboutOf(s.dir) }])),
  };
}

/** The plugin's about line (no CNI_COMMAND), which names the reference's version. */
function aboutOf(dir: string): string {
  try {
    return timedSpawn(join(dir, "loopback"), [], { PATH: process.env.PATH ?? "" }, "").stderr.split("\n")[0] ?? "";
  } catch {
    return "";
  }
}

/** The newest version every side's first plugin of the scenario speaks. */
function commonVersion(scenario: Scenario, sides: Side[]): string {
  const lists = sides.map((s) => versionOf(s.runtime, scenario.plugins[0]!).supportedVersions);
  const common = lists[0]!.filter((v) => lists.every((list) => list.includes(v)));
  const newest = common.at(-1);
  if (!newest) throw new Error(`${scenario.name}: no CNI version both sides speak`);
  return newest;
}

function scenarios(sides: Side[], netns: BenchContext["netns"], recorder: Recorder, progress: (line: string) => void): Report {
  const only = opts.only?.split(",").filter(Boolean);
  const unknown = only?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  const selected = SCENARIOS.filter((s) => !only || only.includes(s.name));
  const head = header("tscni-bench-scenarios", sides);
  const versions: Record<string, string> = {};
  for (const scenario of selected) {
    const missing = sides.flatMap((s) => scenario.plugins.filter((p) => !isFile(join(s.dir, p))).map((p) => `${s.name}:${p}`));
    if (missing.length > 0) {
      progress(`${scenario.name}: skipped, missing ${missing.join(", ")}`);
      continue;
    }
    const cniVersion = commonVersion(scenario, sides);
    versions[scenario.name] = cniVersion;
    runScenario(scenario, sides, { netns, cniVersion }, plan, recorder, progress);
  }
  const results = [...recorder.series.values()].map(({ key, data }) => ({
    ...key,
    cniVersion: versions[key.scenario],
    wallMs: summarize(data.wallNs.map((ns) => ns / 1e6)),
    cpuMs: summarize(data.cpuNs.map((ns) => ns / 1e6)),
    rssMiB: summarize(data.rssKiB.map((kib) => kib / 1024)),
  }));
  printScenarioTable(results, sides.length > 1);
  for (const r of recorder.reports) console.log(`\n${r.scenario} (${r.side}): ${JSON.stringify(r.figures, null, 2)}`);
  return { ...head, results, reports: recorder.reports };
}

type Row = { scenario: string; operation: string; side: string; cniVersion?: string; wallMs?: Summary; cpuMs?: Summary; rssMiB?: Summary };

function printScenarioTable(rows: Row[], paired: boolean): void {
  const ms = (s?: Summary, key: "median" | "p90" = "median") => (s ? s[key].toFixed(2) : "-");
  const mib = (s?: Summary) => (s ? s.median.toFixed(1) : "-");
  const ratio = (a?: number, b?: number) => (a !== undefined && b ? `${(a / b).toFixed(2)}x` : "-");
  const lines: string[][] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const id = `${row.scenario}\t${row.operation}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const ours = rows.find((r) => r.scenario === row.scenario && r.operation === row.operation && r.side === "ours");
    const ref = rows.find((r) => r.scenario === row.scenario && r.operation === row.operation && r.side === "ref");
    const cols = [row.scenario, `${row.operation} @${row.cniVersion ?? "?"}`, String(ours?.wallMs?.n ?? "-"), ms(ours?.wallMs), ms(ours?.wallMs, "p90"), ms(ours?.cpuMs), mib(ours?.rssMiB)];
    if (paired) {
      cols.push(ms(ref?.wallMs), ms(ref?.wallMs, "p90"), ms(ref?.cpuMs), mib(ref?.rssMiB));
      cols.push(ratio(ours?.wallMs?.median, ref?.wallMs?.median), ratio(ours?.wallMs?.p90, ref?.wallMs?.p90), ratio(ours?.cpuMs?.median, ref?.cpuMs?.median));
    }
    lines.push(cols);
  }
  const head = ["scenario", "operation", "n", "ours med ms", "p90", "cpu ms", "RSS MiB"];
  if (paired) head.push("ref med ms", "p90", "cpu ms", "RSS MiB", "ours/ref med", "p90", "cpu");
  printTable(head, lines);
}

function startup(sides: Side[], netns: BenchContext["netns"], progress: (line: string) => void): Report {
  const head = header("tscni-bench-startup", sides);
  const ours = sides[0]!;
  const ref = sides.find((s) => s.name === "ref");
  const ctr = netns("startup");
  const cniVersion = ref ? "1.0.0" : "1.1.0";
  progress("building an empty Bun executable with the same flags as ours");
  const empty = emptyBunExecutable(join(resultsDir, ".cache"));
  const base = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  const probes: Probe[] = [
    { label: "/bin/true (exec floor)", path: "/bin/true", env: base, stdin: "", ok: [0] },
    { label: "empty Bun executable", path: empty, env: base, stdin: "", ok: [0] },
    { label: "ours, unknown name (entry loads, refuses)", path: unknownName(ours.dir), env: base, stdin: "", ok: [1] },
    { label: "ours tscni --version (the CLI loads)", path: join(ours.dir, "tscni"), args: ["--version"], env: base, stdin: "", ok: [0] },
    ...loopbackProbes("ours", ours.dir, ctr.path, cniVersion),
    ...(ref ? loopbackProbes("ref", ref.dir, ctr.path, cniVersion) : []),
  ];
  progress(`startup: ${probes.length} probes × (${plan.warmup} warm-up + ${plan.rssRuns} RSS + ${plan.runs} timed), round-robin`);
  const results = measureProbes(probes, plan.runs, plan.rssRuns, plan.warmup);
  printStartupTable(results);
  return { ...head, results };
}

/** Our binary under a name it does not answer to (a symlink in the cache dir): the entry loads, then it refuses. */
function unknownName(dir: string): string {
  const link = join(resultsDir, ".cache", "tscni-bench-unknown");
  rmSync(link, { force: true });
  symlinkSync(resolve(dir, "tscni"), link);
  return link;
}

function printStartupTable(results: ProbeResult[]): void {
  let previous: number | undefined;
  const lines = results.map((r) => {
    const isRef = r.label.startsWith("ref");
    const delta = previous === undefined || isRef ? "" : `${r.wallMs.median - previous >= 0 ? "+" : ""}${(r.wallMs.median - previous).toFixed(2)}`;
    if (!isRef) previous = r.wallMs.median;
    return [r.label, String(r.wallMs.n), r.wallMs.median.toFixed(2), r.wallMs.p90.toFixed(2), delta, r.cpuMs.median.toFixed(2), r.rssMiB ? r.rssMiB.median.toFixed(1) : "-"];
  });
  printTable(["invocation", "n", "median ms", "p90 ms", "Δ prev", "cpu ms", "RSS MiB"], lines, 1);
}

/** Columns after the first `left` ones are right-aligned. */
function printTable(head: string[], lines: string[][], left = 2): void {
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cols: string[]) => cols.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(`\n${fmt(head)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const line of lines) console.log(fmt(line));
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
