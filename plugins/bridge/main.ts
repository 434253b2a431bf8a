import { checkIfaceConfig, configureIface } from "../../lib/cni/configure-iface.ts";
import { openContainerNetns, openContainerNetnsIfPresent } from "../../lib/cni/container-netns.ts";
import { delegate } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import type { Interface, IpConfig, Result, Route } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { runAll, UndoStack } from "../../lib/cni/undo.ts";
import { ensureBridge, ensureGatewayAddress } from "../../lib/host/bridge.ts";
import { createVethPair } from "../../lib/host/veth.ts";
import { addToIp, formatIp, networkOf, parseIp, parsePrefix, type Family } from "../../lib/ip/address.ts";
import { NETLINK_ROUTE } from "../../lib/netlink/constants.ts";
import { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { openNetns, type Netns } from "../../lib/netns/netns.ts";
import { openRtnlIn } from "../../lib/netns/sockets.ts";
import { ensureSysctl } from "../../lib/netns/sysctl.ts";
import { addPortVlans, deletePortVlans, type PortVlan } from "../../lib/rtnl/bridge-vlan.ts";
import { deleteLink, findLinkByIndex, findLinkByName, setLink, type Link } from "../../lib/rtnl/links.ts";
import { parseBridgeConfig, type BridgeConfig } from "./config.ts";

export const info: PluginInfo = { name: "bridge", about: "connects the container to a Linux bridge on the host through a veth pair" };

// Indexes into result.interfaces, as the reference plugin orders them.
const BRIDGE_IF = 0;
const HOST_VETH_IF = 1;
const CONTAINER_IF = 2;

/** Sockets for one invocation: the host netns (where the plugin runs) and the container's. */
interface Sockets {
  hostNetns: Netns;
  host: NetlinkSocket;
  containerNetns: Netns;
  container: NetlinkSocket;
}

function withSockets<T>(ctx: PluginContext, fn: (s: Sockets) => T): T {
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

function add(ctx: PluginContext): Result {
  const cfg = parseBridgeConfig(ctx.config, ctx.cniArgs);
  return withSockets(ctx, (s) => {
    const undo = new UndoStack();
    try {
      return addWithUndo(ctx, cfg, s, undo);
    } catch (e) {
      undo.unwind(ctx.log); // while the sockets are still open
      throw e;
    }
  });
}

function addWithUndo(ctx: PluginContext, cfg: BridgeConfig, s: Sockets, undo: UndoStack): Result {
  const vlanFiltering = cfg.vlan !== undefined || cfg.vlanTrunk.length > 0;
  const bridge = ensureBridge(s.host, { name: cfg.bridge, mtu: cfg.mtu, promisc: cfg.promiscMode, vlanFiltering: vlanFiltering || undefined });
  const veth = createVethPair(s.container, s.host, {
    containerName: ctx.env.ifname,
    mtu: cfg.mtu,
    containerMac: cfg.mac,
    hostNetns: s.hostNetns,
  });
  undo.push(`delete veth "${ctx.env.ifname}"`, () => deleteLink(s.container, veth.container.index, `veth "${ctx.env.ifname}"`));

  setLink(s.host, veth.host.index, { master: bridge.index, up: true, bridgePort: portSettings(cfg) }, `veth "${veth.host.name}"`);
  if (vlanFiltering) setPortVlans(s.host, veth.host, cfg);

  const result: Result = {
    cniVersion: ctx.cniVersion,
    interfaces: [
      { name: bridge.name, mac: bridge.mac },
      { name: veth.host.name, mac: veth.host.mac },
      { name: veth.container.name, mac: veth.container.mac, sandbox: ctx.env.netns },
    ],
  };
  const containerLink = { netns: s.containerNetns, nl: s.container, index: veth.container.index, name: veth.container.name };

  if (cfg.ipamType) {
    const ipamType = cfg.ipamType;
    const ipam = delegate(ctx, ipamType, "ADD");
    undo.push("release the IPAM lease", () => void delegate(ctx, ipamType, "DEL"));
    if (!ipam?.ips?.length) throw new CniError(CniCode.internal, `IPAM plugin "${ipamType}" returned no IP addresses`);
    result.ips = ipam.ips.map((ip) => withGateway({ ...ip, interface: CONTAINER_IF }, cfg));
    result.routes = withDefaultRoutes(ipam.routes ?? [], result.ips, cfg);
    result.dns = cfg.dns ?? ipam.dns;
    configureIface(containerLink, result, CONTAINER_IF, { dad: cfg.enableDad });
    if (cfg.isGateway) setupGateways(s.host, bridge, result.ips, cfg);
  } else if (!cfg.disableContainerInterface) {
    setLink(s.container, veth.container.index, { up: true }, `veth "${veth.container.name}"`);
  }
  if (cfg.dns && !cfg.ipamType) result.dns = cfg.dns;
  finishInterfaces(s, result);
  return result;
}

function portSettings(cfg: BridgeConfig) {
  return cfg.hairpinMode || cfg.portIsolation ? { hairpin: cfg.hairpinMode, isolated: cfg.portIsolation } : undefined;
}

/** Access VLAN (`vlan`) and trunk VLANs (`vlanTrunk`) on the host end of the veth. */
function setPortVlans(nl: NetlinkSocket, port: Link, cfg: BridgeConfig): void {
  const what = `veth "${port.name}"`;
  if (!cfg.preserveDefaultVlan) deletePortVlans(nl, port.index, [1], what);
  const vlans: PortVlan[] = [];
  if (cfg.vlan !== undefined) vlans.push({ vid: cfg.vlan, pvid: true, untagged: true });
  else if (cfg.vlanTrunk.length > 0) vlans.push({ vid: 1, pvid: true, untagged: true });
  for (const range of cfg.vlanTrunk) for (let vid = range.min; vid <= range.max; vid++) vlans.push({ vid });
  addPortVlans(nl, port.index, vlans, what);
}

/** With isGateway and no gateway from IPAM, the gateway is the subnet's first address (reference behaviour). */
function withGateway(ip: IpConfig, cfg: BridgeConfig): IpConfig {
  if (ip.gateway || !cfg.isGateway) return ip;
  const prefix = parsePrefix(ip.address);
  return { ...ip, gateway: formatIp(addToIp(networkOf(prefix), 1n)) };
}

/** isDefaultGateway adds a default route per family unless IPAM already gave one. */
function withDefaultRoutes(routes: Route[], ips: IpConfig[], cfg: BridgeConfig): Route[] {
  if (!cfg.isDefaultGateway) return routes;
  const out = [...routes];
  for (const family of [4, 6] as Family[]) {
    const gw = ips.find((ip) => ip.gateway && parseIp(ip.gateway).family === family)?.gateway;
    const dst = family === 4 ? "0.0.0.0/0" : "::/0";
    if (gw && !out.some((r) => r.dst === dst)) out.push({ dst, gw });
  }
  return out;
}

/** Gateway addresses on the bridge and forwarding on for their families. */
function setupGateways(nl: NetlinkSocket, bridge: Link, ips: IpConfig[], cfg: BridgeConfig): void {
  const families = new Set<Family>();
  for (const ip of ips) {
    if (!ip.gateway) continue;
    const gateway = parseIp(ip.gateway);
    ensureGatewayAddress(nl, bridge, { address: gateway, prefixLength: parsePrefix(ip.address).prefixLength }, cfg.forceAddress);
    families.add(gateway.family);
  }
  if (families.has(4)) ensureSysctl("net/ipv4/ip_forward", "1");
  if (families.has(6)) ensureSysctl("net/ipv6/conf/all/forwarding", "1");
}

/** Fills MACs and MTUs as the kernel has them now (the bridge's MAC can change as ports join). */
function finishInterfaces(s: Sockets, result: Result): void {
  const interfaces = result.interfaces as Interface[];
  const read = (i: number, nl: NetlinkSocket) => {
    const iface = interfaces[i]!;
    const link = findLinkByName(nl, iface.name);
    if (link?.mac) iface.mac = link.mac;
    if (link?.mtu) iface.mtu = link.mtu;
  };
  read(BRIDGE_IF, s.host);
  read(HOST_VETH_IF, s.host);
  read(CONTAINER_IF, s.container);
}

function del(ctx: PluginContext): void {
  const cfg = parseBridgeConfig(ctx.config);
  const ipamType = cfg.ipamType;
  runAll([
    ...(ipamType ? [["release the IPAM lease", () => void delegate(ctx, ipamType, "DEL")] as [string, () => void]] : []),
    [`delete veth "${ctx.env.ifname}"`, () => deleteContainerVeth(ctx)],
  ]);
}

function deleteContainerVeth(ctx: PluginContext): void {
  const netns = openContainerNetnsIfPresent(ctx);
  if (!netns) return;
  try {
    const nl = openRtnlIn(netns);
    try {
      const link = findLinkByName(nl, ctx.env.ifname);
      if (link) deleteLink(nl, link.index, `veth "${ctx.env.ifname}"`);
    } finally {
      nl.close();
    }
  } finally {
    netns.close();
  }
}

function check(ctx: PluginContext): void {
  const cfg = parseBridgeConfig(ctx.config);
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "CHECK");
  const prev = ctx.prevResult;
  if (!prev) throw new CniError(CniCode.invalidNetworkConfig, "required prevResult missing");
  withSockets(ctx, (s) => {
    const bridge = findLinkByName(s.host, cfg.bridge);
    if (!bridge || bridge.kind !== "bridge") throw checkFailed(`bridge "${cfg.bridge}" not found`);
    if (cfg.promiscMode !== bridge.promiscuity > 0) throw checkFailed(`bridge "${cfg.bridge}" promiscuous mode is not ${cfg.promiscMode}`);
    const index = (prev.interfaces ?? []).findIndex((i) => i.name === ctx.env.ifname && i.sandbox === ctx.env.netns);
    if (index < 0) throw checkFailed(`interface "${ctx.env.ifname}" with sandbox "${ctx.env.netns}" not in prevResult`);
    const link = findLinkByName(s.container, ctx.env.ifname);
    if (!link || link.kind !== "veth") throw checkFailed(`veth "${ctx.env.ifname}" not found in the container`);
    const wantMac = prev.interfaces?.[index]?.mac;
    if (wantMac && link.mac !== wantMac.toLowerCase()) throw checkFailed(`veth "${ctx.env.ifname}" has MAC ${link.mac}, prevResult says ${wantMac}`);
    const peer = link.parentIndex === undefined ? undefined : findLinkByIndex(s.host, link.parentIndex);
    if (!peer || peer.master !== bridge.index) throw checkFailed(`the host end of "${ctx.env.ifname}" is not a port of bridge "${cfg.bridge}"`);
    checkIfaceConfig({ netns: s.containerNetns, nl: s.container, index: link.index, name: link.name }, prev, index);
  });
}

const checkFailed = (msg: string) => new CniError(CniCode.invalidNetworkConfig, msg);

function gc(ctx: PluginContext): void {
  const cfg = parseBridgeConfig(ctx.config);
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "GC");
}

function status(ctx: PluginContext): void {
  const cfg = parseBridgeConfig(ctx.config);
  const nl = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    const link = findLinkByName(nl, cfg.bridge);
    if (link && link.kind !== "bridge") {
      throw new CniError(CniCode.pluginNotAvailable, `"${cfg.bridge}" exists but is not a bridge`, `it is a ${link.kind ?? "device"} link`);
    }
  } finally {
    nl.close();
  }
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "STATUS");
}

export const bridge: Plugin = { add, del, check, gc, status };
