import { CniCode, CniError, invalidConfig } from "../../lib/cni/errors.ts";
import type { Dns, Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { formatIp, formatPrefix, parsePrefix, tryParseIp, type IpAddress } from "../../lib/ip/address.ts";
import { allocate, assignRequestedIps, collectGarbage, exhaustedRangeSets, leasesOf, releaseAttachment } from "../../lib/ipam/allocator.ts";
import { LeaseStore } from "../../lib/ipam/lease-store.ts";
import { formatRangeSet, rangeFor } from "../../lib/ipam/range-set.ts";
import { parseResolvConf } from "../../lib/ipam/resolv-conf.ts";
import { readTextFile } from "../../lib/sys/files.ts";
import { SyscallError } from "../../lib/sys/index.ts";
import { attachmentOf, parseConfig, storeLocation, validAttachments, type StoreLocation } from "./config.ts";

export const info: PluginInfo = { name: "host-local", about: "allocates IP addresses from local ranges, one lease file per address" };

/**
 * Runs `fn` on the network's lease store, locked. `create`: make the directory if missing (ADD);
 * otherwise a missing directory means no leases and `fn` is not called. File errors are code 5.
 */
function withStore<T>(location: StoreLocation, create: boolean, fn: (store: LeaseStore) => T): T | undefined {
  let store: LeaseStore | undefined;
  try {
    store = LeaseStore.open(location.dataDir, location.name, create);
    return store && fn(store);
  } catch (e) {
    if (e instanceof SyscallError) throw new CniError(CniCode.ioFailure, `failed to access the leases of network "${location.name}"`, e.message);
    throw e;
  } finally {
    store?.close();
  }
}

function add(ctx: PluginContext): Result {
  const config = parseConfig(ctx);
  const requested = assignRequestedIps(config.rangeSets, config.requestedIps);
  const dns = config.resolvConf === undefined ? undefined : readResolvConf(config.resolvConf);
  const allocations = withStore(config, true, (store) => allocate(store, config.rangeSets, attachmentOf(ctx), requested)) ?? [];
  return {
    cniVersion: ctx.cniVersion,
    ips: allocations.map(({ ip, range }) => ({
      address: formatPrefix({ address: ip, prefixLength: range.subnet.prefixLength }),
      gateway: formatIp(range.gateway),
    })),
    routes: config.routes,
    dns,
  };
}

function readResolvConf(path: string): Dns {
  try {
    return parseResolvConf(readTextFile(path));
  } catch (e) {
    throw invalidConfig(`invalid ipam.resolvConf "${path}"`, (e as Error).message);
  }
}

function del(ctx: PluginContext): void {
  withStore(storeLocation(ctx), false, (store) => releaseAttachment(store, attachmentOf(ctx)));
}

/**
 * The attachment must hold a lease and, when prevResult is given, exactly the addresses it lists
 * within our range sets, with their subnet's prefix length. (Go only checks that some lease exists.)
 */
function check(ctx: PluginContext): void {
  const config = parseConfig(ctx);
  const attachment = attachmentOf(ctx);
  const who = `container ${attachment.containerId} interface "${attachment.ifname}"`;
  const leased = withStore(config, false, (store) => leasesOf(store, attachment)) ?? [];
  if (leased.length === 0) {
    throw invalidConfig(`host-local: Failed to find address added by container ${attachment.containerId}`, `no lease for ${who} in ${config.dataDir}/${config.name}`);
  }
  if (!ctx.prevResult) return;
  const rangeOf = (ip: IpAddress) => config.rangeSets.map((set) => rangeFor(set, ip)).find((range) => range !== undefined);
  const reported = new Set<string>();
  for (const { address } of ctx.prevResult.ips ?? []) {
    const prefix = parsePrefix(address);
    const range = rangeOf(prefix.address);
    if (!range) continue;
    if (prefix.prefixLength !== range.subnet.prefixLength) {
      throw invalidConfig(`host-local: prevResult address ${address} has the wrong prefix length`, `its subnet is ${formatPrefix(range.subnet)}`);
    }
    reported.add(formatIp(prefix.address));
  }
  const ours = new Set(leased.filter((address) => {
    const ip = tryParseIp(address);
    return ip !== undefined && rangeOf(ip) !== undefined;
  }));
  for (const ip of reported) {
    if (!ours.has(ip)) throw invalidConfig(`host-local: prevResult address ${ip} is not leased to ${who}`, `leased: ${[...ours].join(", ")}`);
  }
  for (const ip of ours) {
    if (!reported.has(ip)) throw invalidConfig(`host-local: ${ip} is leased to ${who} but missing from prevResult`);
  }
}

function gc(ctx: PluginContext): void {
  const valid = validAttachments(ctx.config);
  withStore(storeLocation(ctx), false, (store) => collectGarbage(store, valid));
}

/** Not available (code 50) when a range set has no address left: an ADD would fail. */
function status(ctx: PluginContext): void {
  const config = parseConfig(ctx);
  const exhausted = withStore(config, false, (store) => exhaustedRangeSets(store, config.rangeSets)) ?? [];
  if (exhausted.length > 0) {
    throw new CniError(
      CniCode.pluginNotAvailable,
      `no IP addresses available in range set: ${exhausted.map((i) => formatRangeSet(config.rangeSets[i]!)).join("; ")}`,
      `range set ${exhausted.join(", ")} of network "${config.name}" is fully leased`,
    );
  }
}

export const hostLocal: Plugin = { add, del, check, gc, status };
