import { checkChildLink, delChildLink, gcChildLink, macProblem, statusChildLink } from "../../lib/cni/child-link-verbs.ts";
import { createChildLink, findMaster, withChildLinkSockets } from "../../lib/cni/child-link.ts";
import { configureIface } from "../../lib/cni/configure-iface.ts";
import { openContainerNetns } from "../../lib/cni/container-netns.ts";
import { delegate } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { UndoStack } from "../../lib/cni/undo.ts";
import { decodeMacvlanMode } from "../../lib/rtnl/kinds/macvlan.ts";
import { deleteLink, setLink } from "../../lib/rtnl/links.ts";
import { parseConfig } from "./config.ts";

export const info: PluginInfo = { name: "macvlan", about: "gives each container a macvlan link on a master interface" };

function add(ctx: PluginContext): Result {
  const cfg = parseConfig(ctx.config, ctx.cniArgs);
  const { ifname, netns } = ctx.env;
  return withChildLinkSockets(openContainerNetns(ctx), cfg.linkInContainer, (s) => {
    const master = findMaster(s.masterNl, cfg.master, cfg.linkInContainer ? "container" : "host");
    if (cfg.mtu !== undefined && cfg.mtu > master.mtu) {
      throw new CniError(CniCode.invalidNetworkConfig, `invalid MTU ${cfg.mtu}: must be at most the MTU of master "${master.name}" (${master.mtu})`);
    }
    const kind = { kind: "macvlan", mode: cfg.mode, broadcastQueueLength: cfg.bcqueuelen } as const;
    const link = createChildLink({ ...s, kind, master, ifname, mtu: cfg.mtu, mac: cfg.mac });
    const undo = new UndoStack();
    undo.push(`delete ${kind.kind} "${ifname}"`, () => deleteLink(s.containerNl, link.index, `${kind.kind} "${ifname}"`));
    try {
      const prev = ctx.prevResult;
      const ifaceIndex = prev?.interfaces?.length ?? 0;
      const result: Result = {
        ...prev,
        cniVersion: ctx.cniVersion,
        interfaces: [...(prev?.interfaces ?? []), { name: ifname, mac: link.mac, mtu: link.mtu, sandbox: netns }],
      };
      const ipamType = cfg.ipamType;
      if (!ipamType) {
        setLink(s.containerNl, link.index, { up: true }, `macvlan "${ifname}"`);
        if (cfg.dns) result.dns = cfg.dns;
        return result;
      }
      const ipam = delegate(ctx, ipamType, "ADD");
      undo.push("release the IPAM lease", () => void delegate(ctx, ipamType, "DEL"));
      const ips = (ipam?.ips ?? []).map((ip) => ({ ...ip, interface: ifaceIndex }));
      if (ips.length === 0) throw new CniError(CniCode.internal, `IPAM plugin "${ipamType}" returned no IP addresses`);
      const routes = ipam?.routes ?? [];
      configureIface({ netns: s.container, nl: s.containerNl, index: link.index, name: ifname }, { cniVersion: ctx.cniVersion, ips, routes }, ifaceIndex);
      result.ips = [...(prev?.ips ?? []), ...ips];
      result.routes = [...(prev?.routes ?? []), ...routes];
      const dns = cfg.dns ?? ipam?.dns ?? prev?.dns;
      if (dns) result.dns = dns;
      return result;
    } catch (e) {
      undo.unwind(ctx.log);
      throw e;
    }
  });
}

function check(ctx: PluginContext): void {
  const cfg = parseConfig(ctx.config, ctx.cniArgs);
  checkChildLink(ctx, cfg, (link) => {
    if (link.kind !== "macvlan") return `is a ${link.kind ?? "plain"} link, not a macvlan`;
    const mode = decodeMacvlanMode(link.kindData);
    if (mode !== cfg.mode) return `has macvlan mode ${mode ?? "unknown"}, not ${cfg.mode}`;
    return macProblem(link, cfg.mac);
  });
}

export const macvlan: Plugin = {
  add,
  del: (ctx) => delChildLink(ctx, "macvlan"),
  check,
  gc: gcChildLink,
  status: (ctx) => statusChildLink(ctx, parseConfig(ctx.config), { defaultMaster: true }),
};
