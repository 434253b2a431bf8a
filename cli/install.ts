// `tscni install`: every name of the multi-call executable into a CNI bin directory. Hard links
// when the directory is on the executable's filesystem, else one copy that the others link to.
import { chmodSync, closeSync, copyFileSync, linkSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";
import { CliError } from "./context.ts";

export type InstallAction = "linked" | "copied" | "replaced" | "unchanged";

export interface InstallStep {
  name: string;
  path: string;
  action: InstallAction;
}

export interface InstallRequest {
  /** The executable to install (this one). */
  source: string;
  dir: string;
  names: string[];
  force: boolean;
}

/** Installs every name; without `force`, refuses (changing nothing) when another file already has one of them. */
export function install(req: InstallRequest): InstallStep[] {
  const source = statSync(req.source);
  mkdirSync(req.dir, { recursive: true, mode: 0o755 });
  const existing = req.names.map((name) => ({ name, path: join(req.dir, name), stat: statSync(join(req.dir, name), { throwIfNoEntry: false }) }));
  const foreign = existing.filter((e) => e.stat && !sameContent(req.source, source, e.path, e.stat));
  if (foreign.length > 0 && !req.force) {
    throw new CliError(`${req.dir} already has ${foreign.map((e) => e.name).join(", ")}: not replacing ${foreign.length === 1 ? "it" : "them"} without --force`);
  }
  let origin = req.source;
  const steps: InstallStep[] = [];
  for (const { name, path, stat } of existing) {
    if (stat && !foreign.some((f) => f.name === name)) {
      steps.push({ name, path, action: "unchanged" });
      continue;
    }
    // Put in place under a temporary name and renamed over: a runtime never runs half a file.
    const temp = join(req.dir, `.${name}.tscni-install`);
    rmSync(temp, { force: true });
    let copied = false;
    try {
      linkSync(origin, temp);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw new CliError(`linking ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      copyFileSync(req.source, temp);
      chmodSync(temp, 0o755);
      copied = true;
    }
    renameSync(temp, path);
    if (copied) origin = path;
    steps.push({ name, path, action: stat ? "replaced" : copied ? "copied" : "linked" });
  }
  return steps;
}

/** The same inode, or a copy with the same bytes (a previous cross-filesystem install). */
function sameContent(aPath: string, a: Stats, bPath: string, b: Stats): boolean {
  if (a.dev === b.dev && a.ino === b.ino) return true;
  if (!b.isFile() || a.size !== b.size) return false;
  const fa = openSync(aPath, "r");
  const fb = openSync(bPath, "r");
  try {
    const ba = Buffer.allocUnsafe(1 << 20);
    const bb = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; pos < a.size; ) {
      const n = readSync(fa, ba, 0, ba.length, pos);
      if (n <= 0 || readSync(fb, bb, 0, n, pos) !== n || !ba.subarray(0, n).equals(bb.subarray(0, n))) return false;
      pos += n;
    }
    return true;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}
