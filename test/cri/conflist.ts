// The network configuration a Kubernetes node gives containerd: bridge → portmap, the pod CIDR in
// host-local (with its dataDir moved into the test's temp dir).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Conflist } from "./containerd.ts";

export interface NodeNetwork {
  name: string;
  bridge: string;
  /** The node's pod CIDR, e.g. `10.231.0.0/24`. */
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  dataDir: string;
  cniVersion?: string;
  cniVersions?: string[];
  /** Append portmap (the node's list always has it; false only while our portmap does not exist). */
  portmap?: boolean;
}

export function nodeConflist(net: NodeNetwork): Conflist {
  const range: Record<string, string> = { subnet: net.subnet };
  if (net.rangeStart) range.rangeStart = net.rangeStart;
  if (net.rangeEnd) range.rangeEnd = net.rangeEnd;
  const plugins: Record<string, unknown>[] = [
    {
      type: "bridge",
      bridge: net.bridge,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: { type: "host-local", ranges: [[range]], routes: [{ dst: "0.0.0.0/0" }], dataDir: net.dataDir },
    },
  ];
  if (net.portmap ?? true) plugins.push({ type: "portmap", capabilities: { portMappings: true } });
  return {
    cniVersion: net.cniVersion ?? "1.0.0",
    ...(net.cniVersions ? { cniVersions: net.cniVersions } : {}),
    name: net.name,
    plugins,
  };
}

export interface PluginDir {
  /** "reference" (the Go plugins in /usr/lib/cni) or "ours" (dist/bin). */
  label: string;
  binDir: string;
}

const OURS = fileURLToPath(new URL("../../dist/bin", import.meta.url));
const REFERENCE = "/usr/lib/cni";

/**
 * The plugin directories to run the scenarios against: both by default, or the one in the
 * environment variable `envVar` (e.g. `CRI_CNI_BIN=/usr/lib/cni`; the podman scenarios use
 * `PODMAN_CNI_BIN`).
 */
export function pluginDirs(envVar = "CRI_CNI_BIN"): PluginDir[] {
  const chosen = process.env[envVar];
  if (chosen) return [{ label: chosen === REFERENCE ? "reference" : chosen === OURS ? "ours" : "custom", binDir: chosen }];
  return [
    { label: "reference", binDir: REFERENCE },
    { label: "ours", binDir: OURS },
  ];
}

/** The executables a scenario needs that the directory lacks. */
export function missingPlugins(binDir: string, names: string[]): string[] {
  return names.filter((n) => !existsSync(join(binDir, n)));
}

/** The spec versions a plugin executable declares (its VERSION answer). */
export function supportedVersions(binDir: string, plugin: string): string[] {
  const out = execFileSync(join(binDir, plugin), { env: { CNI_COMMAND: "VERSION" }, input: '{"cniVersion":"1.0.0"}', encoding: "utf8" });
  return (JSON.parse(out) as { supportedVersions: string[] }).supportedVersions;
}
