import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { PluginExec } from "../lib/runtime/index.ts";

const IP = ["/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip", "/bin/ip"].find((path) => existsSync(path)) ?? "ip";

/**
 * Runs every plugin inside the named netns (`ip netns exec <netns> <plugin>`), so that what a
 * plugin does to "the host" happens in a throw-away namespace. argv[0] is the plugin path, as
 * libcni passes it, which is what a multi-call binary dispatches on.
 */
export function execInNetns(netns: string, timeoutMs = 60_000): PluginExec {
  return ({ path, env, stdin }) => {
    const child = spawnSync(IP, ["netns", "exec", netns, path], { env, input: stdin, timeout: timeoutMs, maxBuffer: 64 << 20 });
    // EPIPE only means the plugin exited without reading all of its stdin (a plugin may answer
    // VERSION or fail early without reading): its status and output still count.
    const epipe = (child.error as NodeJS.ErrnoException | undefined)?.code === "EPIPE" && child.status !== null;
    if (child.error && !epipe) throw new Error(`running ${path} in netns "${netns}": ${child.error.message}`);
    return { status: child.status ?? 128, stdout: child.stdout, stderr: child.stderr };
  };
}
