import type { IpConfig, Route } from "../cni/result.ts";
import { addToIp, formatIp, networkOf, parseIp, parsePrefix, type Family } from "../ip/address.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import { ensureSysctl } from "../netns/sysctl.ts";
import type { Link } from "../rtnl/links.ts";
import { ensureGatewayAddress } from "./bridge.ts";

// The host side of "the bridge is the containers' gateway", shared by the bridge and vxlan plugins.

/** The subnet's first address as the gateway when IPAM gave none (the reference bridge's isGateway). */
export function withSubnetGateway(ip: IpConfig): IpConfig {
  if (ip.gateway) return ip;
  const prefix = parsePrefix(ip.address);
  return { ...ip, gateway: formatIp(addToIp(networkOf(prefix), 1n)) };
}

/** A default route per family via that family's first gateway, unless `routes` already has one. */
export function withDefaultRoutes(routes: Route[], ips: IpConfig[]): Route[] {
  const out = [...routes];
  for (const family of [4, 6] as Family[]) {
    const gw = ips.find((ip) => ip.gateway && parseIp(ip.gateway).family === family)?.gateway;
    const dst = family === 4 ? "0.0.0.0/0" : "::/0";
    if (gw && !out.some((r) => r.dst === dst)) out.push({ dst, gw });
  }
  return out;
}

/**
 * Puts each gateway on the bridge with its address's prefix length (`ensureGatewayAddress`) and
 * turns forwarding on for their families (`sysctl net.ipv4.ip_forward=1`,
 * `net.ipv6.conf.all.forwarding=1`). Must run in the namespace `nl` is bound to.
 */
export function setupGateways(nl: NetlinkSocket, bridge: Link, ips: IpConfig[], force: boolean): void {
  const families = new Set<Family>();
  for (const ip of ips) {
    if (!ip.gateway) continue;
    const gateway = parseIp(ip.gateway);
    ensureGatewayAddress(nl, bridge, { address: gateway, prefixLength: parsePrefix(ip.address).prefixLength }, force);
    families.add(gateway.family);
  }
  if (families.has(4)) ensureSysctl("net/ipv4/ip_forward", "1");
  if (families.has(6)) ensureSysctl("net/ipv6/conf/all/forwarding", "1");
}
