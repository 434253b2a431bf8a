import { formatPrefix, type IpPrefix, prefixesOverlap } from "../ip/address.ts";
import { NetlinkError, type NetlinkSocket } from "../netlink/socket.ts";
import { writeSysctl } from "../netns/sysctl.ts";
import { isErrno } from "../sys/files.ts";
import { addAddress, deleteAddress, listAddresses } from "../rtnl/addresses.ts";
import { createLink, findLinkByName, getLinkByName, setLink, type Link } from "../rtnl/links.ts";
import { parseMac } from "../ip/mac.ts";
import { CniCode, CniError } from "../cni/errors.ts";

export interface BridgeSpec {
  name: string;
  mtu?: number;
  promisc?: boolean;
  vlanFiltering?: boolean;
}

/**
 * Get-or-create the bridge (`ip link add <name> type bridge; ip link set <name> up`). A new bridge
 * gets its own MAC pinned, so it does not change as ports come and go, and accept_ra=0.
 * Must run in the namespace `nl` is bound to (the sysctl is written there).
 */
export function ensureBridge(nl: NetlinkSocket, spec: BridgeSpec): Link {
  let bridge = findLinkByName(nl, spec.name);
  if (bridge && bridge.kind !== "bridge") {
    throw new CniError(CniCode.invalidNetworkConfig, `"${spec.name}" already exists but is not a bridge`, `it is a ${bridge.kind ?? "device"} link`);
  }
  if (!bridge) {
    try {
      createLink(nl, { name: spec.name, mtu: spec.mtu, kind: { kind: "bridge", vlanFiltering: spec.vlanFiltering } });
    } catch (e) {
      // Another ADD created it concurrently.
      if (!(e instanceof NetlinkError && e.code === "EEXIST")) throw e;
    }
    bridge = getLinkByName(nl, spec.name);
    if (bridge.mac) setLink(nl, bridge.index, { mac: parseMac(bridge.mac) }, `bridge "${spec.name}"`);
    try {
      writeSysctl(`net/ipv6/conf/${spec.name}/accept_ra`, "0");
    } catch (e) {
      if (!isErrno(e, "ENOENT")) throw e; // IPv6 disabled on this host
    }
  }
  if (!bridge.up || (spec.promisc !== undefined && spec.promisc !== bridge.promiscuity > 0)) {
    setLink(nl, bridge.index, { up: true, promisc: spec.promisc }, `bridge "${spec.name}"`);
  }
  return getLinkByName(nl, spec.name);
}

/**
 * Ensures `gateway` (address/prefix) is on the bridge. Another IPv4 address, or an IPv6 address in
 * an overlapping prefix, is a conflict: replaced with `force`, an error otherwise.
 */
export function ensureGatewayAddress(nl: NetlinkSocket, bridge: Link, gateway: IpPrefix, force: boolean): void {
  const family = gateway.address.family;
  const existing = listAddresses(nl, { index: bridge.index, family });
  if (existing.some((a) => a.prefix.address.value === gateway.address.value && a.prefix.prefixLength === gateway.prefixLength)) return;
  const conflicts = existing.filter((a) => (family === 4 ? true : a.scope === 0 && prefixesOverlap(a.prefix, gateway)));
  for (const c of conflicts) {
    if (!force) {
      throw new CniError(
        CniCode.invalidNetworkConfig,
        `"${bridge.name}" already has an IP address different from ${formatPrefix(gateway)}`,
        `it has ${formatPrefix(c.prefix)}; set "forceAddress": true to replace it`,
      );
    }
    deleteAddress(nl, bridge.index, c.prefix);
  }
  try {
    addAddress(nl, bridge.index, gateway, { noDad: true });
  } catch (e) {
    // Another ADD added it concurrently.
    if (!(e instanceof NetlinkError && e.code === "EEXIST")) throw e;
  }
}
