import { openContainerNetns, openContainerNetnsIfPresent } from "../../lib/cni/container-netns.ts";
import { CniError, CniCode } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { formatPrefix } from "../../lib/ip/address.ts";
import type { Netns } from "../../lib/netns/netns.ts";
import { openRtnlIn } from "../../lib/netns/sockets.ts";
import type { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { listAddresses, type LinkAddress } from "../../lib/rtnl/addresses.ts";
import { getLinkByName, setLink } from "../../lib/rtnl/links.ts";

export const info: PluginInfo = { name: "loopback", about: "brings up the loopback interface of the container" };

function withLoopback<T>(netns: Netns, fn: (nl: NetlinkSocket, index: number) => T): T {
  try {
    const nl = openRtnlIn(netns);
    try {
      return fn(nl, getLinkByName(nl, "lo").index);
    } finally {
      nl.close();
    }
  } finally {
    netns.close();
  }
}

const isLoopbackAddress = (a: LinkAddress): boolean =>
  a.prefix.address.family === 4 ? a.prefix.address.value >> 24n === 127n : a.prefix.address.value === 1n;

function add(ctx: PluginContext): Result {
  const addresses = withLoopback(openContainerNetns(ctx), (nl, index) => {
    const addrs = listAddresses(nl, { index });
    const foreign = addrs.find((a) => !isLoopbackAddress(a));
    if (foreign) {
      throw new CniError(CniCode.invalidNetworkConfig, "loopback interface found with non-loopback address", formatPrefix(foreign.prefix));
    }
    setLink(nl, index, { up: true }, `link "lo"`);
    // The kernel assigns 127.0.0.1/8 and ::1 as lo comes up; re-read them for the result.
    return listAddresses(nl, { index });
  });
  if (ctx.prevResult) return ctx.prevResult;
  const firstOf = (family: 4 | 6) => addresses.find((a) => a.prefix.address.family === family);
  const ips = [firstOf(4), firstOf(6)].flatMap((a) => (a ? [{ address: formatPrefix(a.prefix), interface: 0 }] : []));
  return {
    cniVersion: ctx.cniVersion,
    interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: ctx.env.netns }],
    ips,
  };
}

function del(ctx: PluginContext): void {
  const netns = openContainerNetnsIfPresent(ctx);
  if (!netns) return;
  withLoopback(netns, (nl, index) => setLink(nl, index, { up: false }, `link "lo"`));
}

function check(ctx: PluginContext): void {
  const up = withLoopback(openContainerNetns(ctx), (nl) => getLinkByName(nl, "lo").up);
  if (!up) throw new CniError(CniCode.invalidNetworkConfig, "loopback interface is down");
}

export const loopback: Plugin = { add, del, check, gc: () => {}, status: () => {} };
