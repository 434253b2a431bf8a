import { registerBuiltinPlugin } from "../lib/cni/delegate.ts";
import { pluginMain, type Plugin, type PluginInfo } from "../lib/cni/skel.ts";
import { basename, encodeText, writeFd } from "../lib/sys/files.ts";
import { bridge, info as bridgeInfo } from "./bridge/main.ts";
import { hostLocal, info as hostLocalInfo } from "./host-local/main.ts";
import { info as ipvlanInfo, ipvlan } from "./ipvlan/main.ts";
import { info as loopbackInfo, loopback } from "./loopback/main.ts";
import { info as macvlanInfo, macvlan } from "./macvlan/main.ts";
import { info as tuningInfo, tuning } from "./tuning/main.ts";

/** Every executable in dist/bin is this one binary; the name it was invoked by picks the plugin. */
const plugins: Record<string, { plugin: Plugin; info: PluginInfo }> = {
  bridge: { plugin: bridge, info: bridgeInfo },
  "host-local": { plugin: hostLocal, info: hostLocalInfo },
  ipvlan: { plugin: ipvlan, info: ipvlanInfo },
  loopback: { plugin: loopback, info: loopbackInfo },
  macvlan: { plugin: macvlan, info: macvlanInfo },
  tuning: { plugin: tuning, info: tuningInfo },
};

registerBuiltinPlugin("host-local", hostLocal);

const name = basename(process.argv0);
const entry = plugins[name];
if (!entry) {
  writeFd(2, encodeText(`tscni: invoked as "${name}"; link this binary under one of: ${Object.keys(plugins).join(", ")}\n`));
  process.exit(1);
}
pluginMain(entry.plugin, entry.info);
