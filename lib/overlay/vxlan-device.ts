import { formatMac } from "../ip/mac.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import { writeSysctl } from "../netns/sysctl.ts";
import { createLink, deleteLink, findLinkByName, getLinkByName, setLink, type Link, type LinkChanges } from "../rtnl/links.ts";
import { decodeVxlanData, vxlanIncompatibility, type VxlanKind } from "../rtnl/kinds/vxlan.ts";
import { isErrno } from "../sys/files.ts";

export interface VxlanDeviceSpec {
  name: string;
  kind: VxlanKind;
  mtu: number;
  mac: Uint8Array;
  /** Bridge to enslave the device to (l2 mode); 0 or absent: none. */
  master?: number;
}

export class DeviceConflictError extends Error {
  override name = "DeviceConflictError";
}

/**
 * Get-or-create the vxlan device (`ip link add <name> mtu <mtu> address <mac> type vxlan ...`,
 * `ip link set <name> [master <br>] up`). An existing vxlan device with other settings is deleted
 * and created again (its FDB, neighbours and routes go with it, so the caller re-programs them);
 * MTU, MAC and master are fixed in place. A link of another kind by that name is a conflict.
 * Must run in the namespace `nl` is bound to (accept_ra is written there). `log` names a recreation.
 */
export function ensureVxlanDevice(nl: NetlinkSocket, spec: VxlanDeviceSpec, log: (message: string) => void): { link: Link; created: boolean } {
  let link = findLinkByName(nl, spec.name);
  if (link && link.kind !== "vxlan") throw new DeviceConflictError(`"${spec.name}" already exists but is not a vxlan device (it is a ${link.kind ?? "device"} link)`);
  if (link) {
    const why = vxlanIncompatibility(decodeVxlanData(link.kindData), spec.kind);
    if (why) {
      log(`recreating vxlan device "${spec.name}": it has ${why}`);
      deleteLink(nl, link.index, `vxlan device "${spec.name}"`);
      link = undefined;
    }
  }
  if (!link) {
    createLink(nl, { name: spec.name, mtu: spec.mtu, mac: spec.mac, master: spec.master || undefined, kind: spec.kind, up: true });
    try {
      writeSysctl(`net/ipv6/conf/${spec.name}/accept_ra`, "0");
    } catch (e) {
      if (!isErrno(e, "ENOENT")) throw e; // IPv6 disabled on this host
    }
    return { link: getLinkByName(nl, spec.name), created: true };
  }
  const changes: LinkChanges = {};
  if (link.mtu !== spec.mtu) changes.mtu = spec.mtu;
  if (link.mac !== formatMac(spec.mac)) changes.mac = spec.mac;
  if ((link.master ?? 0) !== (spec.master ?? 0)) changes.master = spec.master ?? 0;
  if (!link.up) changes.up = true;
  if (Object.keys(changes).length === 0) return { link, created: false };
  setLink(nl, link.index, changes, `vxlan device "${spec.name}"`);
  return { link: getLinkByName(nl, spec.name), created: false };
}
