import { CniError, toCniError } from "./errors.ts";

/** The undo steps of an ADD in progress: run newest first when the ADD fails, dropped when it succeeds. */
export class UndoStack {
  private readonly steps: Array<{ what: string; undo: () => void }> = [];

  push(what: string, undo: () => void): void {
    this.steps.push({ what, undo });
  }

  /** Runs every step, newest first; a failing step is logged and the rest still run. */
  unwind(log: (message: string) => void): void {
    for (const { what, undo } of this.steps.reverse()) {
      try {
        undo();
      } catch (e) {
        log(`rollback of a failed ADD: failed to ${what}: ${(e as Error).message}`);
      }
    }
    this.steps.length = 0;
  }
}

/**
 * Runs every step even when some fail (DEL, GC), then reports all failures together, with the
 * code of the first.
 */
export function runAll(steps: Array<[what: string, fn: () => void]>): void {
  const failures: CniError[] = [];
  for (const [what, fn] of steps) {
    try {
      fn();
    } catch (e) {
      const err = toCniError(e);
      failures.push(new CniError(err.code, `failed to ${what}: ${err.message}`, err.details));
    }
  }
  const [first] = failures;
  if (!first) return;
  if (failures.length === 1) throw first;
  const details = failures.flatMap((f) => (f.details ? [f.details] : [])).join("; ");
  throw new CniError(first.code, failures.map((f) => f.message).join("; "), details || undefined);
}
