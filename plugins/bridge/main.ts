import { configureIface } from "../../lib/cni/configure-iface.ts";
import { delegate } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import type { Interface, IpConfig, Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { runAll, UndoStack } from "../../lib/cni/undo.ts";
import { checkVethOnBridge, deleteContainerVeth, withVethSockets, type VethSockets } from "../../lib/cni/veth-attachment.ts";
import { validAttachments } from "../../lib/cni/valid-attachments.ts";
import { ensureBridge } from "../../lib/host/bridge.ts";
import { isIsolated, queueIsolation } from "../../lib/host/isolation.ts";
import { listMacSpoofRules, queueMacSpoofCheck } from "../../lib/host/mac-spoof-check.ts";
import { listMasqueradeRules, queueMasquerade } from "../../lib/host/masquerade.ts";
import { parsePrefix } from "../../lib/ip/address.ts";
import { deleteOwnedRules, NftTransaction, withNft, type NftConnection, type RuleOwner } from "../../lib/nft/index.ts";
import { setupGateways, withDefaultRoutes, withSubnetGateway } from "../../lib/host/gateways.ts";
import { createVethPair } from "../../lib/host/veth.ts";
import { NETLINK_ROUTE } from "../../lib/netlink/constants.ts";
import { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { addPortVlans, deletePortVlans, type PortVlan } from "../../lib/rtnl/bridge-vlan.ts";
import { deleteLink, findLinkByName, setLink, type Link } from "../../lib/rtnl/links.ts";
import { parseBridgeConfig, type BridgeConfig } from "./config.ts";

export const info: PluginInfo = { name: "bridge", about: "connects the container to a Linux bridge on the host through a veth pair" };

// Indexes into result.interfaces, as the reference plugin orders them.
const BRIDGE_IF = 0;
const HOST_VETH_IF = 1;
const CONTAINER_IF = 2;

const needsRules = (cfg: BridgeConfig): boolean => cfg.ipMasq || cfg.isolation || cfg.macSpoofCheck;

function add(ctx: PluginContext): Result {
  const cfg = parseBridgeConfig(ctx.config, ctx.cniArgs);
  const run = (nft: NftConnection | undefined) =>
    withVethSockets(ctx, (s) => {
      const undo = new UndoStack();
      try {
        return addWithUndo(ctx, cfg, s, nft, undo);
      } catch (e) {
        undo.unwind(ctx.log); // while the sockets are still open
        throw e;
      }
    });
  // The nftables connection is the outermost: it closes last (see withNft).
  return needsRules(cfg) ? withNft(run) : run(undefined);
}

function addWithUndo(ctx: PluginContext, cfg: BridgeConfig, s: VethSockets, nft: NftConnection | undefined, undo: UndoStack): Result {
  // Addresses first, then their nftables rules (adds only: nothing for the socket's release to
  // wait for, see withNft), then the links.
  const addressing = cfg.ipamType ? allocateAddresses(ctx, cfg, cfg.ipamType, undo) : undefined;
  if (nft && (cfg.ipMasq || cfg.isolation)) {
    commitRules(nft, undo, ownerOf(ctx, cfg), (tx, owner) => queueAddressRules(nft, tx, owner, cfg, addressing?.ips ?? []));
  }

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
  if (nft && cfg.macSpoofCheck && veth.container.mac) {
    const mac = veth.container.mac;
    commitRules(nft, undo, ownerOf(ctx, cfg), (tx, owner) => queueMacSpoofCheck(tx, owner, veth.host.name, mac));
  }

  const result: Result = {
    cniVersion: ctx.cniVersion,
    interfaces: [
      { name: bridge.name, mac: bridge.mac },
      { name: veth.host.name, mac: veth.host.mac },
      { name: veth.container.name, mac: veth.container.mac, sandbox: ctx.env.netns },
    ],
    ...addressing,
  };
  if (result.ips) {
    const containerLink = { netns: s.containerNetns, nl: s.container, index: veth.container.index, name: veth.container.name };
    configureIface(containerLink, result, CONTAINER_IF, { dad: cfg.enableDad });
    if (cfg.isGateway) setupGateways(s.host, bridge, result.ips, cfg.forceAddress);
  } else if (!cfg.disableContainerInterface) {
    setLink(s.container, veth.container.index, { up: true }, `veth "${veth.container.name}"`);
  }
  if (cfg.dns && !cfg.ipamType) result.dns = cfg.dns;
  finishInterfaces(s, result);
  return result;
}

/** IPAM ADD (released by the undo stack) and what it gives the result, bound to the container veth. */
function allocateAddresses(ctx: PluginContext, cfg: BridgeConfig, ipamType: string, undo: UndoStack): Pick<Result, "ips" | "routes" | "dns"> {
  const ipam = delegate(ctx, ipamType, "ADD");
  undo.push("release the IPAM lease", () => void delegate(ctx, ipamType, "DEL"));
  if (!ipam?.ips?.length) throw new CniError(CniCode.internal, `IPAM plugin "${ipamType}" returned no IP addresses`);
  const ips = ipam.ips.map((ip) => (cfg.isGateway ? withSubnetGateway({ ...ip, interface: CONTAINER_IF }) : { ...ip, interface: CONTAINER_IF }));
  const routes = cfg.isDefaultGateway ? withDefaultRoutes(ipam.routes ?? [], ips) : (ipam.routes ?? []);
  const dns = cfg.dns ?? ipam.dns;
  return dns ? { ips, routes, dns } : { ips, routes };
}

const ownerOf = (ctx: PluginContext, cfg: BridgeConfig): RuleOwner => ({ net: cfg.network, id: ctx.env.containerId, ifname: ctx.env.ifname });

/** Commits what `queue` adds as one transaction (all or none); the undo stack removes `owner`'s rules. */
function commitRules(conn: NftConnection, undo: UndoStack, owner: RuleOwner, queue: (tx: NftTransaction, owner: RuleOwner) => void): void {
  const tx = new NftTransaction();
  queue(tx, owner);
  if (!tx.length) return;
  conn.commit(tx);
  undo.push("remove nftables rules", () => removeRules(conn, owner));
}

/** ipMasq for the container's addresses and, the first time, isolation of its bridge. */
function queueAddressRules(conn: NftConnection, tx: NftTransaction, owner: RuleOwner, cfg: BridgeConfig, ips: IpConfig[]): void {
  if (cfg.ipMasq && ips.length) queueMasquerade(tx, owner, ips.map((ip) => parsePrefix(ip.address)));
  if (cfg.isolation && !isIsolated(conn, cfg.bridge)) queueIsolation(tx, cfg.bridge);
}

/** Deletes the rules `owner` made (found by their comments, so no netns or prevResult is needed). */
function removeRules(conn: NftConnection, owner: Partial<RuleOwner>, keep?: (o: RuleOwner) => boolean): void {
  deleteOwnedRules(conn, [...listMasqueradeRules(conn, owner), ...listMacSpoofRules(conn, owner)], keep);
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

/** Fills MACs and MTUs as the kernel has them now (the bridge's MAC can change as ports join). */
function finishInterfaces(s: VethSockets, result: Result): void {
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
  // Rules first: the kernel's wait after an nftables commit then overlaps the veth deletion.
  withNft((nft) =>
    runAll([
      ["remove nftables rules", () => removeRules(nft, ownerOf(ctx, cfg))],
      [`delete veth "${ctx.env.ifname}"`, () => deleteContainerVeth(ctx, cfg.bridge)],
      ...(ipamType ? [["release the IPAM lease", () => void delegate(ctx, ipamType, "DEL")] as [string, () => void]] : []),
    ]),
  );
}

function check(ctx: PluginContext): void {
  const cfg = parseBridgeConfig(ctx.config);
  if (cfg.ipamType) delegate(ctx, cfg.ipamType, "CHECK");
  const prev = ctx.prevResult;
  if (!prev) throw new CniError(CniCode.invalidNetworkConfig, "required prevResult missing");
  withVethSockets(ctx, (s) => {
    const bridge = findLinkByName(s.host, cfg.bridge);
    if (!bridge || bridge.kind !== "bridge") throw checkFailed(`bridge "${cfg.bridge}" not found`);
    if (cfg.promiscMode !== bridge.promiscuity > 0) throw checkFailed(`bridge "${cfg.bridge}" promiscuous mode is not ${cfg.promiscMode}`);
    checkVethOnBridge(ctx, s, bridge, prev);
  });
}

const checkFailed = (msg: string) => new CniError(CniCode.invalidNetworkConfig, msg);

function gc(ctx: PluginContext): void {
  const cfg = parseBridgeConfig(ctx.config);
  const valid = validAttachments(ctx.config);
  const ipamType = cfg.ipamType;
  runAll([
    ...(ipamType ? [["collect IPAM leases", () => void delegate(ctx, ipamType, "GC")] as [string, () => void]] : []),
    ["remove stale nftables rules", () => withNft((nft) => removeRules(nft, { net: cfg.network }, (o) => valid.has(`${o.id}/${o.ifname}`)))],
  ]);
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
