import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

/** Our built executables (`node build.mjs`). */
export const DIST_BIN = resolve(import.meta.dirname, "../../dist/bin");

export interface Invocation {
  command: "ADD" | "DEL" | "CHECK" | "GC" | "STATUS" | "VERSION";
  containerId?: string;
  /** CNI_NETNS, e.g. /run/netns/<name>. */
  netns?: string;
  ifname?: string;
  /** CNI_PATH; our dist/bin by default. */
  path?: string;
  args?: string;
  /** More variables (e.g. CNI_NETNS_OVERRIDE); they win over the ones above. */
  env?: Record<string, string>;
}

export interface Reply {
  status: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON; undefined when empty or not JSON. */
  json: any;
}

/**
 * Runs a plugin executable as a runtime would (env + config on stdin), inside the netns `hostNs`
 * (`ip netns exec <hostNs> <plugin>`), which plays the host.
 */
export function execPlugin(plugin: string, hostNs: string, inv: Invocation, config: object): Reply {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", CNI_COMMAND: inv.command };
  if (inv.containerId !== undefined) env.CNI_CONTAINERID = inv.containerId;
  if (inv.netns !== undefined) env.CNI_NETNS = inv.netns;
  if (inv.ifname !== undefined) env.CNI_IFNAME = inv.ifname;
  if (inv.args !== undefined) env.CNI_ARGS = inv.args;
  env.CNI_PATH = inv.path ?? DIST_BIN;
  Object.assign(env, inv.env);
  const child = spawnSync("ip", ["netns", "exec", hostNs, plugin], { env, input: JSON.stringify(config), encoding: "utf8", timeout: 60_000 });
  if (child.error) throw child.error;
  let json: unknown;
  try {
    json = child.stdout ? JSON.parse(child.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { status: child.status ?? 128, stdout: child.stdout, stderr: child.stderr, json };
}
