import { openContainerNetns, openContainerNetnsIfPresent } from "../../lib/cni/container-netns.ts";
import { invalidConfig } from "../../lib/cni/errors.ts";
import type { Interface, Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { runAll, UndoStack } from "../../lib/cni/undo.ts";
import type { Netns } from "../../lib/netns/netns.ts";
import { withRtnlIn } from "../../lib/netns/sockets.ts";
import type { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { findLinkByName, type Link } from "../../lib/rtnl/links.ts";
import { DEFAULT_ALLOWLIST, parseDataDir, parseTuningConfig, type LinkSettings, type TuningConfig } from "./config.ts";
import { checkApplicable, currentSettings, differingSettings, settingMismatches, settingSteps } from "./link-settings.ts";
import { loadSettings, removeSettings, savedSettingsPath, SavedSettingsError, saveSettings, type SavedSettings } from "./saved-settings.ts";
import { inspectSysctls, sysctlMismatches, writeSysctls } from "./sysctls.ts";

export const info: PluginInfo = {
  name: "tuning",
  about: "sets sysctls and attributes (MAC, MTU, promiscuous, all-multicast, queue length, name) of the container interface; DEL restores the attributes",
};

function parseChained(ctx: PluginContext): { cfg: TuningConfig; prev: Result } {
  const cfg = parseTuningConfig(ctx.config, ctx.cniArgs, ctx.processEnv.TSCNI_TUNING_ALLOWLIST || DEFAULT_ALLOWLIST);
  if (!ctx.prevResult) throw invalidConfig("required prevResult missing", "tuning is chained after the plugin that creates the interface");
  return { cfg, prev: ctx.prevResult };
}

function containerLink(nl: NetlinkSocket, name: string, ctx: PluginContext): Link {
  const link = findLinkByName(nl, name);
  if (!link) throw invalidConfig(`container interface "${name}" not found in "${ctx.env.netns}"`);
  return link;
}

/**
 * Validates everything first (config, sysctls exist and are writable, MTU range, free name), then
 * saves the original attributes, writes the sysctls and changes the attributes one by one; a
 * failure undoes what was done, newest first.
 */
function add(ctx: PluginContext): Result {
  const { cfg, prev } = parseChained(ctx);
  const { ifname } = ctx.env;
  const netns = openContainerNetns(ctx);
  withRtnlIn(netns, (nl) => {
    const link = containerLink(nl, ifname, ctx);
    const changes = differingSettings(link, cfg.link);
    checkApplicable(nl, link, changes);
    const sysctls = inspectSysctls(netns, cfg.sysctls, ifname);
    const originals = currentSettings(link, changes);
    const undo = new UndoStack();
    try {
      if (Object.keys(changes).length > 0) {
        const file = savedSettingsPath(cfg.dataDir, ctx.env.containerId, ifname);
        saveSettings(file, { originals, renamedTo: changes.ifname });
        undo.push(`remove ${file}`, () => removeSettings(file));
      }
      writeSysctls(netns, sysctls, undo);
      const restores = new Map(settingSteps(nl, link, originals).map((step) => [step.key, step]));
      for (const step of settingSteps(nl, link, changes)) {
        step.apply();
        const restore = restores.get(step.key)!;
        undo.push(`restore ${restore.label}`, restore.apply);
      }
    } catch (e) {
      undo.unwind(ctx.log);
      throw e;
    }
  });
  return withTunedInterface(prev, ctx, cfg.link);
}

/**
 * prevResult with the container interface's new MAC, MTU and name. The interface is the entry
 * named CNI_IFNAME in CNI_NETNS (or, when no entry has that sandbox, the one without a sandbox).
 */
function withTunedInterface(prev: Result, ctx: PluginContext, s: LinkSettings): Result {
  const { ifname, netns } = ctx.env;
  const inSandbox = prev.interfaces?.some((i) => i.name === ifname && i.sandbox === netns) ?? false;
  const isTuned = (i: Interface) => i.name === ifname && i.sandbox === (inSandbox ? netns : undefined);
  const tune = (i: Interface): Interface => {
    const out = { ...i };
    if (s.ifname !== undefined) out.name = s.ifname;
    if (s.mac !== undefined) out.mac = s.mac;
    if (s.mtu !== undefined) out.mtu = s.mtu;
    return out;
  };
  return { ...prev, interfaces: prev.interfaces?.map((i) => (isTuned(i) ? tune(i) : i)) };
}

/**
 * Restores what ADD saved and removes the file. Succeeds when there is nothing saved, when the
 * namespace or the interface is gone (nothing left to restore), and when repeated. A failed restore
 * keeps the file, so a retried DEL can finish.
 */
function del(ctx: PluginContext): void {
  const file = savedSettingsPath(parseDataDir(ctx.config), ctx.env.containerId, ctx.env.ifname);
  let saved: SavedSettings | undefined;
  try {
    saved = loadSettings(file);
  } catch (e) {
    if (!(e instanceof SavedSettingsError)) throw e;
    ctx.log(`${e.message}; removing it`);
  }
  if (saved) {
    const netns = openContainerNetnsIfPresent(ctx);
    if (netns) withRtnlIn(netns, (nl) => restore(nl, ctx.env.ifname, saved));
  }
  removeSettings(file);
}

function restore(nl: NetlinkSocket, ifname: string, saved: SavedSettings): void {
  const link = (saved.renamedTo && findLinkByName(nl, saved.renamedTo)) || findLinkByName(nl, ifname);
  if (!link) return;
  const steps = settingSteps(nl, link, differingSettings(link, saved.originals));
  runAll(steps.map((step) => [`restore ${step.label}`, step.apply]));
}

/** Every configured value, as the interface and the namespace have it now; reports all mismatches. */
function check(ctx: PluginContext): void {
  const { cfg } = parseChained(ctx);
  const name = cfg.link.ifname ?? ctx.env.ifname;
  const netns = openContainerNetns(ctx);
  withRtnlIn(netns, (nl) => {
    const link = containerLink(nl, name, ctx);
    const problems = [...sysctlMismatches(netns, cfg.sysctls, name), ...settingMismatches(link, cfg.link)];
    if (problems.length > 0) throw invalidConfig(problems.join("; "));
  });
}

export const tuning: Plugin = { add, del, check };
