import { openContainerNetns, openContainerNetnsIfPresent } from "../../lib/cni/container-netns.ts";
import { CniError, CniCode } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { formatPrefix } from "../../lib/ip/address.ts";
import { withRtnlIn } from "../../lib/netns/sockets.ts";
import { listAddresses, type LinkAddress } from "../../lib/rtnl/addresses.ts";
import { findLinkByIndex, setLink } from "../../lib/rtnl/links.ts";

export const info: PluginInfo = { name: "loopback", about: "brings up the loopback interface of the container" };

// The kernel gives every namespace's loopback device ifindex 1 (LOOPBACK_IFINDEX).
const LOOPBACK_INDEX = 1;

const isLoopbackAddress = (a: LinkAddress): boolean =>
  a.prefix.address.family === 4 ? a.prefix.address.value >> 24n === 127n : a.prefix.address.value === 1n;

function add(ctx: PluginContext): Result {
  const addresses = withRtnlIn(openContainerNetns(ctx), (nl) => {
    setLink(nl, LOOPBACK_INDEX, { up: true }, `link "lo"`);
    // Read after bringing lo up: the kernel assigns 127.0.0.1/8 and ::1 then.
    const addrs = listAddresses(nl, { index: LOOPBACK_INDEX });
    const foreign = addrs.find((a) => !isLoopbackAddress(a));
    if (foreign) {
      setLink(nl, LOOPBACK_INDEX, { up: false }, `link "lo"`);
      throw new CniError(CniCode.invalidNetworkConfig, "loopback interface found with non-loopback address", formatPrefix(foreign.prefix));
    }
    return addrs;
  });
  if (ctx.prevResult) return ctx.prevResult;
  const ips = [];
  for (const family of [4, 6]) {
    const first = addresses.find((a) => a.prefix.address.family === family);
    if (first) ips.push({ address: formatPrefix(first.prefix), interface: 0 });
  }
  return {
    cniVersion: ctx.cniVersion,
    interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: ctx.env.netns }],
    ips,
  };
}

function del(ctx: PluginContext): void {
  const netns = openContainerNetnsIfPresent(ctx);
  if (!netns) return;
  withRtnlIn(netns, (nl) => setLink(nl, LOOPBACK_INDEX, { up: false }, `link "lo"`));
}

function check(ctx: PluginContext): void {
  const up = withRtnlIn(openContainerNetns(ctx), (nl) => findLinkByIndex(nl, LOOPBACK_INDEX)?.up);
  if (!up) throw new CniError(CniCode.invalidNetworkConfig, "loopback interface is down");
}

export const loopback: Plugin = { add, del, check, gc: () => {}, status: () => {} };
