import { CniCode, CniError } from "../../lib/cni/errors.ts";
import { ensureBridge } from "../../lib/host/bridge.ts";
import { isIsolated, queueIsolation } from "../../lib/host/isolation.ts";
import { formatIp, formatPrefix, networkOf, sameIp, type IpAddress, type IpPrefix } from "../../lib/ip/address.ts";
import { formatMac } from "../../lib/ip/mac.ts";
import type { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { NftTransaction, withNft, type NftConnection } from "../../lib/nft/index.ts";
import { ensureSysctl } from "../../lib/netns/sysctl.ts";
import { forgetApplied, isApplied, recordApplied } from "../../lib/overlay/applied-state.ts";
import { withHostLock } from "../../lib/overlay/host-lock.ts";
import { reconcileFloodPeers, reconcileRoutedPeers, type Changes } from "../../lib/overlay/peers.ts";
import { reconcileSourceFilter, type SourceFilter } from "../../lib/overlay/source-filter.ts";
import { resolveUnderlay, UnderlayError, vxlanOverhead, type Underlay } from "../../lib/overlay/underlay.ts";
import { anycastGatewayMac, vtepMac } from "../../lib/overlay/vtep-mac.ts";
import { DeviceConflictError, ensureVxlanDevice } from "../../lib/overlay/vxlan-device.ts";
import { addAddress, deleteAddress, listAddresses, type LinkAddress } from "../../lib/rtnl/addresses.ts";
import { RT_SCOPE_UNIVERSE } from "../../lib/rtnl/constants.ts";
import { decodeVxlanData, vxlanIncompatibility, type VxlanKind } from "../../lib/rtnl/kinds/vxlan.ts";
import { setLink, type Link } from "../../lib/rtnl/links.ts";
import { remotePeers, type PeerConfig, type VxlanConfig } from "./config.ts";

// The state all containers of a network on one host share: the bridge, the vxlan device, its VTEP
// address, the peers' entries, the filter admitting only peers and the isolation rules. Made under the host lock, so concurrent ADDs and GCs see it
// whole; compared with what exists and fixed in place, so a repeated ADD costs a few dumps.

export interface HostState {
  underlay: Underlay;
  bridge: Link;
  device: Link;
  /** The MTU of the device, the bridge and every container veth. */
  mtu: number;
  peers: Changes;
}

const invalid = (msg: string, details?: string) => new CniError(CniCode.invalidNetworkConfig, msg, details);

/** The config's MTU, or the largest that fits the underlay (its MTU − 50, or − 70 for IPv6). */
export function overlayMtu(cfg: VxlanConfig, underlay: Underlay): number {
  const max = underlay.link.mtu - vxlanOverhead(cfg.family);
  if (cfg.mtu === undefined) return max;
  if (cfg.mtu > max) {
    throw invalid(`"mtu" ${cfg.mtu} does not fit the underlay`, `"${underlay.link.name}" has MTU ${underlay.link.mtu}; minus ${vxlanOverhead(cfg.family)} bytes of vxlan headers leaves ${max}`);
  }
  return cfg.mtu;
}

export function findUnderlay(nl: NetlinkSocket, cfg: VxlanConfig, code: number = CniCode.invalidNetworkConfig, addresses?: LinkAddress[]): Underlay {
  try {
    return resolveUnderlay(nl, { family: cfg.family, interface: cfg.underlayInterface, localIp: cfg.localIp }, addresses);
  } catch (e) {
    if (e instanceof UnderlayError) throw new CniError(code, e.message);
    throw e;
  }
}

/** The vxlan link as this config wants it: routed mode learns nothing, l2 mode learns MACs. */
export function deviceKind(cfg: VxlanConfig, underlay: Underlay): VxlanKind {
  return { kind: "vxlan", vni: cfg.vni, port: cfg.port, local: underlay.localIp, group: cfg.group, link: underlay.link.index, learning: cfg.mode === "l2" };
}

/** Routed mode: this host's VTEP address, the network address of its subnet (flannel's scheme). */
export const vtepPrefix = (subnet: IpPrefix): IpPrefix => {
  const address = networkOf(subnet);
  return { address, prefixLength: address.family === 4 ? 32 : 128 };
};

/**
 * Sets up (or repairs) the host side of the network, holding the per-VNI host lock. The peers'
 * kernel state (source filter, isolation, neighbours, FDB, routes) is compared entry by entry on
 * GC (`full`) and whenever the config, the device or the namespace differs from the last full
 * reconcile's (lib/overlay/applied-state.ts); an ADD with everything the same trusts it.
 */
export function setupHost(nl: NetlinkSocket, cfg: VxlanConfig, log: (message: string) => void, { full = false } = {}): HostState {
  const lockName = `vxlan-${cfg.vni}`;
  return withHostLock(lockName, () => {
    const addresses = listAddresses(nl);
    const underlay = findUnderlay(nl, cfg, CniCode.invalidNetworkConfig, addresses);
    const mtu = overlayMtu(cfg, underlay);
    const peers = remotePeers(cfg, underlay.localIp);
    let bridge = ensureBridge(nl, { name: cfg.bridge, mtu });
    const bridgeMac = cfg.mode === "l2" ? anycastGatewayMac(cfg.vni) : undefined;
    if (bridge.mtu !== mtu || (bridgeMac && bridge.mac !== formatMac(bridgeMac))) {
      setLink(nl, bridge.index, { mtu, mac: bridgeMac }, `bridge "${cfg.bridge}"`);
      bridge = { ...bridge, mtu, mac: bridgeMac ? formatMac(bridgeMac) : bridge.mac };
    }
    let device: Link;
    try {
      const spec = { name: cfg.device, kind: deviceKind(cfg, underlay), mtu, mac: vtepMac(underlay.localIp), master: cfg.mode === "l2" ? bridge.index : undefined };
      device = ensureVxlanDevice(nl, spec, log).link;
    } catch (e) {
      if (e instanceof DeviceConflictError) throw invalid(e.message);
      throw e;
    }
    const applied = appliedRecord(cfg, underlay, device, peers);
    if (!full && isApplied(lockName, applied)) return { underlay, bridge, device, mtu, peers: { added: [], removed: [] } };
    forgetApplied(lockName);
    // The filter first: a removed peer's packets are dropped before its entries go, so it cannot be learned again.
    const filter = withNft((conn) => {
      if (cfg.isolation) isolate(conn, cfg);
      return reconcileSourceFilter(conn, sourceFilter(cfg, peers.map((p) => p.ip)));
    });
    let changes: Changes = { added: [], removed: [] };
    if (cfg.mode === "routed") {
      const subnet = cfg.subnet!;
      ensureOnlyAddress(nl, device, vtepPrefix(subnet), addresses);
      ensureSysctl(subnet.address.family === 4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding", "1");
      changes = reconcileRoutedPeers(nl, device.index, subnet.address.family, peers.map((p) => ({ underlayIp: p.ip, vtepIp: networkOf(p.subnet!), vtepMac: vtepMac(p.ip), subnet: p.subnet! })));
    } else if (!cfg.group) {
      changes = reconcileFloodPeers(nl, device.index, peers.map((p) => p.ip));
    }
    changes = { added: [...filter.added, ...changes.added], removed: [...filter.removed, ...changes.removed] };
    if (changes.added.length + changes.removed.length > 0) {
      log(`peers of "${cfg.device}": added ${changes.added.join(", ") || "none"}; removed ${changes.removed.join(", ") || "none"}`);
    }
    recordApplied(lockName, applied);
    return { underlay, bridge, device, mtu, peers: changes };
  });
}

/** Everything the peers' state depends on, as one line (see setupHost). */
function appliedRecord(cfg: VxlanConfig, underlay: Underlay, device: Link, peers: PeerConfig[]): string {
  const optional = (x: string | undefined) => x ?? "-";
  const parts = [
    `dev=${device.index}`,
    `mode=${cfg.mode}`,
    `port=${cfg.port}`,
    `local=${formatIp(underlay.localIp)}`,
    `group=${optional(cfg.group && formatIp(cfg.group))}`,
    `subnet=${optional(cfg.subnet && formatPrefix(cfg.subnet))}`,
    `bridge=${cfg.bridge}`,
    `isolation=${cfg.isolation}`,
    ...peers.map((p) => `peer=${formatIp(p.ip)},${optional(p.subnet && formatPrefix(p.subnet))}`),
  ];
  return parts.join(" ");
}

/**
 * Drops traffic forwarded between this network and other isolated networks (bridge plugin
 * `isolation` or vxlan): the bridge, and in routed mode the vxlan device too, join the isolated set.
 */
function isolate(conn: NftConnection, cfg: VxlanConfig): void {
  const members = cfg.mode === "routed" ? [cfg.bridge, cfg.device] : [cfg.bridge];
  const tx = new NftTransaction();
  for (const m of members) {
    if (!isIsolated(conn, m)) queueIsolation(tx, m, members.filter((other) => other !== m));
  }
  conn.commit(tx);
}

/** Only the peers may send VXLAN for this VNI (no filter with a multicast group: any member may). */
const sourceFilter = (cfg: VxlanConfig, peers: IpAddress[]): SourceFilter => ({ device: cfg.device, vni: cfg.vni, port: cfg.port, family: cfg.family, peers: cfg.group ? undefined : peers });

/**
 * `ip addr add <prefix> dev <device> nodad`, removing the device's other global addresses (a
 * changed subnet's). `addresses`: the host's, listed before (a new device has none).
 */
function ensureOnlyAddress(nl: NetlinkSocket, device: Link, want: IpPrefix, addresses: LinkAddress[]): void {
  let present = false;
  for (const a of addresses) {
    if (a.index !== device.index || a.scope !== RT_SCOPE_UNIVERSE) continue;
    if (sameIp(a.prefix.address, want.address) && a.prefix.prefixLength === want.prefixLength) present = true;
    else deleteAddress(nl, device.index, a.prefix);
  }
  if (!present) addAddress(nl, device.index, want, { noDad: true });
}

/**
 * CHECK of the host side, changing nothing: the device exists with this config's settings and
 * MTU, is up (and a port of the bridge in l2 mode), and every peer entry is programmed.
 */
export function checkHost(nl: NetlinkSocket, cfg: VxlanConfig, device: Link | undefined, bridge: Link): void {
  const failed = (msg: string) => new CniError(CniCode.invalidNetworkConfig, msg);
  if (!device || device.kind !== "vxlan") throw failed(`vxlan device "${cfg.device}" not found`);
  const underlay = findUnderlay(nl, cfg);
  const mtu = overlayMtu(cfg, underlay);
  if (device.mtu !== mtu) throw failed(`vxlan device "${cfg.device}" has MTU ${device.mtu}, want ${mtu}`);
  if (!device.up) throw failed(`vxlan device "${cfg.device}" is down`);
  const incompatible = vxlanIncompatibility(decodeVxlanData(device.kindData), deviceKind(cfg, underlay));
  if (incompatible) throw failed(`vxlan device "${cfg.device}" has ${incompatible}`);
  if (cfg.mode === "l2" && device.master !== bridge.index) throw failed(`vxlan device "${cfg.device}" is not a port of bridge "${bridge.name}"`);
  const peers = remotePeers(cfg, underlay.localIp);
  let missing: Changes;
  if (cfg.mode === "routed") {
    const vtep = vtepPrefix(cfg.subnet!);
    if (!listAddresses(nl, { index: device.index }).some((a) => sameIp(a.prefix.address, vtep.address))) {
      throw failed(`vxlan device "${cfg.device}" does not have its VTEP address ${formatPrefix(vtep)}`);
    }
    missing = reconcileRoutedPeers(nl, device.index, cfg.subnet!.address.family, peers.map((p) => ({ underlayIp: p.ip, vtepIp: networkOf(p.subnet!), vtepMac: vtepMac(p.ip), subnet: p.subnet! })), { apply: false });
  } else {
    missing = cfg.group ? { added: [], removed: [] } : reconcileFloodPeers(nl, device.index, peers.map((p) => p.ip), { apply: false });
  }
  const filter = withNft((conn) => reconcileSourceFilter(conn, sourceFilter(cfg, peers.map((p) => p.ip)), { apply: false }));
  missing = { added: [...missing.added, ...filter.added], removed: [...missing.removed, ...filter.removed] };
  if (missing.added.length > 0) throw failed(`vxlan device "${cfg.device}" lacks peer state: ${missing.added.join(", ")}`);
  if (missing.removed.length > 0) throw failed(`vxlan device "${cfg.device}" has entries of no configured peer: ${missing.removed.join(", ")}`);
}
