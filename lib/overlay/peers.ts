import { formatIp, formatPrefix, sameIp, type Family, type IpAddress, type IpPrefix } from "../ip/address.ts";
import { formatMac, parseMac } from "../ip/mac.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import { NTF_MASTER, NTF_SELF, NUD_PERMANENT, RT_TABLE_MAIN, RTPROT_KERNEL } from "../rtnl/constants.ts";
import { appendFdbEntry, deleteFdbEntry, deleteNeighbour, listNeighbours, replaceFdbEntry, replaceNeighbour, type Neighbour } from "../rtnl/neighbours.ts";
import { addRoute, deleteRoute, listRoutes } from "../rtnl/routes.ts";

// Peer state on a vxlan device, reconciled against the whole desired list: what is missing or
// different is programmed, what is no longer wanted is deleted, the rest is left alone. Each
// function returns what it changed; with `apply: false` nothing is changed and the result says
// what would be (CHECK).

/** A remote host in routed mode: its subnet is reached through its VTEP. */
export interface RoutedPeer {
  /** Underlay address (outer destination). */
  underlayIp: IpAddress;
  /** The peer's VTEP address on its vxlan device: the route's next hop. */
  vtepIp: IpAddress;
  vtepMac: Uint8Array;
  subnet: IpPrefix;
}

export interface Changes {
  added: string[];
  removed: string[];
}

const ZERO_MAC = "00:00:00:00:00:00";

const samePrefix = (a: IpPrefix, b: IpPrefix) => a.prefixLength === b.prefixLength && sameIp(a.address, b.address);
const isPermanent = (n: Neighbour) => (n.state & NUD_PERMANENT) !== 0;

/** The vxlan driver's own FDB entries (`bridge fdb show dev <dev> self`), not a master bridge's. */
function vxlanFdb(nl: NetlinkSocket, device: number): Array<Neighbour & { mac: string; ip: IpAddress }> {
  return listNeighbours(nl, "bridge", device).filter(
    (n): n is Neighbour & { mac: string; ip: IpAddress } => (n.flags & NTF_SELF) !== 0 && (n.flags & NTF_MASTER) === 0 && !!n.mac && !!n.ip,
  );
}

/**
 * Flannel's three entries per remote host, in its order (the route last, or the kernel would try
 * to resolve the next hop itself): `ip neigh replace <vtepIp> lladdr <vtepMac> dev <dev> nud
 * permanent`, `bridge fdb replace <vtepMac> dev <dev> dst <underlayIp> self permanent`, `ip route
 * replace <subnet> via <vtepIp> dev <dev> onlink`. Every other main-table route (except the
 * kernel's) and permanent neighbour of the subnets' `family`, and permanent FDB entry on the device
 * is deleted.
 */
export function reconcileRoutedPeers(nl: NetlinkSocket, device: number, family: Family, peers: readonly RoutedPeer[], { apply = true } = {}): Changes {
  const changes: Changes = { added: [], removed: [] };
  const want = peers.map((p) => ({ ...p, mac: formatMac(p.vtepMac) }));
  const routes = listRoutes(nl, { family, table: RT_TABLE_MAIN, oif: device }).filter((r) => r.protocol !== RTPROT_KERNEL);
  const neighbours = listNeighbours(nl, family, device).filter(isPermanent);
  const fdb = vxlanFdb(nl, device).filter(isPermanent);

  const routeOk = (p: (typeof want)[number]) => routes.some((r) => samePrefix(r.dst, p.subnet) && r.gateway !== undefined && sameIp(r.gateway, p.vtepIp));
  const neighbourOk = (p: (typeof want)[number]) => neighbours.some((n) => n.ip && sameIp(n.ip, p.vtepIp) && n.mac === p.mac);
  const fdbOk = (p: (typeof want)[number]) => fdb.some((n) => n.mac === p.mac && sameIp(n.ip, p.underlayIp));

  // Removals first, routes before the entries they use.
  for (const r of routes) {
    if (want.some((p) => samePrefix(r.dst, p.subnet) && routeOk(p))) continue;
    if (apply) deleteRoute(nl, { ...r, oif: device });
    changes.removed.push(`route ${formatPrefix(r.dst)}`);
  }
  for (const n of neighbours) {
    if (!n.ip || want.some((p) => sameIp(p.vtepIp, n.ip!) && p.mac === n.mac)) continue;
    if (apply) deleteNeighbour(nl, device, n.ip);
    changes.removed.push(`neighbour ${formatIp(n.ip)}`);
  }
  for (const n of fdb) {
    if (want.some((p) => p.mac === n.mac && sameIp(p.underlayIp, n.ip))) continue;
    if (apply) deleteFdbEntry(nl, { index: device, mac: parseMac(n.mac), ip: n.ip });
    changes.removed.push(`fdb ${n.mac} dst ${formatIp(n.ip)}`);
  }

  for (const p of want) {
    if (!neighbourOk(p)) {
      if (apply) replaceNeighbour(nl, { index: device, ip: p.vtepIp, mac: p.vtepMac });
      changes.added.push(`neighbour ${formatIp(p.vtepIp)}`);
    }
    if (!fdbOk(p)) {
      if (apply) replaceFdbEntry(nl, { index: device, mac: p.vtepMac, ip: p.underlayIp });
      changes.added.push(`fdb ${p.mac} dst ${formatIp(p.underlayIp)}`);
    }
    if (!routeOk(p)) {
      if (apply) addRoute(nl, { dst: p.subnet, gateway: p.vtepIp, oif: device, onlink: true }, { replace: true });
      changes.added.push(`route ${formatPrefix(p.subnet)}`);
    }
  }
  return changes;
}

/**
 * Head-end replication for l2 mode: one `bridge fdb append 00:00:00:00:00:00 dev <dev> dst <peer>
 * self permanent` per peer, so broadcasts and unknown unicast reach every peer. Entries whose
 * destination is not a peer any more, learned ones included, are deleted (`bridge fdb del`).
 */
export function reconcileFloodPeers(nl: NetlinkSocket, device: number, peers: readonly IpAddress[], { apply = true } = {}): Changes {
  const changes: Changes = { added: [], removed: [] };
  const fdb = vxlanFdb(nl, device);
  for (const n of fdb) {
    if (peers.some((p) => sameIp(p, n.ip))) continue;
    if (apply) deleteFdbEntry(nl, { index: device, mac: parseMac(n.mac), ip: n.ip });
    changes.removed.push(`fdb ${n.mac} dst ${formatIp(n.ip)}`);
  }
  for (const p of peers) {
    if (fdb.some((n) => n.mac === ZERO_MAC && isPermanent(n) && sameIp(n.ip, p))) continue;
    if (apply) appendFdbEntry(nl, { index: device, mac: parseMac(ZERO_MAC), ip: p });
    changes.added.push(`fdb ${ZERO_MAC} dst ${formatIp(p)}`);
  }
  return changes;
}
