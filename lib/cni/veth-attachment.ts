import { NETLINK_ROUTE } from "../netlink/constants.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { openNetns, type Netns } from "../netns/netns.ts";
import { openRtnlIn, withRtnlIn } from "../netns/sockets.ts";
import { deleteLinkIfPresent, findLinkByIndex, findLinkByName, type Link } from "../rtnl/links.ts";
import { checkIfaceConfig } from "./configure-iface.ts";
import { openContainerNetns, openContainerNetnsIfPresent } from "./container-netns.ts";
import { CniCode, CniError } from "./errors.ts";
import type { Result } from "./result.ts";
import type { PluginContext } from "./skel.ts";

// A container attached to a host bridge by a veth pair (bridge, vxlan): what ADD, DEL and CHECK share.

/** Sockets for one invocation: the host netns (where the plugin runs) and the container's. */
export interface VethSockets {
  hostNetns: Netns;
  host: NetlinkSocket;
  containerNetns: Netns;
  container: NetlinkSocket;
}

/** Opens CNI_NETNS (code 3 when missing) and both sockets, runs `fn`, closes them. */
export function withVethSockets<T>(ctx: PluginContext, fn: (s: VethSockets) => T): T {
  const containerNetns = openContainerNetns(ctx);
  const hostNetns = openNetns("/proc/thread-self/ns/net");
  const host = NetlinkSocket.open(NETLINK_ROUTE);
  const container = openRtnlIn(containerNetns);
  try {
    return fn({ hostNetns, host, containerNetns, container });
  } finally {
    container.close();
    host.close();
    hostNetns.close();
    containerNetns.close();
  }
}

/**
 * DEL: `ip -n <container> link del <CNI_IFNAME>` (the host end goes with it). When the container
 * netns is already gone, the host end named in prevResult is deleted if it is still a veth port of
 * `bridge`: the kernel tears a deleted netns down asynchronously, and a netns kept alive by
 * something else would otherwise leave the port on the bridge.
 */
export function deleteContainerVeth(ctx: PluginContext, bridge: string): void {
  const netns = openContainerNetnsIfPresent(ctx);
  if (!netns) return deleteHostEnds(ctx, bridge);
  withRtnlIn(netns, (nl) => {
    const link = findLinkByName(nl, ctx.env.ifname);
    if (link) deleteLinkIfPresent(nl, link.index, `veth "${ctx.env.ifname}"`);
  });
}

function deleteHostEnds(ctx: PluginContext, bridge: string): void {
  const names = (ctx.prevResult?.interfaces ?? []).filter((i) => !i.sandbox && i.name !== bridge).map((i) => i.name);
  if (!names.length) return;
  const nl = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    const master = findLinkByName(nl, bridge);
    for (const name of names) {
      const link = findLinkByName(nl, name);
      // The kernel may take it between the lookup and the delete: the netns teardown is asynchronous.
      if (link?.kind === "veth" && master && link.master === master.index) deleteLinkIfPresent(nl, link.index, `veth "${name}"`);
    }
  } finally {
    nl.close();
  }
}

const checkFailed = (msg: string) => new CniError(CniCode.invalidNetworkConfig, msg);

/**
 * CHECK: CNI_IFNAME is in `prev` with this sandbox, is a veth in the container with prev's MAC,
 * its host end is a port of `bridge`, and prev's addresses and routes are on it.
 */
export function checkVethOnBridge(ctx: PluginContext, s: VethSockets, bridge: Link, prev: Result): void {
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === ctx.env.ifname && i.sandbox === ctx.env.netns);
  if (index < 0) throw checkFailed(`interface "${ctx.env.ifname}" with sandbox "${ctx.env.netns}" not in prevResult`);
  const link = findLinkByName(s.container, ctx.env.ifname);
  if (!link || link.kind !== "veth") throw checkFailed(`veth "${ctx.env.ifname}" not found in the container`);
  const wantMac = prev.interfaces?.[index]?.mac;
  if (wantMac && link.mac !== wantMac.toLowerCase()) throw checkFailed(`veth "${ctx.env.ifname}" has MAC ${link.mac}, prevResult says ${wantMac}`);
  const peer = link.parentIndex === undefined ? undefined : findLinkByIndex(s.host, link.parentIndex);
  if (!peer || peer.master !== bridge.index) throw checkFailed(`the host end of "${ctx.env.ifname}" is not a port of bridge "${bridge.name}"`);
  checkIfaceConfig({ netns: s.containerNetns, nl: s.container, index: link.index, name: link.name }, prev, index);
}
