import { formatIp, type IpAddress } from "../../lib/ip/address.ts";
import { NETLINK_ROUTE } from "../../lib/netlink/constants.ts";
import { NetlinkError, NetlinkSocket } from "../../lib/netlink/socket.ts";
import { ensureSysctl } from "../../lib/netns/sysctl.ts";
import { findLinkByIndex } from "../../lib/rtnl/links.ts";
import { routeGet } from "../../lib/rtnl/routes.ts";

/**
 * `sysctl net.ipv4.conf.<dev>.route_localnet=1` on the host interface that routes to `ip` (the
 * bridge, typically), so that 127.0.0.1:<hostPort>, DNATed to the container, may leave through it.
 * The reference does the same; nothing is done when no interface routes there.
 */
export function enableRouteLocalnet(ip: IpAddress): void {
  const nl = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    let oif: number | undefined;
    try {
      oif = routeGet(nl, ip)?.oif;
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e; // unreachable: no interface to enable
    }
    const link = oif === undefined ? undefined : findLinkByIndex(nl, oif);
    if (!link) return;
    try {
      ensureSysctl(`net/ipv4/conf/${link.name}/route_localnet`, "1");
    } catch (e) {
      throw new Error(`unable to enable route_localnet on "${link.name}" (the interface routing to ${formatIp(ip)}): ${(e as Error).message}`);
    }
  } finally {
    nl.close();
  }
}
