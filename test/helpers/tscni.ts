import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { makeNetns } from "./netns.ts";
import { DIST_BIN } from "./plugin-exec.ts";

/** The built CLI (`node build.mjs`). */
export const TSCNI = join(DIST_BIN, "tscni");

export interface CliReply {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * A throw-away host netns in which `dist/bin/tscni` runs, with its conf dir and cache dir in a
 * test dir (NETCONFPATH, CNI_CACHE_DIR) and CNI_PATH = dist/bin.
 */
export function cliLab(t: Test, prefix: string) {
  if (!existsSync(TSCNI)) throw new Error(`${TSCNI} is missing: run node build.mjs`);
  const host = makeNetns(t, `${prefix}-h`);
  const dir = t.testdir({ "net.d": {}, cache: {} });
  const confDir = join(dir, "net.d");
  const cacheDir = join(dir, "cache");
  const run = (args: string[], env: Record<string, string> = {}): CliReply => {
    const child = spawnSync("ip", ["netns", "exec", host.name, TSCNI, ...args], {
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", NETCONFPATH: confDir, CNI_PATH: DIST_BIN, CNI_CACHE_DIR: cacheDir, ...env },
      encoding: "utf8",
      timeout: 60_000,
    });
    if (child.error) throw child.error;
    return { status: child.status ?? 128, stdout: child.stdout, stderr: child.stderr };
  };
  /** run, failing the test with the output when the exit status is not 0. */
  const ok = (args: string[], env: Record<string, string> = {}): string => {
    const reply = run(args, env);
    if (reply.status !== 0) throw new Error(`tscni ${args.join(" ")}: exit ${reply.status}\n${reply.stdout}${reply.stderr}`);
    return reply.stdout;
  };
  return { host, confDir, cacheDir, run, ok, container: () => makeNetns(t, `${prefix}-c`) };
}
