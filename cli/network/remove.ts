import { rmSync } from "node:fs";
import { NETLINK_ROUTE } from "../../lib/netlink/constants.ts";
import { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { deleteLink, findLinkByName, listLinks } from "../../lib/rtnl/links.ts";
import { delNetworkList, loadNetworkList, readNetworkDir, type CachedAttachment } from "../../lib/runtime/index.ts";
import { CliError, runtimeOf, type CliContext, type Settings } from "../context.ts";
import { attachmentsOf } from "./attachments.ts";

export interface RemoveOutcome {
  path: string;
  /** Attachments DELed first (--force). */
  disconnected: CachedAttachment[];
  /** Bridges deleted because no network uses them any more and nothing is plugged into them. */
  bridges: string[];
}

/**
 * Deletes the network's file. Refuses while the cache lists attachments, unless `force`, which
 * DELs them first (all of them, reporting every failure; the file stays if one fails).
 */
export function removeNetwork(ctx: CliContext, settings: Settings, name: string, force: boolean): RemoveOutcome {
  const file = loadNetworkList(settings.confDir, name);
  const attachments = attachmentsOf(settings, name);
  if (attachments.length > 0 && !force) {
    const which = attachments.map((a) => `${a.netns || a.containerId} (${a.ifName})`).join(", ");
    throw new CliError(`network "${name}" has ${attachments.length} attachment(s): ${which}; disconnect them or use --force`);
  }
  const opts = runtimeOf(ctx, settings);
  const failures: string[] = [];
  for (const a of attachments) {
    try {
      delNetworkList(opts, file.list, a);
    } catch (e) {
      failures.push(`${a.netns || a.containerId} (${a.ifName}): ${(e as Error).message}`);
    }
  }
  if (failures.length > 0) throw new CliError(`network "${name}" kept: disconnecting failed for ${failures.join("; ")}`);
  rmSync(file.path);
  return { path: file.path, disconnected: attachments, bridges: removeUnusedBridges(settings, bridgesOf(file.list.plugins)) };
}

function bridgesOf(plugins: Array<Record<string, unknown>>): string[] {
  return plugins.filter((p) => p.type === "bridge").map((p) => (typeof p.bridge === "string" ? p.bridge : "cni0"));
}

/** `ip link del <bridge>` for each bridge that no remaining network names and that has no ports. */
function removeUnusedBridges(settings: Settings, bridges: string[]): string[] {
  const stillNamed = new Set(readNetworkDir(settings.confDir).networks.flatMap((n) => bridgesOf(n.list.plugins)));
  const candidates = bridges.filter((b) => !stillNamed.has(b));
  if (candidates.length === 0) return [];
  const nl = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    const removed: string[] = [];
    for (const name of candidates) {
      const link = findLinkByName(nl, name);
      if (!link || link.kind !== "bridge" || listLinks(nl).some((l) => l.master === link.index)) continue;
      deleteLink(nl, link.index, `bridge "${name}"`);
      removed.push(name);
    }
    return removed;
  } finally {
    nl.close();
  }
}
