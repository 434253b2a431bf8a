import type { ExecOutcome } from "./plugin-exec.ts";

/** The error JSON of a failed plugin, as libcni's ExecPluginWithResult reports it. */
export class PluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly code: number,
    msg: string,
    readonly details: string | undefined,
    readonly outcome: ExecOutcome,
  ) {
    super(msg);
    this.name = "PluginError";
  }
}

/** A refusal by the runtime itself, before or after running plugins. */
export class RuntimeError extends Error {
  override name = "RuntimeError";
}
