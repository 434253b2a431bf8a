import { formatMac } from "../ip/mac.ts";
import { NETLINK_ROUTE } from "../netlink/constants.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { findLinkByName, type Link } from "../rtnl/links.ts";
import { deleteChildLink, findMaster, withChildLinkSockets } from "./child-link.ts";
import { checkIfaceConfig } from "./configure-iface.ts";
import { openContainerNetns, openContainerNetnsIfPresent } from "./container-netns.ts";
import { delegate, ipamType } from "./delegate.ts";
import { CniCode, CniError, toCniError } from "./errors.ts";
import type { PluginContext } from "./skel.ts";

// The verbs macvlan and ipvlan share: everything but ADD and the kind-specific part of CHECK.

/** What the verbs need from a macvlan/ipvlan config. */
export interface ChildLinkConfig {
  master: string | undefined;
  linkInContainer: boolean;
  ipamType: string | undefined;
}

/** Undoes a failed ADD: IPAM DEL when a lease was taken, then `undoLink`. Failures are logged only. */
export function rollbackAdd(ctx: PluginContext, leasedFrom: string | undefined, undoLink: () => void): void {
  const steps: Array<[string, () => void]> = [["delete the link", undoLink]];
  if (leasedFrom) steps.unshift(["release the IPAM lease", () => void delegate(ctx, leasedFrom, "DEL")]);
  for (const [what, undo] of steps) {
    try {
      undo();
    } catch (e) {
      ctx.log(`rollback after a failed ADD: failed to ${what}: ${(e as Error).message}`);
    }
  }
}

/**
 * DEL: IPAM DEL, then the link of `kind` named CNI_IFNAME in the container netns when both still
 * exist. Both steps run whatever the other did; a failure of either is reported, both together.
 */
export function delChildLink(ctx: PluginContext, kind: string): void {
  const failures: CniError[] = [];
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      failures.push(toCniError(e));
    }
  };
  const type = ipamType(ctx.config);
  if (type) attempt(() => void delegate(ctx, type, "DEL"));
  attempt(() => {
    const netns = openContainerNetnsIfPresent(ctx);
    if (netns) withChildLinkSockets(netns, true, (s) => deleteChildLink(s.containerNl, ctx.env.ifname, kind));
  });
  const [first] = failures;
  if (!first) return;
  if (failures.length === 1) throw first;
  throw new CniError(first.code, failures.map((f) => f.message).join("; "), failures.flatMap((f) => (f.details ? [f.details] : [])).join("; ") || undefined);
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
  const index = prev.interfaces?.findIndex((i) => i.name === ifname && (i.sandbox ?? "") !== "") ?? -1;
  const iface = prev.interfaces?.[index];
  if (!iface) throw new CniError(CniCode.invalidNetworkConfig, `interface "${ifname}" not found in prevResult`);
  if (iface.sandbox !== netns) {
    throw new CniError(CniCode.invalidNetworkConfig, `interface "${ifname}" has sandbox "${iface.sandbox}" in prevResult, not "${netns}"`);
  }
  withChildLinkSockets(openContainerNetns(ctx), cfg.linkInContainer, (s) => {
    const master = findMaster(s.masterNl, cfg.master, cfg.linkInContainer ? "container" : "host");
    const link = findLinkByName(s.containerNl, ifname);
    const problem = !link
      ? "does not exist"
      : (checkKind(link) ??
        (link.parentIndex !== master.index
          ? `is not on master "${master.name}"`
          : iface.mac && link.mac !== iface.mac.toLowerCase()
            ? `has MAC ${link.mac}, not ${iface.mac} as in prevResult`
            : undefined));
    if (problem) throw new CniError(CniCode.invalidNetworkConfig, `interface "${ifname}" in the container ${problem}`);
    checkIfaceConfig({ netns: s.container, nl: s.containerNl, index: link!.index, name: ifname }, prev, index);
  });
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

/** STATUS: the master exists in the host netns (when it lives there), then IPAM STATUS. Code 50 otherwise. */
export function statusChildLink(ctx: PluginContext, cfg: ChildLinkConfig): void {
  if (!cfg.linkInContainer) {
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
