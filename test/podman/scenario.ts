// The start of every podman scenario: the plugin directories to run against, and a podman on one
// of them that has every plugin podman's conflists name.
import { missingPlugins, type PluginDir, pluginDirs as pluginDirsIn } from "../cri/conflist.ts";
import { Podman } from "./podman.ts";

export type { PluginDir };

/** Both directories, or the one in `PODMAN_CNI_BIN` (e.g. `PODMAN_CNI_BIN=/usr/lib/cni`). */
export function pluginDirs(): PluginDir[] {
  return pluginDirsIn("PODMAN_CNI_BIN");
}

/**
 * What podman 4.3's CNI backend writes into every bridge conflist (bridge → portmap → firewall →
 * tuning, host-local as IPAM). A missing one makes podman call the network "not found".
 */
export const PODMAN_PLUGINS = ["bridge", "host-local", "portmap", "firewall", "tuning"];

interface Test {
  teardown(fn: () => Promise<void> | void): void;
  fail(message: string): void;
}

/** Starts podman on `binDir`, or fails the test (and returns undefined) naming the plugins it lacks. */
export async function startPodman(t: Test, binDir: string): Promise<Podman | undefined> {
  const missing = missingPlugins(binDir, PODMAN_PLUGINS);
  if (missing.length > 0) {
    t.fail(`${binDir} lacks ${missing.join(", ")}: podman's conflists need ${PODMAN_PLUGINS.join(", ")} (for dist/bin: \`node build.mjs\`)`);
    return undefined;
  }
  return Podman.start(t, { binDir, prefix: "tpod" });
}
