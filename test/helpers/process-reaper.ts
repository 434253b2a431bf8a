// Clean-up for harnesses that run a container engine (containerd, podman) in a private mount
// namespace, with its containers under a cgroup parent of their own: find every process of that
// mount namespace and of those cgroups, kill them by pid, then remove the cgroups.
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const CGROUP_ROOT = "/sys/fs/cgroup";

/** Pids of every process in the mount namespace of `pid` (none when `pid` is gone). */
export function pidsInMountNamespaceOf(pid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return [];
  }
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readlinkSync(`/proc/${p}/ns/mnt`) === ns;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The directories of cgroup `parent` (cgroupfs syntax, e.g. `/tcri-1a2b3c`) in every hierarchy that has one. */
export function cgroupDirs(parent: string): string[] {
  return readdirSync(CGROUP_ROOT)
    .map((h) => join(CGROUP_ROOT, h, parent))
    .filter((d) => existsSync(d));
}

/** Pids in `parent` and every cgroup below it, in every hierarchy (container processes live in mount namespaces of their own). */
export function pidsInCgroups(parent: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name === "cgroup.procs") {
        for (const line of readFileSync(join(dir, entry.name), "utf8").split("\n")) if (line) pids.add(Number(line));
      }
    }
  };
  for (const d of cgroupDirs(parent)) walk(d);
  return [...pids];
}

/** Removes `parent` and the cgroups below it (deepest first) in every hierarchy; the ones left, as `<dir>: <errno code>`. */
export function removeCgroups(parent: string): string[] {
  const left: string[] = [];
  const rm = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) rm(join(dir, entry.name));
    try {
      rmdirSync(dir);
    } catch (e) {
      left.push(`${dir}: ${(e as NodeJS.ErrnoException).code}`);
    }
  };
  for (const d of cgroupDirs(parent)) rm(d);
  return left;
}

/** SIGKILLs the pids `pids()` lists, every 100 ms, until it lists none (at most 50 rounds). */
export async function killUntilGone(pids: () => number[]): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const alive = pids();
    if (alive.length === 0) break;
    for (const pid of alive) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
}

/**
 * Removes the cgroups of `parent`, retrying every 100 ms (at most 20 rounds) while the kernel still
 * holds some; the ones left after the last round (empty when all are gone).
 */
export async function removeCgroupsPatiently(parent: string): Promise<string[]> {
  let left: string[] = [];
  for (let round = 0; round < 20; round++) {
    left = removeCgroups(parent);
    if (left.length === 0) break;
    await sleep(100);
  }
  return left;
}
