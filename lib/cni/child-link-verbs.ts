import { formatMac } from "../ip/mac.ts";
import { NETLINK_ROUTE } from "../netlink/constants.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { withRtnlIn } from "../netns/sockets.ts";
import { findLinkByName, type Link } from "../rtnl/links.ts";
import { deleteChildLink, findMaster, withChildLinkSockets } from "./child-link.ts";
import { checkIfaceConfig } from "./configure-iface.ts";
import { openContainerNetns, openContainerNetnsIfPresent } from "./container-netns.ts";
import { delegate, ipamType } from "./delegate.ts";
import { CniCode, CniError, toCniError } from "./errors.ts";
import { runAll } from "./undo.ts";
import type { PluginContext } from "./skel.ts";

// The verbs macvlan and ipvlan share: everything but ADD and the kind-specific part of CHECK.

/** What the verbs need from a macvlan/ipvlan config. */
export interface ChildLinkConfig {
  master: string | undefined;
  linkInContainer: boolean;
  ipamType: string | undefined;
}

/**
 * DEL: IPAM DEL, then the link of `kind` named CNI_IFNAME in the container netns when that still
 * exists. Both steps run whatever the other did; failures are reported together.
 */
export function delChildLink(ctx: PluginContext, kind: string): void {
  const type = ipamType(ctx.config);
  runAll([
    ["release the IPAM lease", () => void (type && delegate(ctx, type, "DEL"))],
    [
      `delete the ${kind} link`,
      () => {
        const netns = openContainerNetnsIfPresent(ctx);
        if (netns) withRtnlIn(netns, (nl) => deleteChildLink(nl, ctx.env.ifname, kind));
      },
    ],
  ]);
}

/**
 * CHECK: IPAM CHECK; the interface is in prevResult with this sandbox; the master exists; the link
 * exists on that master with prevResult's MAC and passes `checkKind` (which returns what is wrong);
 * prevResult's addresses and routes for it are in place.
 */
export function checkChildLink(ctx: PluginContext, cfg: ChildLinkConfig, checkKind: (link: Link) => string | undefined): void {
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "CHECK");
  const prev = ctx.prevResult;
  if (!prev) throw new CniError(CniCode.invalidNetworkConfig, "CHECK needs prevResult");
  const { ifname, netns } = ctx.env;
  const index = prev.interfaces?.findIndex((i) => i.name === ifname && i.sandbox === netns) ?? -1;
  const iface = prev.interfaces?.[index];
  if (!iface) {
    const elsewhere = prev.interfaces?.find((i) => i.name === ifname);
    throw new CniError(
      CniCode.invalidNetworkConfig,
      elsewhere
        ? `interface "${ifname}" has sandbox "${elsewhere.sandbox ?? ""}" in prevResult, not "${netns}"`
        : `interface "${ifname}" not found in prevResult`,
    );
  }
  withChildLinkSockets(openContainerNetns(ctx), cfg.linkInContainer, (s) => {
    const master = findMaster(s.masterNl, cfg.master, cfg.linkInContainer ? "container" : "host");
    const link = findLinkByName(s.containerNl, ifname);
    const problem = link ? linkProblem(link, master, iface.mac, checkKind) : "does not exist";
    if (problem || !link) throw new CniError(CniCode.invalidNetworkConfig, `interface "${ifname}" in the container ${problem}`);
    checkIfaceConfig({ netns: s.container, nl: s.containerNl, index: link.index, name: ifname }, prev, index);
  });
}

function linkProblem(link: Link, master: Link, mac: string | undefined, checkKind: (link: Link) => string | undefined): string | undefined {
  const kindProblem = checkKind(link);
  if (kindProblem) return kindProblem;
  if (link.parentIndex !== master.index) return `is not on master "${master.name}"`;
  if (mac && link.mac !== mac.toLowerCase()) return `has MAC ${link.mac}, not ${mac} as in prevResult`;
  return undefined;
}

/** CHECK helper: the configured MAC, if any, is the link's. */
export function macProblem(link: Link, mac: Uint8Array | undefined): string | undefined {
  if (!mac || link.mac === formatMac(mac)) return undefined;
  return `has MAC ${link.mac}, not the configured ${formatMac(mac)}`;
}

/** GC: the IPAM plugin releases leases of attachments not in `cni.dev/valid-attachments`. */
export function gcChildLink(ctx: PluginContext): void {
  const type = ipamType(ctx.config);
  if (type) delegate(ctx, type, "GC");
}

/**
 * STATUS: the master exists in the host netns (when it lives there; without `master`, when
 * `defaultMaster` says the default route's link would be taken), then IPAM STATUS. Code 50 otherwise.
 */
export function statusChildLink(ctx: PluginContext, cfg: ChildLinkConfig, { defaultMaster }: { defaultMaster: boolean }): void {
  if (!cfg.linkInContainer && (cfg.master !== undefined || defaultMaster)) {
    const nl = NetlinkSocket.open(NETLINK_ROUTE);
    try {
      findMaster(nl, cfg.master, "host");
    } catch (e) {
      const err = toCniError(e);
      throw new CniError(CniCode.pluginNotAvailable, err.message, err.details);
    } finally {
      nl.close();
    }
  }
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "STATUS");
}
