import { formatPrefix, networkOf, parseIp, parsePrefix, sameIp, type Family, type IpAddress, type IpPrefix } from "../ip/address.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import { withNetnsSync, type Netns } from "../netns/netns.ts";
import { ensureSysctl } from "../netns/sysctl.ts";
import { addAddress, listAddresses } from "../rtnl/addresses.ts";
import { findLinkByIndex, setLink } from "../rtnl/links.ts";
import { addRoute, describeRoute, listRoutes, type Route as KernelRoute } from "../rtnl/routes.ts";
import { RT_TABLE_MAIN } from "../rtnl/constants.ts";
import { CniCode, CniError } from "./errors.ts";
import type { Result } from "./result.ts";

// What the reference's ipam.ConfigureIface does for bridge/macvlan/ipvlan, minus its IPv6 DAD stall.

/** A link inside a container netns, with an rtnetlink socket bound to that netns. */
export interface ContainerLink {
  netns: Netns;
  nl: NetlinkSocket;
  index: number;
  name: string;
}

export interface ConfigureOptions {
  /**
   * Run IPv6 duplicate address detection and wait for it (up to 5 s), like the bridge's `enabledad`.
   * Off (default): addresses are added nodad and accept_dad=0, so they are usable at once.
   */
  dad?: boolean;
}

const SETTLE_TIMEOUT_MS = 5000;
const SETTLE_POLL_MS = 50;

/** The addresses of `result` on interface `resultIndex` and its routes, with gateways filled in. */
function plan(result: Result, resultIndex: number, index: number): { addresses: IpPrefix[]; routes: KernelRoute[] } {
  const ips = (result.ips ?? []).filter((ip) => ip.interface === resultIndex);
  const addresses = ips.map((ip) => parsePrefix(ip.address));
  const gateways = ips.filter((ip) => ip.gateway).map((ip) => parseIp(ip.gateway!));
  const gatewayOf = (family: Family): IpAddress | undefined => gateways.find((gw) => gw.family === family);
  const routes = (result.routes ?? []).map((r): KernelRoute => {
    const dst = parsePrefix(r.dst);
    const route: KernelRoute = { dst: { address: networkOf(dst), prefixLength: dst.prefixLength }, oif: index };
    const gateway = r.gw ? parseIp(r.gw) : gatewayOf(dst.address.family);
    if (gateway) route.gateway = gateway;
    if (r.priority) route.priority = r.priority;
    if (r.table !== undefined) route.table = r.table;
    if (r.scope !== undefined) route.scope = r.scope;
    if (r.mtu) route.mtu = r.mtu;
    if (r.advmss) route.advmss = r.advmss;
    return route;
  });
  return { addresses, routes };
}

function setSysctl(path: string, value: string): void {
  try {
    ensureSysctl(path, value);
  } catch (e) {
    throw new Error(`set sysctl ${path}=${value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Applies the IPs of `result` bound to interface `resultIndex`, and all its routes, to `link`:
 * `sysctl net.ipv4.conf.<if>.arp_notify=1` (and for IPv6 disable_ipv6=0, keep_addr_on_down=1,
 * ndisc_notify=1, accept_dad=0), `ip addr add <ip> dev <if> nodad` for each, `ip link set <if> up`
 * (the kernel then announces the addresses: gratuitous ARP, unsolicited NA), and
 * `ip route add <dst> [via <gw>] dev <if>` with the first gateway of the family when a route has none.
 */
export function configureIface(link: ContainerLink, result: Result, resultIndex: number, opts: ConfigureOptions = {}): void {
  const { addresses, routes } = plan(result, resultIndex, link.index);
  const has = (family: Family) => addresses.some((a) => a.address.family === family);
  const name = link.name;
  try {
    withNetnsSync(link.netns.fd, () => {
      if (has(4)) setSysctl(`net/ipv4/conf/${name}/arp_notify`, "1");
      if (has(6)) {
        setSysctl("net/ipv6/conf/lo/disable_ipv6", "0");
        setSysctl(`net/ipv6/conf/${name}/disable_ipv6`, "0");
        setSysctl(`net/ipv6/conf/${name}/keep_addr_on_down`, "1");
        setSysctl(`net/ipv6/conf/${name}/ndisc_notify`, "1");
        if (!opts.dad) setSysctl(`net/ipv6/conf/${name}/accept_dad`, "0");
      }
    });
    for (const prefix of addresses) addAddress(link.nl, link.index, prefix, { noDad: !opts.dad });
    setLink(link.nl, link.index, { up: true }, `link "${name}"`);
    if (opts.dad && has(6)) settleAddresses(link);
    for (const route of routes) addRoute(link.nl, route);
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw new CniError(CniCode.internal, `failed to configure interface "${name}": ${(e as Error).message}`);
  }
}

/** Waits until no IPv6 address of the link is tentative (DAD done), as the reference's SettleAddresses. */
function settleAddresses(link: ContainerLink): void {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const v6 = listAddresses(link.nl, { index: link.index, family: 6 });
    const failed = v6.find((a) => a.dadFailed);
    if (failed) throw new CniError(CniCode.internal, `link "${link.name}" has address ${formatPrefix(failed.prefix)} in DADFAILED state`);
    if (!v6.some((a) => a.tentative)) return;
    if (Date.now() > deadline) {
      // A link without carrier never finishes DAD; only an up link that is still tentative is an error.
      if (findLinkByIndex(link.nl, link.index)?.operState !== "up") return;
      throw new CniError(CniCode.internal, `link "${link.name}" still has tentative IPv6 addresses after ${SETTLE_TIMEOUT_MS / 1000} s`);
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_POLL_MS);
  }
}

/**
 * CHECK: every IP of `result` bound to interface `resultIndex` is on the link with its prefix
 * length, and every route of `result` is in its table through the link with the expected gateway.
 */
export function checkIfaceConfig(link: ContainerLink, result: Result, resultIndex: number): void {
  const { addresses, routes } = plan(result, resultIndex, link.index);
  const present = listAddresses(link.nl, { index: link.index });
  for (const want of addresses) {
    if (!present.some((a) => sameIp(a.prefix.address, want.address) && a.prefix.prefixLength === want.prefixLength)) {
      throw new CniError(CniCode.invalidNetworkConfig, `address ${formatPrefix(want)} not found on interface "${link.name}"`);
    }
  }
  if (routes.length === 0) return;
  const tables = new Map<number, KernelRoute[]>();
  for (const want of routes) {
    const table = want.table ?? RT_TABLE_MAIN;
    let existing = tables.get(table);
    if (!existing) tables.set(table, (existing = listRoutes(link.nl, { table, oif: link.index })));
    const found = existing.some(
      (r) =>
        r.dst.address.family === want.dst.address.family &&
        r.dst.prefixLength === want.dst.prefixLength &&
        sameIp(r.dst.address, want.dst.address) &&
        (want.gateway === undefined || (r.gateway !== undefined && sameIp(r.gateway, want.gateway))),
    );
    if (!found) throw new CniError(CniCode.invalidNetworkConfig, `route ${describeRoute({ ...want, oif: undefined })} not found on interface "${link.name}"`);
  }
}
