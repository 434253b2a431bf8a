import { basename } from "node:path";
import type { PluginExec } from "../lib/runtime/index.ts";
import type { BenchContext, Scenario, ScenarioRun, Side } from "./scenario.ts";
import { peakRssKiB, timedSpawn, type Timed } from "./spawn.ts";

export type Phase = "warmup" | "rss" | "timed";

export interface Series {
  wallNs: number[];
  cpuNs: number[];
  rssKiB: number[];
}

/** Identifies a series: one operation of one scenario on one side. */
export interface SeriesKey {
  scenario: string;
  /** The step, or "<step> › <plugin>" for each plugin of a step that ran several. */
  operation: string;
  side: Side["name"];
}

/**
 * Collects what every plugin exec costs. `exec` is the PluginExec the sides' runtimes use: in the
 * timed phase it measures wall and CPU time; in the rss phase it runs under /usr/bin/time for the
 * peak RSS (its times are discarded); warm-up runs are not kept.
 */
export class Recorder {
  phase: Phase = "warmup";
  readonly series = new Map<string, { key: SeriesKey; data: Series }>();
  /** What scenarios' `report()` returned, per scenario and side. */
  readonly reports: Array<{ scenario: string; side: Side["name"]; figures: Record<string, unknown> }> = [];
  private execs: Array<{ plugin: string; wallNs: number; cpuNs: number; rssKiB?: number }> | undefined;

  readonly exec: PluginExec = ({ path, env, stdin }) => {
    const input = stdin.toString("utf8");
    const measured: Timed & { rssKiB?: number } = this.phase === "rss" ? peakRssKiB(path, [], env, input) : timedSpawn(path, [], env, input);
    this.execs?.push({ plugin: basename(path), wallNs: measured.wallNs, cpuNs: measured.cpuNs, rssKiB: measured.rssKiB });
    return { status: measured.status, stdout: Buffer.from(measured.stdout), stderr: Buffer.from(measured.stderr) };
  };

  /** Runs one step and files its plugin execs under `key`. */
  step(key: SeriesKey, fn: () => void): void {
    this.execs = [];
    try {
      fn();
    } finally {
      const execs = this.execs;
      this.execs = undefined;
      if (this.phase !== "warmup" && execs.length > 0) {
        this.file(key, execs);
        if (execs.length > 1) for (const e of execs) this.file({ ...key, operation: `${key.operation} › ${e.plugin}` }, [e]);
      }
    }
  }

  private file(key: SeriesKey, execs: Array<{ wallNs: number; cpuNs: number; rssKiB?: number }>): void {
    const id = `${key.scenario}\t${key.operation}\t${key.side}`;
    const entry = this.series.get(id) ?? { key, data: { wallNs: [], cpuNs: [], rssKiB: [] } };
    this.series.set(id, entry);
    if (this.phase === "rss") {
      entry.data.rssKiB.push(Math.max(...execs.map((e) => e.rssKiB ?? 0)));
    } else {
      entry.data.wallNs.push(execs.reduce((sum, e) => sum + e.wallNs, 0));
      entry.data.cpuNs.push(execs.reduce((sum, e) => sum + e.cpuNs, 0));
    }
  }
}

export interface Plan {
  warmup: number;
  rssRuns: number;
  runs: number;
}

/**
 * Runs a scenario on every side: warm-up, then the RSS runs, then the timed runs. Within an
 * iteration each step runs on every side before the next step, and the side order flips every
 * iteration (A B, B A, ...), so slow drift and "who goes first" cost both sides the same.
 */
export function runScenario(scenario: Scenario, sides: Side[], ctx: BenchContext, plan: Plan, recorder: Recorder, progress: (line: string) => void): void {
  const runs: Array<{ side: Side; run: ScenarioRun }> = [];
  try {
    for (const side of sides) runs.push({ side, run: scenario.setup(ctx, side) });
    let iteration = 0;
    for (const [phase, count] of [["warmup", plan.warmup], ["rss", plan.rssRuns], ["timed", plan.runs]] as const) {
      recorder.phase = phase;
      progress(`${scenario.name}: ${phase} × ${count}`);
      for (let i = 0; i < count; i++, iteration++) {
        const order = iteration % 2 === 0 ? runs : [...runs].reverse();
        for (const step of scenario.steps) {
          for (const { side, run } of order) {
            recorder.step({ scenario: scenario.name, operation: step, side: side.name }, () => run.step(step, iteration));
          }
        }
      }
    }
    for (const { side, run } of runs) {
      if (!run.report) continue;
      progress(`${scenario.name}: report (${side.name})`);
      recorder.reports.push({ scenario: scenario.name, side: side.name, figures: run.report() });
    }
  } finally {
    for (const { run } of runs) run.teardown?.();
  }
}
