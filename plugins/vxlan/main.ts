import { configureIface } from "../../lib/cni/configure-iface.ts";
import { delegate } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import type { IpConfig, Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { runAll, UndoStack } from "../../lib/cni/undo.ts";
import { checkVethOnBridge, deleteContainerVeth, withVethSockets, type VethSockets } from "../../lib/cni/veth-attachment.ts";
import { validAttachments } from "../../lib/cni/valid-attachments.ts";
import { setupGateways, withDefaultRoutes, withSubnetGateway } from "../../lib/host/gateways.ts";
import { listMasqueradeRules, queueMasquerade } from "../../lib/host/masquerade.ts";
import { createVethPair } from "../../lib/host/veth.ts";
import { formatIp, formatPrefix, parsePrefix, prefixContains, type IpAddress } from "../../lib/ip/address.ts";
import { NETLINK_ROUTE } from "../../lib/netlink/constants.ts";
import { NetlinkError, NetlinkSocket } from "../../lib/netlink/socket.ts";
import { deleteOwnedRules, NftTransaction, withNft, type RuleOwner } from "../../lib/nft/index.ts";
import { deleteLink, findLinkByName, setLink } from "../../lib/rtnl/links.ts";
import { routeGet } from "../../lib/rtnl/routes.ts";
import { parseVxlanConfig, remotePeers, type VxlanConfig } from "./config.ts";
import { checkHost, findUnderlay, overlayMtu, setupHost } from "./host.ts";

export const info: PluginInfo = {
  name: "vxlan",
  about: "connects the container to a local bridge joined to the other hosts' by a vxlan overlay (routed per-host subnets or one L2 segment)",
};

// result.interfaces: bridge, host veth, container veth (as the bridge plugin), then the vxlan device.
const CONTAINER_IF = 2;

function add(ctx: PluginContext): Result {
  const cfg = parseVxlanConfig(ctx.config, ctx.cniArgs);
  return withVethSockets(ctx, (s) => {
    const undo = new UndoStack();
    try {
      return addWithUndo(ctx, cfg, s, undo);
    } catch (e) {
      undo.unwind(ctx.log); // while the sockets are still open
      throw e;
    }
  });
}

function addWithUndo(ctx: PluginContext, cfg: VxlanConfig, s: VethSockets, undo: UndoStack): Result {
  const host = setupHost(s.host, cfg, ctx.log);
  const veth = createVethPair(s.container, s.host, { containerName: ctx.env.ifname, mtu: host.mtu, containerMac: cfg.mac, hostNetns: s.hostNetns });
  undo.push(`delete veth "${ctx.env.ifname}"`, () => deleteLink(s.container, veth.container.index, `veth "${ctx.env.ifname}"`));
  setLink(s.host, veth.host.index, { master: host.bridge.index, up: true }, `veth "${veth.host.name}"`);

  const result: Result = {
    cniVersion: ctx.cniVersion,
    interfaces: [
      { name: host.bridge.name, mac: host.bridge.mac, mtu: host.mtu },
      { name: veth.host.name, mac: veth.host.mac, mtu: host.mtu },
      { name: veth.container.name, mac: veth.container.mac, mtu: host.mtu, sandbox: ctx.env.netns },
      { name: host.device.name, mac: host.device.mac, mtu: host.mtu },
    ],
  };
  if (!cfg.ipamType) {
    setLink(s.container, veth.container.index, { up: true }, `veth "${veth.container.name}"`);
    if (cfg.dns) result.dns = cfg.dns;
    return result;
  }
  const ipamType = cfg.ipamType;
  const ipam = delegate(ctx, ipamType, "ADD");
  undo.push("release the IPAM lease", () => void delegate(ctx, ipamType, "DEL"));
  if (!ipam?.ips?.length) throw new CniError(CniCode.internal, `IPAM plugin "${ipamType}" returned no IP addresses`);
  result.ips = ipam.ips.map((ip) => withSubnetGateway(inSubnet({ ...ip, interface: CONTAINER_IF }, cfg)));
  result.routes = withDefaultRoutes(ipam.routes ?? [], result.ips);
  result.dns = cfg.dns ?? ipam.dns;
  configureIface({ netns: s.containerNetns, nl: s.container, index: veth.container.index, name: veth.container.name }, result, CONTAINER_IF);
  setupGateways(s.host, host.bridge, result.ips, true);
  if (cfg.ipMasq) addMasquerade(ctx, cfg, result.ips);
  return result;
}

const ownerOf = (ctx: PluginContext, cfg: VxlanConfig): RuleOwner => ({ net: cfg.network, id: ctx.env.containerId, ifname: ctx.env.ifname });

/** Source NAT for traffic that leaves the overlay: what goes out by the bridge or the vxlan device keeps its address. */
function addMasquerade(ctx: PluginContext, cfg: VxlanConfig, ips: IpConfig[]): void {
  withNft((conn) => {
    const tx = new NftTransaction();
    queueMasquerade(tx, ownerOf(ctx, cfg), ips.map((ip) => parsePrefix(ip.address)), { exceptOifnames: [cfg.bridge, cfg.device] });
    conn.commit(tx);
  });
}

/** Deletes masquerade rules of `owner` (found by their comments: no netns or prevResult needed) unless `keep`. */
function removeMasquerade(owner: Partial<RuleOwner>, keep?: (o: RuleOwner) => boolean): void {
  withNft((conn) => deleteOwnedRules(conn, listMasqueradeRules(conn, owner), keep));
}

/** Only addresses of `subnet` cross the overlay: routed mode routes it, l2 mode bridges it. */
function inSubnet(ip: IpConfig, cfg: VxlanConfig): IpConfig {
  const address = parsePrefix(ip.address).address;
  if (cfg.subnet && !prefixContains(cfg.subnet, address)) {
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `IPAM returned ${formatIp(address)}, which is outside "subnet" ${formatPrefix(cfg.subnet)}`,
      "the IPAM ranges must lie within the subnet",
    );
  }
  return ip;
}

function del(ctx: PluginContext): void {
  const cfg = parseVxlanConfig(ctx.config);
  const ipamType = cfg.ipamType;
  // The shared host state stays: other containers use it (GC reconciles it).
  runAll([
    ...(ipamType ? [["release the IPAM lease", () => void delegate(ctx, ipamType, "DEL")] as [string, () => void]] : []),
    [`delete veth "${ctx.env.ifname}"`, () => deleteContainerVeth(ctx, cfg.bridge)],
    ["remove nftables rules", () => removeMasquerade(ownerOf(ctx, cfg))],
  ]);
}

function check(ctx: PluginContext): void {
  const cfg = parseVxlanConfig(ctx.config);
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "CHECK");
  const prev = ctx.prevResult;
  if (!prev) throw new CniError(CniCode.invalidNetworkConfig, "required prevResult missing");
  withVethSockets(ctx, (s) => {
    const bridge = findLinkByName(s.host, cfg.bridge);
    if (!bridge || bridge.kind !== "bridge") throw new CniError(CniCode.invalidNetworkConfig, `bridge "${cfg.bridge}" not found`);
    checkHost(s.host, cfg, findLinkByName(s.host, cfg.device), bridge);
    checkVethOnBridge(ctx, s, bridge, prev);
  });
}

/**
 * Reconciles the peers (when the device exists: nothing to reconcile before the first ADD), IPAM's
 * GC, and deletes masquerade rules of attachments no longer valid.
 */
function gc(ctx: PluginContext): void {
  const cfg = parseVxlanConfig(ctx.config);
  const valid = validAttachments(ctx.config);
  runAll([
    [
      `reconcile the peers of "${cfg.device}"`,
      () =>
        withSocket((nl) => {
          if (findLinkByName(nl, cfg.device)) setupHost(nl, cfg, ctx.log, { full: true });
        }),
    ],
    ...(cfg.ipamType ? [["collect IPAM leases", () => void delegate(ctx, cfg.ipamType!, "GC")] as [string, () => void]] : []),
    ["remove stale nftables rules", () => removeMasquerade({ net: cfg.network }, (o) => valid.has(`${o.id}/${o.ifname}`))],
  ]);
}

/**
 * Not available (50) when the underlay is missing, down or too small, or the device name is taken
 * by another kind of link; limited connectivity (51) when the device is down or a peer has no
 * underlay route. Then IPAM's STATUS.
 */
function status(ctx: PluginContext): void {
  const cfg = parseVxlanConfig(ctx.config);
  withSocket((nl) => {
    const underlay = findUnderlay(nl, cfg, CniCode.pluginNotAvailable);
    const name = underlay.link.name;
    if (!underlay.link.up || underlay.link.operState === "down" || underlay.link.operState === "lowerlayerdown") {
      throw new CniError(CniCode.pluginNotAvailable, `underlay interface "${name}" is down`);
    }
    try {
      overlayMtu(cfg, underlay);
    } catch (e) {
      throw new CniError(CniCode.pluginNotAvailable, (e as CniError).message, (e as CniError).details);
    }
    const device = findLinkByName(nl, cfg.device);
    if (device && device.kind !== "vxlan") throw new CniError(CniCode.pluginNotAvailable, `"${cfg.device}" exists but is not a vxlan device`, `it is a ${device.kind ?? "device"} link`);
    if (device && !device.up) throw new CniError(CniCode.limitedConnectivity, `vxlan device "${cfg.device}" is down`);
    const unreachable = remotePeers(cfg, underlay.localIp).filter((p) => !hasRoute(nl, p.ip));
    if (unreachable.length > 0) {
      throw new CniError(CniCode.limitedConnectivity, `no underlay route to peer(s) ${unreachable.map((p) => formatIp(p.ip)).join(", ")}`);
    }
  });
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "STATUS");
}

function hasRoute(nl: NetlinkSocket, ip: IpAddress): boolean {
  try {
    return routeGet(nl, ip) !== undefined;
  } catch (e) {
    if (e instanceof NetlinkError) return false;
    throw e;
  }
}

function withSocket<T>(fn: (nl: NetlinkSocket) => T): T {
  const nl = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}

export const vxlan: Plugin = { add, del, check, gc, status };
