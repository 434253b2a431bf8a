import type { RuntimeOptions } from "../lib/runtime/index.ts";

/** One implementation under test: its plugin directory, driven through libcni's semantics. */
export interface Side {
  name: "ours" | "ref";
  dir: string;
  /** CNI_PATH = dir, a private result cache; every plugin exec goes through the bench's timer. */
  runtime: RuntimeOptions;
}

export interface BenchContext {
  /** A throw-away network namespace, deleted when the run ends. */
  netns(label: string): { name: string; path: string };
  /** The CNI version both sides speak (the reference stops at 1.0.0). */
  cniVersion: string;
}

/** A scenario's state for one side. */
export interface ScenarioRun {
  /**
   * Performs step `name` of iteration `iteration`. Only plugin executions are timed, so untimed
   * preparation (netns creation, clean-up) can happen here too. Throws when a plugin fails.
   */
  step(name: string, iteration: number): void;
  /** Figures beyond timings (e.g. throughput), measured once after the timed runs; kept in the report. */
  report?(): Record<string, unknown>;
  teardown?(): void;
}

/**
 * A benchmark: named steps repeated every iteration; the harness interleaves the two sides step by
 * step (ours, ref / ref, ours on alternate iterations) so drift hits both equally.
 */
export interface Scenario {
  name: string;
  description: string;
  /** Executables each side's directory must hold. */
  plugins: string[];
  steps: string[];
  setup(ctx: BenchContext, side: Side): ScenarioRun;
}
