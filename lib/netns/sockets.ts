import { NETLINK_NETFILTER, NETLINK_ROUTE } from "../netlink/constants.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { withNetnsSync, type Netns } from "./netns.ts";

/** An rtnetlink socket bound to `netns` (opened inside it, usable from anywhere). */
export function openRtnlIn(netns: Netns): NetlinkSocket {
  return withNetnsSync(netns.fd, () => NetlinkSocket.open(NETLINK_ROUTE));
}

/** Runs `fn` with an rtnetlink socket bound to `netns`; closes the socket and then `netns`. */
export function withRtnlIn<T>(netns: Netns, fn: (nl: NetlinkSocket) => T): T {
  try {
    const nl = openRtnlIn(netns);
    try {
      return fn(nl);
    } finally {
      nl.close();
    }
  } finally {
    netns.close();
  }
}

/** An nfnetlink socket bound to `netns`. */
export function openNfnlIn(netns: Netns): NetlinkSocket {
  return withNetnsSync(netns.fd, () => NetlinkSocket.open(NETLINK_NETFILTER));
}
