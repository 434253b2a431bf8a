import { checkChildLink, delChildLink, gcChildLink, statusChildLink } from "../../lib/cni/child-link-verbs.ts";
import { createChildLink, findMaster, withChildLinkSockets } from "../../lib/cni/child-link.ts";
import { configureIface } from "../../lib/cni/configure-iface.ts";
import { openContainerNetns } from "../../lib/cni/container-netns.ts";
import { delegate } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { UndoStack } from "../../lib/cni/undo.ts";
import { decodeIpvlanFlag, decodeIpvlanMode } from "../../lib/rtnl/kinds/ipvlan.ts";
import { deleteLink } from "../../lib/rtnl/links.ts";
import { parseConfig } from "./config.ts";

export const info: PluginInfo = { name: "ipvlan", about: "gives each container an ipvlan link on a master interface" };

function add(ctx: PluginContext): Result {
  const prev = ctx.prevResult;
  const cfg = parseConfig(ctx.config, prev);
  if (!cfg.ipamType && !prev?.ips?.length) {
    throw new CniError(CniCode.invalidNetworkConfig, 'ipvlan needs "ipam" or a prevResult with IP addresses');
  }
  const { ifname, netns } = ctx.env;
  return withChildLinkSockets(openContainerNetns(ctx), cfg.linkInContainer, (s) => {
    const master = findMaster(s.masterNl, cfg.master, cfg.linkInContainer ? "container" : "host");
    if (cfg.mtu !== undefined && cfg.mtu > master.mtu) {
      throw new CniError(CniCode.invalidNetworkConfig, `invalid MTU ${cfg.mtu}: must be at most the MTU of master "${master.name}" (${master.mtu})`);
    }
    const kind = { kind: "ipvlan", mode: cfg.mode, flag: cfg.flag } as const;
    const link = createChildLink({ ...s, kind, master, ifname, mtu: cfg.mtu });
    const undo = new UndoStack();
    undo.push(`delete ${kind.kind} "${ifname}"`, () => deleteLink(s.containerNl, link.index, `${kind.kind} "${ifname}"`));
    try {
      const ifaceIndex = prev?.interfaces?.length ?? 0;
      const result: Result = {
        ...prev,
        cniVersion: ctx.cniVersion,
        interfaces: [...(prev?.interfaces ?? []), { name: ifname, mac: link.mac, mtu: link.mtu, sandbox: netns }],
      };
      let addressing: Result;
      const ipamType = cfg.ipamType;
      if (ipamType) {
        const ipam = delegate(ctx, ipamType, "ADD");
        undo.push("release the IPAM lease", () => void delegate(ctx, ipamType, "DEL"));
        const ips = (ipam?.ips ?? []).map((ip) => ({ ...ip, interface: ifaceIndex }));
        if (ips.length === 0) throw new CniError(CniCode.internal, `IPAM plugin "${ipamType}" returned no IP addresses`);
        const routes = ipam?.routes ?? [];
        addressing = { cniVersion: ctx.cniVersion, ips, routes };
        result.ips = [...(prev?.ips ?? []), ...ips];
        result.routes = [...(prev?.routes ?? []), ...routes];
        const dns = cfg.dns ?? ipam?.dns ?? prev?.dns;
        if (dns) result.dns = dns;
      } else {
        // Chained: the addresses prevResult reported move to this link.
        result.ips = (prev?.ips ?? []).map((ip) => ({ ...ip, interface: ifaceIndex }));
        addressing = result;
        if (cfg.dns) result.dns = cfg.dns;
      }
      configureIface({ netns: s.container, nl: s.containerNl, index: link.index, name: ifname }, addressing, ifaceIndex);
      return result;
    } catch (e) {
      undo.unwind(ctx.log);
      throw e;
    }
  });
}

function check(ctx: PluginContext): void {
  // prevResult here is this plugin's own result: without our interface it is what ADD was chained on.
  const prev = ctx.prevResult;
  const chainedOn = prev && { ...prev, interfaces: prev.interfaces?.filter((i) => i.name !== ctx.env.ifname || i.sandbox !== ctx.env.netns) };
  const cfg = parseConfig(ctx.config, chainedOn?.interfaces?.length ? chainedOn : undefined);
  checkChildLink(ctx, cfg, (link) => {
    if (link.kind !== "ipvlan") return `is a ${link.kind ?? "plain"} link, not an ipvlan`;
    const mode = decodeIpvlanMode(link.kindData);
    if (mode !== cfg.mode) return `has ipvlan mode ${mode ?? "unknown"}, not ${cfg.mode}`;
    const flag = decodeIpvlanFlag(link.kindData);
    if (cfg.flag && flag !== cfg.flag) return `has ipvlan flag ${flag ?? "unknown"}, not ${cfg.flag}`;
    return undefined;
  });
}

export const ipvlan: Plugin = {
  add,
  del: (ctx) => delChildLink(ctx, "ipvlan"),
  check,
  gc: gcChildLink,
  // Without "master" the master may come from a prevResult, which STATUS does not get: nothing to check then.
  status: (ctx) => statusChildLink(ctx, parseConfig(ctx.config, undefined), { defaultMaster: false }),
};
