import { invalidConfig } from "../cni/errors.ts";
import { compareVersions } from "../cni/version.ts";
import {
  bitsOf,
  formatIp,
  formatPrefix,
  lastAddressOf,
  networkOf,
  parseIp,
  parsePrefix,
  type Family,
  type IpAddress,
  type IpPrefix,
} from "../ip/address.ts";

// Range sets as host-local defines them (plugins/ipam/host-local/backend/allocator/range*.go):
// an attachment gets one address from each range set; a set is a pool of ranges of one family.

/** A range as written in config; only `subnet` is required. */
export interface RangeSpec {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

/** A canonical range: every field set, rangeStart <= rangeEnd, both inside `subnet`. */
export interface IpRange {
  /** The network address with its prefix length. */
  readonly subnet: IpPrefix;
  readonly rangeStart: IpAddress;
  readonly rangeEnd: IpAddress;
  /** Returned as the gateway of addresses from this range; never allocated. */
  readonly gateway: IpAddress;
}

export type RangeSet = readonly IpRange[];

/**
 * Fills in the defaults like Go's Range.Canonicalize: gateway and rangeStart default to the
 * subnet's first address (the allocator skips the gateway), rangeEnd to the last address, minus
 * the broadcast address for IPv4. `path` names the range in errors (`ipam.ranges[0][1]`).
 * Stricter than Go: rangeStart after rangeEnd, and a gateway of the other family, are errors.
 */
export function canonicalizeRange(spec: RangeSpec, path: string): IpRange {
  const subnet = parseField(`${path}.subnet`, spec.subnet, parsePrefix);
  const { family } = subnet.address;
  const bits = bitsOf(family);
  if (subnet.prefixLength > bits - 2) {
    throw invalidConfig(
      `invalid ${path}.subnet "${spec.subnet}": network too small to allocate from`,
      `an IPv${family} subnet needs a prefix length of at most /${bits - 2}`,
    );
  }
  const network = networkOf(subnet);
  if (network.value !== subnet.address.value) {
    throw invalidConfig(
      `invalid ${path}.subnet "${spec.subnet}": host bits set`,
      `for a /${subnet.prefixLength} the network address is ${formatIp(network)}`,
    );
  }
  const first: IpAddress = { family, value: network.value + 1n };
  const last = lastAddressOf(subnet);
  const inSubnet = (key: string, text: string | undefined, fallback: IpAddress): IpAddress => {
    if (text === undefined) return fallback;
    const ip = parseField(`${path}.${key}`, text, parseIp);
    if (ip.family !== family || ip.value < network.value || ip.value > last.value) {
      throw invalidConfig(`invalid ${path}.${key} "${text}": not in subnet ${formatPrefix(subnet)}`);
    }
    return ip;
  };
  const rangeStart = inSubnet("rangeStart", spec.rangeStart, first);
  const rangeEnd = inSubnet("rangeEnd", spec.rangeEnd, family === 4 ? { family, value: last.value - 1n } : last);
  if (rangeStart.value > rangeEnd.value) {
    throw invalidConfig(`invalid ${path}: rangeStart ${formatIp(rangeStart)} is after rangeEnd ${formatIp(rangeEnd)}`);
  }
  // Go does not require the gateway to be inside the subnet (on-link gateways elsewhere); neither do we.
  const gateway = spec.gateway === undefined ? first : parseField(`${path}.gateway`, spec.gateway, parseIp);
  if (gateway.family !== family) {
    throw invalidConfig(`invalid ${path}.gateway "${spec.gateway}": not an IPv${family} address like subnet ${spec.subnet}`);
  }
  return { subnet, rangeStart, rangeEnd, gateway };
}

function parseField<T>(key: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    throw invalidConfig(`invalid ${key} "${text}"`, (e as Error).message);
  }
}

/** A range set as written in config, with the config path of the set and of each range for errors. */
export interface RangeSetSpec {
  path: string;
  ranges: Array<RangeSpec & { path: string }>;
}

/**
 * Canonicalizes every range and checks what Go checks: a set is non-empty, of one family, and its
 * ranges do not overlap; sets do not overlap each other; config versions before 0.3.0 (results
 * with one ip4 and one ip6) allow one set per family.
 */
export function canonicalizeRangeSets(specs: readonly RangeSetSpec[], cniVersion: string): RangeSet[] {
  if (specs.length === 0) throw invalidConfig("no IP ranges specified", "set ipam.ranges (or the legacy ipam.subnet)");
  const sets = specs.map(({ path, ranges }) => {
    if (ranges.length === 0) throw invalidConfig(`invalid ${path}: empty range set`);
    const set = ranges.map((spec) => canonicalizeRange(spec, spec.path));
    const family = familyOf(set);
    set.forEach((range, i) => {
      if (range.subnet.address.family !== family) {
        throw invalidConfig(`invalid ${path}: mixed address families`, `${ranges[i]?.path} is IPv${range.subnet.address.family}, ${ranges[0]?.path} is IPv${family}`);
      }
      for (const other of set.slice(0, i)) {
        if (rangesOverlap(range, other)) throw invalidConfig(`invalid ${path}: ranges ${formatRange(other)} and ${formatRange(range)} overlap`);
      }
    });
    return set;
  });
  sets.forEach((set, i) => {
    sets.slice(0, i).forEach((other, j) => {
      if (set.some((a) => other.some((b) => rangesOverlap(a, b)))) {
        throw invalidConfig(`range set ${j} overlaps with ${i}`, `${specs[j]?.path} and ${specs[i]?.path} share addresses`);
      }
    });
  });
  if (compareVersions(cniVersion, "0.3.0") < 0) {
    for (const family of [4, 6] as const) {
      if (sets.filter((set) => familyOf(set) === family).length > 1) {
        throw invalidConfig(
          `CNI version ${cniVersion} does not support more than 1 address per family`,
          `the config has several IPv${family} range sets; results before 0.3.0 hold one ip4 and one ip6`,
        );
      }
    }
  }
  return sets;
}

const familyOf = (set: RangeSet): Family => set[0]?.subnet.address.family ?? 4;

function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.rangeStart.family === b.rangeStart.family && a.rangeStart.value <= b.rangeEnd.value && b.rangeStart.value <= a.rangeEnd.value;
}

export const rangeContains = (range: IpRange, ip: IpAddress): boolean =>
  ip.family === range.rangeStart.family && ip.value >= range.rangeStart.value && ip.value <= range.rangeEnd.value;

/** The range of `set` holding `ip`, if any. */
export const rangeFor = (set: RangeSet, ip: IpAddress): IpRange | undefined => set.find((range) => rangeContains(range, ip));

/** `10.1.0.1-10.1.0.254`, as Go prints a range. */
export const formatRange = (range: IpRange): string => `${formatIp(range.rangeStart)}-${formatIp(range.rangeEnd)}`;

export const formatRangeSet = (set: RangeSet): string => set.map(formatRange).join(",");

/** How many addresses the set can hand out: every range's addresses minus its gateway. */
export function capacityOf(set: RangeSet): bigint {
  return set.reduce((sum, r) => sum + r.rangeEnd.value - r.rangeStart.value + 1n - (rangeContains(r, r.gateway) ? 1n : 0n), 0n);
}
