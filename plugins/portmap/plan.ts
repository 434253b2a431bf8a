import { invalidConfig } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import type { ConntrackMatch } from "../../lib/conntrack/entries.ts";
import { formatIp, formatPrefix, networkOf, parseIp, parsePrefix, type IpAddress, type IpPrefix } from "../../lib/ip/address.ts";
import type { NftValue, Verdict } from "../../lib/nft/index.ts";
import type { PortmapConfig } from "./config.ts";
import { SETS, type SetName } from "./ruleset.ts";

/** One element this attachment owns: in which set, its key and (maps) its value. Stored as JSON. */
export interface OwnedElement {
  set: SetName;
  key: NftValue[];
  value?: NftValue[] | Verdict;
}

/** The container's address per family, with its subnet's prefix length (`10.88.0.5/16`). */
export interface ContainerIps {
  4?: IpPrefix;
  6?: IpPrefix;
}

/**
 * The reference's rule: the first IPv4 and the first IPv6 address of prevResult whose `interface`
 * is CNI_IFNAME inside a sandbox; addresses without an interface index count too.
 */
export function containerIps(prev: Result, ifname: string): ContainerIps {
  const out: ContainerIps = {};
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined) {
      const iface = prev.interfaces?.[ip.interface];
      if (iface && (iface.name !== ifname || !iface.sandbox)) continue;
    }
    const p = parsePrefix(ip.address);
    out[p.address.family] ??= p;
  }
  return out;
}

/**
 * The elements for the config's mappings to the container's addresses: per family a DNAT map
 * element per mapping (hostIP of the other family: skipped, `0.0.0.0`/`::`: any address of that
 * family), a guard element per mapping when the network has conditions, and with `snat` the
 * hairpin pairs (the container's subnet, or anything with `masqAll`, and for IPv4 127.0.0.0/8).
 * Two mappings of the same host port, protocol and address are refused.
 */
export function planElements(cfg: PortmapConfig, ips: ContainerIps): OwnedElement[] {
  const out: OwnedElement[] = [];
  const seen = new Set<string>();
  for (const f of [4, 6] as const) {
    const ip = ips[f];
    if (!ip) continue;
    const to = formatIp(ip.address);
    let mapped = false;
    for (const m of cfg.mappings) {
      if (m.hostIP && m.hostIP.family !== f) continue;
      const specific = m.hostIP && m.hostIP.value !== 0n ? formatIp(m.hostIP) : undefined;
      const key: NftValue[] = specific ? [specific, m.protocol, m.hostPort] : [m.protocol, m.hostPort];
      const where = specific ? "hostip" : "any";
      const id = `${where}${f} ${key.join(" ")}`;
      if (seen.has(id)) throw invalidConfig(`duplicate port mapping: ${describeKey(f, key)} appears twice in "runtimeConfig.portMappings"`);
      seen.add(id);
      out.push({ set: `${where}${f}`, key, value: [to, m.containerPort] });
      const cond = cfg.conditions[f];
      if (cond) out.push({ set: `guard-${where}${f}`, key, value: { jump: cond.chain } });
      mapped = true;
    }
    if (!mapped || !cfg.snat) continue;
    const source = cfg.masqAll ? (f === 4 ? "0.0.0.0/0" : "::/0") : formatPrefix({ address: networkOf(ip), prefixLength: ip.prefixLength });
    out.push({ set: `hairpin${f}`, key: [source, to] });
    if (f === 4 && !cfg.masqAll) out.push({ set: "hairpin4", key: ["127.0.0.0/8", to] });
  }
  return out;
}

/** `8080/tcp`, `10.0.0.1:8080/tcp`, `[fd00::1]:8080/tcp` from a DNAT map key. */
export function describeKey(f: 4 | 6, key: readonly NftValue[]): string {
  if (key.length === 2) return `${key[1]}/${key[0]}${f === 6 ? " (IPv6)" : ""}`;
  const host = f === 6 ? `[${key[0]}]` : String(key[0]);
  return `${host}:${key[2]}/${key[1]}`;
}

export const isDnatElement = (e: OwnedElement): boolean => !e.set.startsWith("guard-") && !e.set.startsWith("hairpin");
export const familyOf = (e: OwnedElement): 4 | 6 => (e.set.endsWith("6") ? 6 : 4);

/** The UDP flows to the mapped host ports, whose stale conntrack entries must go. */
export function udpFlows(elements: readonly OwnedElement[]): ConntrackMatch[] {
  return elements
    .filter((e) => isDnatElement(e) && e.key.at(-2) === "udp")
    .map((e) => {
      const family = familyOf(e);
      const m: ConntrackMatch = { family, protocol: 17, dport: e.key.at(-1) as number };
      if (e.key.length === 3) m.daddr = parseIp(String(e.key[0])) as IpAddress;
      return m;
    });
}

/** `set` as an element of the ruleset's set definition, for lib/nft. */
export const nftElement = (e: OwnedElement) => ({
  kind: "element" as const,
  set: SETS[e.set],
  key: e.key,
  ...(e.value !== undefined ? { value: e.value } : {}),
});
