import { NETLINK_NETFILTER, NETLINK_ROUTE } from "../netlink/constants.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { withNetnsSync, type Netns } from "./netns.ts";

/** An rtnetlink socket bound to `netns` (opened inside it, usable from anywhere). */
export function openRtnlIn(netns: Netns): NetlinkSocket {
  return withNetnsSync(netns.fd, () => NetlinkSocket.open(NETLINK_ROUTE));
}

/** An nfnetlink socket bound to `netns`. */
export function openNfnlIn(netns: Netns): NetlinkSocket {
  return withNetnsSync(netns.fd, () => NetlinkSocket.open(NETLINK_NETFILTER));
}
