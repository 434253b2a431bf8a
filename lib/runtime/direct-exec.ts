import { runExecutable } from "../sys/run-executable.ts";
import type { PluginExec } from "./plugin-exec.ts";

/**
 * Runs the plugin as a child of this process (posix_spawn, no shell), argv[0] = its path as libcni
 * passes it; its stderr goes to ours.
 */
export const execDirect: PluginExec = ({ path, env, stdin }) =>
  runExecutable(
    path,
    [path],
    Object.entries(env).map(([key, value]) => `${key}=${value}`),
    stdin,
  );
