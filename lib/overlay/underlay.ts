import { formatIp, sameIp, type Family, type IpAddress } from "../ip/address.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import { listAddresses, type LinkAddress } from "../rtnl/addresses.ts";
import { RT_SCOPE_UNIVERSE, RT_TABLE_MAIN } from "../rtnl/constants.ts";
import { findLinkByIndex, findLinkByName, type Link } from "../rtnl/links.ts";
import { listRoutes } from "../rtnl/routes.ts";

/** Outer headers a vxlan frame adds: IP (20 or 40) + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const vxlanOverhead = (family: Family): number => (family === 4 ? 50 : 70);

/** The link and address tunnels leave from. */
export interface Underlay {
  link: Link;
  localIp: IpAddress;
}

export interface UnderlayWanted {
  family: Family;
  /** The link by name; found from `localIp`, else from the default route, when absent. */
  interface?: string;
  localIp?: IpAddress;
}

/** Why the underlay cannot be used; the message names what was looked for. */
export class UnderlayError extends Error {
  override name = "UnderlayError";
}

/**
 * Finds the underlay: the named link, else the link holding `localIp`, else the link of the
 * family's default route (main table); and its first global address of the family unless
 * `localIp` is given, in which case the link must hold it. `all` saves the address dump when the
 * caller has one.
 */
export function resolveUnderlay(nl: NetlinkSocket, want: UnderlayWanted, all: LinkAddress[] = listAddresses(nl, { family: want.family })): Underlay {
  const fam = want.family === 4 ? "IPv4" : "IPv6";
  const addresses = all.filter((a) => a.scope === RT_SCOPE_UNIVERSE && a.prefix.address.family === want.family);
  let link: Link | undefined;
  if (want.interface) {
    link = findLinkByName(nl, want.interface);
    if (!link) throw new UnderlayError(`underlay interface "${want.interface}" not found`);
  } else if (want.localIp) {
    const localIp = want.localIp;
    const holder = addresses.find((a) => sameIp(a.prefix.address, localIp));
    link = holder && findLinkByIndex(nl, holder.index);
    if (!link) throw new UnderlayError(`no interface has the local IP ${formatIp(localIp)}`);
  } else {
    const route = listRoutes(nl, { family: want.family, table: RT_TABLE_MAIN }).find((r) => r.dst.prefixLength === 0 && r.oif !== undefined);
    link = route?.oif === undefined ? undefined : findLinkByIndex(nl, route.oif);
    if (!link) throw new UnderlayError(`no ${fam} default route to find the underlay interface by; set "underlayInterface"`);
  }
  const own = addresses.filter((a) => a.index === link.index);
  if (want.localIp) {
    const localIp = want.localIp;
    if (!own.some((a) => sameIp(a.prefix.address, localIp))) throw new UnderlayError(`underlay interface "${link.name}" does not have the local IP ${formatIp(localIp)}`);
    return { link, localIp };
  }
  const first = own[0];
  if (!first) throw new UnderlayError(`underlay interface "${link.name}" has no global ${fam} address`);
  return { link, localIp: first.prefix.address };
}
