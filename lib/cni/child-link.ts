import { NETLINK_ROUTE } from "../netlink/constants.ts";
import { NetlinkError, NetlinkSocket } from "../netlink/socket.ts";
import type { Netns } from "../netns/netns.ts";
import { openRtnlIn } from "../netns/sockets.ts";
import { RT_TABLE_MAIN } from "../rtnl/constants.ts";
import type { IpvlanKind } from "../rtnl/kinds/ipvlan.ts";
import type { MacvlanKind } from "../rtnl/kinds/macvlan.ts";
import { createLink, deleteLink, deleteLinkIfPresent, findLinkByIndex, findLinkByName, getLinkByName, setLink, type Link } from "../rtnl/links.ts";
import { listRoutes } from "../rtnl/routes.ts";
import { CniCode, CniError } from "./errors.ts";

// macvlan and ipvlan links: children of a master link, made straight into the container netns.

/**
 * The master link: `name` when given, else the link of the first default route (IPv4 before IPv6),
 * as the reference picks it. `where` names the netns in errors ("host", "container").
 */
export function findMaster(nl: NetlinkSocket, name: string | undefined, where: string): Link {
  if (name !== undefined) {
    const link = findLinkByName(nl, name);
    if (!link) throw new CniError(CniCode.invalidNetworkConfig, `master "${name}" not found in the ${where} netns`);
    return link;
  }
  const route = listRoutes(nl, { table: RT_TABLE_MAIN }).find((r) => r.dst.prefixLength === 0 && r.oif !== undefined);
  const link = route?.oif === undefined ? undefined : findLinkByIndex(nl, route.oif);
  if (!link) {
    throw new CniError(CniCode.invalidNetworkConfig, `no "master" given and no default route in the ${where} netns to take it from`);
  }
  return link;
}

/** rtnetlink sockets in the container netns and in the netns of the master (the same one or the host's). */
export interface ChildLinkSockets {
  container: Netns;
  containerNl: NetlinkSocket;
  masterNl: NetlinkSocket;
  /** True when the master is in the container netns (`linkInContainer`). */
  masterInContainer: boolean;
}

/** Opens the sockets, runs `fn`, then closes them and `container`. */
export function withChildLinkSockets<T>(container: Netns, masterInContainer: boolean, fn: (s: ChildLinkSockets) => T): T {
  try {
    const containerNl = openRtnlIn(container);
    try {
      const masterNl = masterInContainer ? containerNl : NetlinkSocket.open(NETLINK_ROUTE);
      try {
        return fn({ container, containerNl, masterNl, masterInContainer });
      } finally {
        if (masterNl !== containerNl) masterNl.close();
      }
    } finally {
      containerNl.close();
    }
  } finally {
    container.close();
  }
}

export interface ChildLinkSpec extends ChildLinkSockets {
  kind: MacvlanKind | IpvlanKind;
  master: Link;
  ifname: string;
  mtu?: number;
  mac?: Uint8Array;
}

const TEMP_NAME_ATTEMPTS = 3;

/** `cni` + 8 hex digits: a name unlikely to exist in the host netns. */
const tempName = (): string => `cni${(0x100000000 + Math.floor(Math.random() * 0x100000000)).toString(16).slice(1)}`;

/**
 * `ip link add <tmp> link <master> netns <container> type macvlan|ipvlan ...`, then renamed to
 * `ifname` inside the container. The temporary name is needed because the kernel looks the new name
 * up in the netns of the request's socket, so an `eth0` in the host netns would make it fail.
 * A master in the container needs no detour. Returns the link as the container sees it.
 */
export function createChildLink(spec: ChildLinkSpec): Link {
  const { kind, ifname } = spec;
  const base = { kind, parentIndex: spec.master.index, mtu: spec.mtu, mac: spec.mac };
  if (spec.masterInContainer) {
    try {
      createLink(spec.containerNl, { ...base, name: ifname });
    } catch (e) {
      throw addFailed(spec, e);
    }
    return getLinkByName(spec.containerNl, ifname);
  }
  let name = tempName();
  for (let attempt = 1; ; attempt++) {
    try {
      createLink(spec.masterNl, { ...base, name, netnsFd: spec.container.fd });
      break;
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === "EEXIST") || attempt === TEMP_NAME_ATTEMPTS) throw addFailed(spec, e);
      name = tempName();
    }
  }
  const link = getLinkByName(spec.containerNl, name);
  try {
    setLink(spec.containerNl, link.index, { name: ifname }, `link "${name}"`);
  } catch (e) {
    deleteLink(spec.containerNl, link.index, `link "${name}"`);
    if (e instanceof NetlinkError && e.code === "EEXIST") throw ifnameTaken(ifname);
    throw new CniError(CniCode.internal, `failed to rename ${kind.kind} "${name}" to "${ifname}": ${e instanceof NetlinkError ? e.code : String(e)}`);
  }
  return { ...link, name: ifname };
}

const ifnameTaken = (ifname: string): CniError =>
  new CniError(CniCode.internal, `interface "${ifname}" already exists in the container netns`, "CNI_IFNAME must name a free interface");

function addFailed(spec: ChildLinkSpec, e: unknown): unknown {
  if (!(e instanceof NetlinkError)) return e;
  const kind = spec.kind.kind;
  const what = `failed to add ${kind} on master "${spec.master.name}": ${e.code}${e.extAck ? ` (${e.extAck})` : ""}`;
  if (e.code === "EOPNOTSUPP" && (e.extAck === undefined || /unknown device type/i.test(e.extAck))) {
    return new CniError(CniCode.pluginNotAvailable, `the kernel lacks ${kind} support`, `${what}; it needs CONFIG_${kind.toUpperCase()} (module ${kind})`);
  }
  if (e.code === "EEXIST" && spec.masterInContainer) return ifnameTaken(spec.ifname);
  return new CniError(CniCode.internal, what);
}

/**
 * DEL: `ip link del <ifname>` in the container when it is a link of `kind`; a missing link is done.
 * Anything else under that name was not made by this plugin and is left alone.
 */
export function deleteChildLink(containerNl: NetlinkSocket, ifname: string, kind: string): void {
  const link = findLinkByName(containerNl, ifname);
  if (link?.kind === kind) deleteLinkIfPresent(containerNl, link.index, `${kind} "${ifname}"`);
}
