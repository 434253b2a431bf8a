import { NetlinkError, type NetlinkSocket } from "../netlink/socket.ts";
import type { Netns } from "../netns/netns.ts";
import { createLink, findLinkByName, getLinkByName, type Link } from "../rtnl/links.ts";

export interface VethPair {
  host: Link;
  container: Link;
}

export interface VethSpec {
  /** Name of the container end (CNI_IFNAME). */
  containerName: string;
  /** Host end's name; a random `veth%08x` when not given. */
  hostName?: string;
  mtu?: number;
  containerMac?: Uint8Array;
  /** The host namespace, where the peer is placed. */
  hostNetns: Netns;
}

const randomVethName = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  let hex = "";
  for (const b of bytes) hex += (b < 16 ? "0" : "") + b.toString(16);
  return `veth${hex}`;
};

/**
 * Creates the veth in the container netns with its peer placed directly in the host netns (one
 * request, like `ip link add <if> type veth peer name <host> netns <host>` run in the container).
 * A random host name that is taken is retried, as the reference does.
 */
export function createVethPair(containerNl: NetlinkSocket, hostNl: NetlinkSocket, spec: VethSpec): VethPair {
  for (let attempt = 1; ; attempt++) {
    const hostName = spec.hostName ?? randomVethName();
    try {
      createLink(containerNl, {
        name: spec.containerName,
        mtu: spec.mtu,
        mac: spec.containerMac,
        kind: { kind: "veth", peer: { name: hostName, netnsFd: spec.hostNetns.fd, mtu: spec.mtu } },
      });
    } catch (e) {
      const taken = e instanceof NetlinkError && e.code === "EEXIST";
      // EEXIST is either name: the container's means the runtime asked for a name in use.
      if (taken && findLinkByName(containerNl, spec.containerName)) {
        throw new NetlinkError(`create veth: container interface "${spec.containerName}" already exists`, e.errno);
      }
      if (taken && !spec.hostName && attempt < 10) continue;
      throw e;
    }
    return { host: getLinkByName(hostNl, hostName), container: getLinkByName(containerNl, spec.containerName) };
  }
}
