import { registerBuiltinPlugin } from "../lib/cni/delegate.ts";
import { pluginMain, type Plugin, type PluginInfo } from "../lib/cni/skel.ts";
import { basename, encodeText, writeFd } from "../lib/sys/files.ts";

interface Loaded {
  plugin: Plugin;
  info: PluginInfo;
}

/** A plugin module's `info` and its Plugin export `key`. */
function loaded<K extends string>(module: { info: PluginInfo } & Record<K, Plugin>, key: K): Loaded {
  return { plugin: module[key], info: module.info };
}

interface Entry {
  load: () => Promise<Loaded>;
  /** Delegates to an IPAM plugin: host-local is loaded too, to run in-process. */
  ipam?: boolean;
}

// Every executable in dist/bin is this one binary; the name it was invoked by picks the plugin.
// Each plugin is a separate chunk of the build (bun --splitting), loaded only when invoked: start-up
// grows with the code a process loads, not with the size of the suite.
const plugins: Record<string, Entry> = {
  bridge: { load: async () => loaded(await import("./bridge/main.ts"), "bridge"), ipam: true },
  "host-local": { load: async () => loaded(await import("./host-local/main.ts"), "hostLocal") },
  ipvlan: { load: async () => loaded(await import("./ipvlan/main.ts"), "ipvlan"), ipam: true },
  loopback: { load: async () => loaded(await import("./loopback/main.ts"), "loopback") },
  macvlan: { load: async () => loaded(await import("./macvlan/main.ts"), "macvlan"), ipam: true },
  tuning: { load: async () => loaded(await import("./tuning/main.ts"), "tuning") },
  firewall: { load: async () => loaded(await import("./firewall/main.ts"), "firewall") },
  vxlan: { load: async () => loaded(await import("./vxlan/main.ts"), "vxlan"), ipam: true },
  portmap: { load: async () => loaded(await import("./portmap/main.ts"), "portmap") },
};

const name = basename(process.argv0);
const entry = plugins[name];
if (entry) {
  const { plugin, info } = await entry.load();
  if (entry.ipam) registerBuiltinPlugin("host-local", (await plugins["host-local"]!.load()).plugin);
  pluginMain(plugin, info);
}
// The CLI (and yargs) is its own chunk too.
if (name === "tscni") await (await import("../cli/main.ts")).main(Object.keys(plugins));
writeFd(2, encodeText(`tscni: invoked as "${name}"; link this binary as tscni (the CLI) or one of: ${Object.keys(plugins).join(", ")}\n`));
process.exit(1);
