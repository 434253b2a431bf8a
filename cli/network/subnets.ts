// The address plan of a new network: its subnets with gateway and allocation range, checked
// against each other and against every network already in the configuration directory.
import {
  addToIp,
  formatIp,
  formatPrefix,
  lastAddressOf,
  networkOf,
  parseIp,
  parsePrefix,
  prefixContains,
  prefixesOverlap,
  sameIp,
  type IpAddress,
  type IpPrefix,
} from "../../lib/ip/address.ts";
import type { NetworkFile } from "../../lib/runtime/index.ts";
import { CliError } from "../context.ts";

export interface SubnetPlan {
  subnet: IpPrefix;
  gateway: IpAddress;
  /** From --ip-range: the addresses handed out (host-local rangeStart/rangeEnd). */
  rangeStart?: IpAddress;
  rangeEnd?: IpAddress;
}

export interface SubnetRequest {
  subnets: string[];
  gateways: string[];
  ipRanges: string[];
}

/** A subnet some existing network uses. */
export interface UsedSubnet {
  network: string;
  path: string;
  subnet: IpPrefix;
}

/** Where subnets are picked from when none is given: 10.89.0.0/24, 10.89.1.0/24, … */
const AUTO_POOL = parsePrefix("10.89.0.0/16");
const AUTO_LENGTH = 24;

export function planSubnets(req: SubnetRequest, used: UsedSubnet[]): SubnetPlan[] {
  const subnets = req.subnets.length > 0 ? req.subnets.map((text) => parseSubnet(text)) : [autoSubnet(used, req)];
  subnets.forEach((s, i) => {
    const clash = subnets.slice(0, i).find((t) => prefixesOverlap(s, t));
    if (clash) throw new CliError(`--subnet ${formatPrefix(s)} overlaps --subnet ${formatPrefix(clash)}`);
    const taken = used.find((u) => prefixesOverlap(s, u.subnet));
    if (taken) throw new CliError(`subnet ${formatPrefix(s)} overlaps ${formatPrefix(taken.subnet)} of network "${taken.network}" (${taken.path})`);
  });
  const plans: SubnetPlan[] = subnets.map((subnet) => ({ subnet, gateway: addToIp(networkOf(subnet), 1n) }));
  const owner = (ip: IpAddress, flag: string, text: string): SubnetPlan => {
    const plan = plans.find((p) => prefixContains(p.subnet, ip));
    if (!plan) throw new CliError(`${flag} ${text} is in none of the subnets (${subnets.map(formatPrefix).join(", ")})`);
    return plan;
  };
  const seen = new Set<SubnetPlan>();
  for (const text of req.gateways) {
    const gateway = parseAddress(text, "--gateway");
    const plan = owner(gateway, "--gateway", text);
    if (seen.has(plan)) throw new CliError(`two --gateway values for subnet ${formatPrefix(plan.subnet)}`);
    seen.add(plan);
    if (!isUsableHost(plan.subnet, gateway)) {
      throw new CliError(`--gateway ${text} is the network or broadcast address of ${formatPrefix(plan.subnet)}`);
    }
    plan.gateway = gateway;
  }
  seen.clear();
  for (const text of req.ipRanges) {
    const range = parseSubnet(text, "--ip-range");
    const plan = owner(range.address, "--ip-range", text);
    if (range.prefixLength < plan.subnet.prefixLength) throw new CliError(`--ip-range ${text} is larger than its subnet ${formatPrefix(plan.subnet)}`);
    if (seen.has(plan)) throw new CliError(`two --ip-range values for subnet ${formatPrefix(plan.subnet)}`);
    seen.add(plan);
    const [first, last] = usable(plan.subnet);
    plan.rangeStart = maxIp(networkOf(range), first);
    plan.rangeEnd = minIp(lastAddressOf(range), last);
    if (plan.rangeStart.value > plan.rangeEnd.value) throw new CliError(`--ip-range ${text} has no usable address in ${formatPrefix(plan.subnet)}`);
  }
  return plans;
}

/** The subnets a network's plugins allocate from: ipam.ranges, legacy ipam.subnet, a vxlan "subnet". */
export function subnetsOf(file: NetworkFile): IpPrefix[] {
  const out: IpPrefix[] = [];
  const add = (value: unknown) => {
    if (typeof value !== "string") return;
    try {
      out.push(parsePrefix(value));
    } catch {
      // not ours to validate: the plugin will refuse it
    }
  };
  for (const plugin of file.list.plugins) {
    add(plugin.subnet);
    const ipam = plugin.ipam as Record<string, unknown> | undefined;
    if (typeof ipam !== "object" || ipam === null) continue;
    add(ipam.subnet);
    if (!Array.isArray(ipam.ranges)) continue;
    for (const set of ipam.ranges) if (Array.isArray(set)) for (const range of set) add((range as { subnet?: unknown } | null)?.subnet);
  }
  return out.filter((p, i) => out.findIndex((q) => formatPrefix(q) === formatPrefix(p)) === i);
}

export const usedSubnets = (files: NetworkFile[]): UsedSubnet[] =>
  files.flatMap((file) => subnetsOf(file).map((subnet) => ({ network: file.list.name, path: file.path, subnet })));

function parseSubnet(text: string, flag = "--subnet"): IpPrefix {
  let p: IpPrefix;
  try {
    p = parsePrefix(text);
  } catch {
    throw new CliError(`invalid ${flag} "${text}": want a CIDR like 10.89.0.0/24 or fd00:89::/64`);
  }
  if (!sameIp(networkOf(p), p.address)) throw new CliError(`invalid ${flag} "${text}": host bits are set (did you mean ${formatIp(networkOf(p))}/${p.prefixLength}?)`);
  const max = p.address.family === 4 ? 30 : 126;
  if (flag === "--subnet" && p.prefixLength > max) throw new CliError(`invalid --subnet "${text}": too small, the prefix length must be at most ${max}`);
  return p;
}

function parseAddress(text: string, flag: string): IpAddress {
  try {
    return parseIp(text);
  } catch {
    throw new CliError(`invalid ${flag} "${text}": want an IP address`);
  }
}

/** The first and last address a host may have (IPv4 excludes the broadcast address). */
function usable(subnet: IpPrefix): [IpAddress, IpAddress] {
  const last = lastAddressOf(subnet);
  return [addToIp(networkOf(subnet), 1n), subnet.address.family === 4 ? addToIp(last, -1n) : last];
}

function isUsableHost(subnet: IpPrefix, ip: IpAddress): boolean {
  const [first, last] = usable(subnet);
  return ip.value >= first.value && ip.value <= last.value;
}

const maxIp = (a: IpAddress, b: IpAddress) => (a.value >= b.value ? a : b);
const minIp = (a: IpAddress, b: IpAddress) => (a.value <= b.value ? a : b);

/** The first /24 of 10.89.0.0/16 that overlaps no existing network (and no --gateway/--ip-range given without a subnet). */
function autoSubnet(used: UsedSubnet[], req: SubnetRequest): IpPrefix {
  if (req.gateways.length > 0 || req.ipRanges.length > 0) throw new CliError("--gateway and --ip-range need --subnet");
  const count = 1n << BigInt(AUTO_LENGTH - AUTO_POOL.prefixLength);
  for (let i = 0n; i < count; i++) {
    const candidate: IpPrefix = { address: addToIp(networkOf(AUTO_POOL), i << BigInt(32 - AUTO_LENGTH)), prefixLength: AUTO_LENGTH };
    if (!used.some((u) => prefixesOverlap(u.subnet, candidate))) return candidate;
  }
  throw new CliError(`no free /${AUTO_LENGTH} left in ${formatPrefix(AUTO_POOL)}: give --subnet`);
}
