import type { AttributeEncoder } from "../../netlink/attributes.ts";
import { AF_UNSPEC, IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_NET_NS_FD, VETH_INFO_PEER } from "../constants.ts";
import { encodeIfinfomsg } from "../ifinfomsg.ts";

/** The peer end of a veth, created in the same request (optionally straight into another netns). */
export interface VethPeer {
  name: string;
  netnsFd?: number;
  mtu?: number;
  mac?: Uint8Array;
}

export interface VethKind {
  kind: "veth";
  peer: VethPeer;
}

/** VETH_INFO_PEER holds a whole ifinfomsg followed by the peer's own link attributes. */
export function encodeVethData(e: AttributeEncoder, k: VethKind): void {
  e.nested(VETH_INFO_PEER, (p) => {
    p.raw(encodeIfinfomsg({ family: AF_UNSPEC }));
    p.str(IFLA_IFNAME, k.peer.name);
    if (k.peer.mtu) p.u32(IFLA_MTU, k.peer.mtu);
    if (k.peer.mac) p.bytes(IFLA_ADDRESS, k.peer.mac);
    if (k.peer.netnsFd !== undefined) p.u32(IFLA_NET_NS_FD, k.peer.netnsFd);
  });
}
