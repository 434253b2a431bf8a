import { CniCode, CniError, invalidConfig } from "../cni/errors.ts";
import { formatIp, sameIp, tryParseIp, type IpAddress } from "../ip/address.ts";
import { holderOf, type Attachment, type Lease, type LeaseStore } from "./lease-store.ts";
import { capacityOf, formatRangeSet, rangeFor, type IpRange, type RangeSet } from "./range-set.ts";
import { roundRobin } from "./round-robin.ts";

// host-local's allocation policy over a LeaseStore. Every function expects the store open (locked).

export interface Allocation {
  ip: IpAddress;
  range: IpRange;
}

/**
 * Gives each requested address to the first range set containing it, one per set, as Go does.
 * Returns per set the requested address or undefined. An address in no set, a second address
 * for the same set, or a gateway is a config error (the requests come in the config, or in
 * CNI_ARGS as sent by the runtime).
 */
export function assignRequestedIps(sets: readonly RangeSet[], requested: readonly IpAddress[]): Array<IpAddress | undefined> {
  const assigned: Array<IpAddress | undefined> = sets.map(() => undefined);
  const unfulfilled: IpAddress[] = [];
  for (const ip of requested) {
    const i = sets.findIndex((set, i) => assigned[i] === undefined && rangeFor(set, ip));
    const range = i < 0 ? undefined : rangeFor(sets[i]!, ip);
    if (!range) {
      unfulfilled.push(ip);
      continue;
    }
    if (sameIp(ip, range.gateway)) throw invalidConfig(`requested ip ${formatIp(ip)} is subnet's gateway`);
    assigned[i] = ip;
  }
  if (unfulfilled.length > 0) {
    throw invalidConfig(
      `failed to allocate all requested IPs: ${unfulfilled.map(formatIp).join(" ")}`,
      `each address must lie in a range set, one per set: ${sets.map(formatRangeSet).join("; ")}`,
    );
  }
  return assigned;
}

/**
 * Reserves one address per range set for the attachment, all under the one lock the caller holds:
 * the requested address where given, else the next free one in round-robin order. All or nothing:
 * on failure the addresses reserved so far are released.
 *
 * Refusing a second ADD for an attachment needs its current leases. The index has them, except
 * after the Go plugin allocated (its last_reserved_ip.<i> then differs from what the index last
 * saw): then every lease is read once and indexed, as Go reads them all on every ADD.
 */
export function allocate(store: LeaseStore, sets: readonly RangeSet[], attachment: Attachment, requested: ReadonlyArray<IpAddress | undefined>): Allocation[] {
  const last = sets.map((_, i) => store.lastReserved(i));
  const seen = store.readSeen();
  let held: string[];
  if (last.some((text, i) => text !== seen[i])) {
    const leases = store.leases();
    reindex(store, leases);
    store.writeSeen(seenOf(last));
    held = matching(leases, attachment);
  } else {
    held = leasesOf(store, attachment, false);
  }
  const allocations: Allocation[] = [];
  try {
    sets.forEach((set, i) => {
      const duplicate = held.find((address) => inSet(set, address));
      if (duplicate) {
        throw new CniError(
          CniCode.internal,
          `failed to allocate for range ${i}: ${duplicate} has been allocated to ${attachment.containerId}, duplicate allocation is not allowed`,
          `interface "${attachment.ifname}" already holds ${duplicate}; the runtime must DEL before another ADD`,
        );
      }
      const ip = requested[i];
      allocations.push(ip ? reserveRequested(store, set, i, ip, attachment) : reserveNext(store, set, i, parse(last[i]), attachment));
    });
    const addresses = allocations.map(({ ip }) => formatIp(ip));
    addresses.forEach((address, i) => store.writeLastReserved(i, address));
    store.writeSeen(seenOf(addresses));
    // Last: an index entry only lists leases that exist.
    store.writeIndex(attachment, [...held, ...addresses]);
  } catch (e) {
    for (const { ip } of allocations) store.release(formatIp(ip));
    throw e;
  }
  return allocations;
}

function reserveRequested(store: LeaseStore, set: RangeSet, index: number, ip: IpAddress, attachment: Attachment): Allocation {
  const address = formatIp(ip);
  if (!store.reserve(address, attachment)) {
    const holder = store.holder(address);
    throw new CniError(
      CniCode.tryAgainLater,
      `failed to allocate for range ${index}: requested IP address ${address} is not available in range set ${formatRangeSet(set)}`,
      holder === undefined ? undefined : `held by ${describeHolder(holder)}`,
    );
  }
  return { ip, range: rangeFor(set, ip)! };
}

/** After this many taken addresses in a row, one directory listing replaces the create attempts. */
const PROBES_BEFORE_LISTING = 32;

function reserveNext(store: LeaseStore, set: RangeSet, index: number, last: IpAddress | undefined, attachment: Attachment): Allocation {
  let taken: Set<string> | undefined;
  let probes = 0;
  for (const candidate of roundRobin(set, last)) {
    const address = formatIp(candidate.ip);
    if (taken?.has(address)) continue;
    if (store.reserve(address, attachment)) return candidate;
    if (++probes === PROBES_BEFORE_LISTING) taken = new Set(store.leasedAddresses());
  }
  throw new CniError(
    CniCode.pluginNotAvailable,
    `failed to allocate for range ${index}: no IP addresses available in range set: ${formatRangeSet(set)}`,
    `all ${capacityOf(set)} addresses are leased`,
  );
}

/**
 * The addresses leased to the attachment: from its index entry when every address listed is still
 * held by it; else (no entry, or the Go plugin released or reassigned one) by reading every lease
 * like Go does. Without an index entry the scan runs only if `scanWithoutIndex`.
 */
export function leasesOf(store: LeaseStore, attachment: Attachment, scanWithoutIndex = true): string[] {
  const holder = holderOf(attachment);
  const indexed = store.readIndex(attachment);
  if (indexed ? indexed.every((address) => store.holder(address) === holder) : !scanWithoutIndex) return indexed ?? [];
  return matching(store.leases(), attachment);
}

/** Go's match: leases holding `<containerID>\r\n<ifname>`, else legacy `<containerID>` ones. */
function matching(leases: readonly Lease[], attachment: Attachment): string[] {
  const holder = holderOf(attachment);
  const own = leases.filter((lease) => lease.holder === holder);
  const legacyHolder = attachment.containerId.trim();
  return (own.length > 0 ? own : leases.filter((lease) => lease.holder === legacyHolder)).map((lease) => lease.address);
}

/**
 * Makes the index agree with `leases` (all of them): an entry per attachment holding leases,
 * none for others. Legacy `<containerID>` leases name no interface and stay unindexed.
 */
function reindex(store: LeaseStore, leases: readonly Lease[]): void {
  const byHolder = new Map<string, string[]>();
  for (const { address, holder } of leases) {
    if (holder.includes("\r\n")) byHolder.set(holder, [...(byHolder.get(holder) ?? []), address]);
  }
  const upToDate = new Set<string>();
  for (const attachment of store.indexedAttachments()) {
    const addresses = byHolder.get(holderOf(attachment));
    if (!addresses) store.removeIndex(attachment);
    else if (sameAddresses(store.readIndex(attachment) ?? [], addresses)) upToDate.add(holderOf(attachment));
  }
  for (const [holder, addresses] of byHolder) {
    if (upToDate.has(holder)) continue;
    const [containerId = "", ifname = ""] = holder.split("\r\n");
    store.writeIndex({ containerId, ifname }, addresses);
  }
}

/** Releases every lease of the attachment and its index entry. */
export function releaseAttachment(store: LeaseStore, attachment: Attachment): void {
  for (const address of leasesOf(store, attachment)) store.release(address);
  store.removeIndex(attachment);
}

/**
 * GC: releases every lease whose holder is not a valid attachment (a legacy `<containerID>` lease
 * stays if any valid attachment has that container ID) and drops index entries of attachments
 * that are not valid.
 */
export function collectGarbage(store: LeaseStore, valid: readonly Attachment[]): void {
  const holders = new Set(valid.map(holderOf));
  const containerIds = new Set(valid.map((a) => a.containerId.trim()));
  for (const { address, holder } of store.leases()) {
    if (!holders.has(holder) && !containerIds.has(holder)) store.release(address);
  }
  for (const attachment of store.indexedAttachments()) {
    if (!holders.has(holderOf(attachment))) store.removeIndex(attachment);
  }
}

/** The indexes of the range sets with no address left (from the directory listing only). */
export function exhaustedRangeSets(store: LeaseStore, sets: readonly RangeSet[]): number[] {
  const leased = store.leasedAddresses().flatMap((address) => parse(address) ?? []);
  return sets.flatMap((set, i) => {
    const used = leased.filter((ip) => {
      const range = rangeFor(set, ip);
      return range !== undefined && !sameIp(ip, range.gateway);
    }).length;
    return BigInt(used) >= capacityOf(set) ? [i] : [];
  });
}

const parse = (text: string | undefined): IpAddress | undefined => (text === undefined ? undefined : tryParseIp(text.trim()));

const inSet = (set: RangeSet, address: string): boolean => {
  const ip = parse(address);
  return ip !== undefined && rangeFor(set, ip) !== undefined;
};

const sameAddresses = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join() === [...b].sort().join();

function seenOf(texts: ReadonlyArray<string | undefined>): Record<string, string> {
  const seen: Record<string, string> = {};
  for (const [i, text] of texts.entries()) if (text !== undefined) seen[i] = text;
  return seen;
}

function describeHolder(holder: string): string {
  const [containerId, ifname] = holder.split("\r\n");
  return ifname === undefined ? `container ${containerId}` : `container ${containerId} interface "${ifname}"`;
}
