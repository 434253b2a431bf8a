import { checkKnownArgs } from "../../lib/cni/args.ts";
import { optionalBool, optionalCount, optionalDns, optionalString } from "../../lib/cni/config-fields.ts";
import { ipamType } from "../../lib/cni/delegate.ts";
import { CniCode, CniError } from "../../lib/cni/errors.ts";
import { requestedMac } from "../../lib/cni/requested-mac.ts";
import type { Dns } from "../../lib/cni/result.ts";
import { formatIp, formatPrefix, networkOf, parseIp, parsePrefix, prefixContains, prefixesOverlap, sameIp, type Family, type IpAddress, type IpPrefix } from "../../lib/ip/address.ts";

export type VxlanMode = "routed" | "l2";

export interface PeerConfig {
  /** The peer's underlay address. */
  ip: IpAddress;
  /** Routed mode: the subnet the peer owns. */
  subnet: IpPrefix | undefined;
}

export interface VxlanConfig {
  network: string;
  vni: number;
  port: number;
  mode: VxlanMode;
  /** The underlay's address family: of localIP, else of group, else of the peers; IPv4 when none says. */
  family: Family;
  underlayInterface: string | undefined;
  localIp: IpAddress | undefined;
  /** Routed: this host's subnet. l2: the subnet all hosts share (optional). */
  subnet: IpPrefix | undefined;
  peers: PeerConfig[];
  group: IpAddress | undefined;
  mtu: number | undefined;
  /** The vxlan device: `vxlan.<vni>` on an IPv4 underlay, `vxlan6.<vni>` on IPv6. */
  device: string;
  bridge: string;
  ipMasq: boolean;
  isolation: boolean;
  ipamType: string | undefined;
  dns: Dns | undefined;
  mac: Buffer | undefined;
}

const MAX_VNI = 0xffffff;
const LINK_NAME = /^[^\s/:]{1,15}$/;

const invalid = (msg: string, details?: string) => new CniError(CniCode.invalidNetworkConfig, msg, details);

function ip(value: unknown, key: string): IpAddress {
  if (typeof value !== "string") throw invalid(`invalid "${key}": must be an IP address, got ${JSON.stringify(value)}`);
  try {
    return parseIp(value);
  } catch {
    throw invalid(`invalid "${key}": "${value}" is not an IP address`);
  }
}

/** A subnet with room for the VTEP address (.0), the gateway (.1) and containers; host bits are cleared. */
function subnet(value: unknown, key: string): IpPrefix {
  let p: IpPrefix;
  try {
    if (typeof value !== "string") throw new Error();
    p = parsePrefix(value);
  } catch {
    throw invalid(`invalid "${key}": must be a CIDR like "10.244.1.0/24", got ${JSON.stringify(value)}`);
  }
  const max = p.address.family === 4 ? 30 : 126;
  if (p.prefixLength > max) throw invalid(`invalid "${key}": ${value} is too small`, `the prefix length must be at most ${max}`);
  return { address: networkOf(p), prefixLength: p.prefixLength };
}

const isMulticast = (a: IpAddress) =>
  prefixContains(a.family === 4 ? parsePrefix("224.0.0.0/4") : parsePrefix("ff00::/8"), a);

function parsePeers(value: unknown, mode: VxlanMode): PeerConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`invalid "peers": must be a list, got ${JSON.stringify(value)}`);
  return value.map((entry, i) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw invalid(`invalid "peers[${i}]": must be an object like {"ip": "192.0.2.2", "subnet": "10.244.2.0/24"}`);
    const e = entry as Record<string, unknown>;
    const peer: PeerConfig = { ip: ip(e.ip, `peers[${i}].ip`), subnet: undefined };
    if (mode === "routed") {
      if (e.subnet === undefined || e.subnet === null) throw invalid(`invalid "peers[${i}]": routed mode needs the peer's "subnet"`);
      peer.subnet = subnet(e.subnet, `peers[${i}].subnet`);
    }
    return peer;
  });
}

function checkPeers(peers: PeerConfig[], family: Family, own: IpPrefix | undefined): void {
  peers.forEach((p, i) => {
    if (p.ip.family !== family) throw invalid(`invalid "peers[${i}].ip": ${formatIp(p.ip)} is not an IPv${family} address like the rest of the underlay`, "one network uses one underlay family");
    for (let j = 0; j < i; j++) {
      const q = peers[j]!;
      if (sameIp(p.ip, q.ip)) throw invalid(`invalid "peers": ${formatIp(p.ip)} is listed twice`);
      if (p.subnet && q.subnet && prefixesOverlap(p.subnet, q.subnet)) {
        throw invalid(`invalid "peers": the subnets of ${formatIp(q.ip)} and ${formatIp(p.ip)} overlap`, `${formatPrefix(q.subnet)} and ${formatPrefix(p.subnet)}`);
      }
    }
    if (own && p.subnet && p.subnet.address.family !== own.address.family) {
      throw invalid(`invalid "peers[${i}].subnet": ${formatPrefix(p.subnet)} is not of the same family as "subnet" ${formatPrefix(own)}`);
    }
  });
}

/** Reads and validates the vxlan keys; `cniArgs` (ADD) adds the container MAC from CNI_ARGS/args/runtimeConfig. */
export function parseVxlanConfig(config: Record<string, unknown>, cniArgs?: ReadonlyMap<string, string>): VxlanConfig {
  const vni = optionalCount(config, "vni", MAX_VNI);
  if (vni === undefined) throw invalid(`"vni" is required: an integer from 1 to ${MAX_VNI}`);
  const port = optionalCount(config, "port", 65535) ?? 4789;
  const mode = (optionalString(config, "mode") ?? "routed") as VxlanMode;
  if (mode !== "routed" && mode !== "l2") throw invalid(`invalid "mode": "${mode}"`, 'want "routed" or "l2"');
  const mtu = optionalCount(config, "mtu", 65535);
  if (mtu !== undefined && mtu < 68) throw invalid(`invalid "mtu": ${mtu} is below the IPv4 minimum of 68`);

  const localIp = config.localIP === undefined || config.localIP === null || config.localIP === "" ? undefined : ip(config.localIP, "localIP");
  const group = config.group === undefined || config.group === null || config.group === "" ? undefined : ip(config.group, "group");
  const peers = parsePeers(config.peers, mode);
  const own = config.subnet === undefined || config.subnet === null ? undefined : subnet(config.subnet, "subnet");
  if (mode === "routed" && !own) throw invalid('routed mode needs "subnet": the subnet this host owns');
  if (group) {
    if (!isMulticast(group)) throw invalid(`invalid "group": ${formatIp(group)} is not a multicast address`);
    if (mode !== "l2") throw invalid('"group" needs "mode": "l2"', "multicast flood-and-learn carries one L2 segment; routed mode needs the peers' subnets");
    if (peers.length > 0) throw invalid('"group" and "peers" are alternatives: set one');
  }
  const family = localIp?.family ?? group?.family ?? peers[0]?.ip.family ?? 4;
  if (group && group.family !== family) throw invalid(`invalid "group": ${formatIp(group)} is not of the underlay's family (IPv${family})`);
  checkPeers(peers, family, own);

  const bridge = optionalString(config, "bridge") ?? `vxbr.${vni}`;
  if (!LINK_NAME.test(bridge)) throw invalid(`invalid "bridge": "${bridge}" is not a valid link name`, "1-15 characters, no whitespace, / or :");
  if (cniArgs) checkKnownArgs(cniArgs, ["MAC"]);
  return {
    network: config.name as string,
    vni,
    port,
    mode,
    family,
    underlayInterface: optionalString(config, "underlayInterface"),
    localIp,
    subnet: own,
    peers,
    group,
    mtu,
    device: family === 4 ? `vxlan.${vni}` : `vxlan6.${vni}`,
    bridge,
    ipMasq: optionalBool(config, "ipMasq") ?? false,
    isolation: optionalBool(config, "isolation") ?? false,
    ipamType: ipamType(config),
    dns: optionalDns(config),
    mac: cniArgs ? requestedMac(config, cniArgs) : undefined,
  };
}

/**
 * The peers other than this host (a shared list may name every host, this one included). In
 * routed mode a remote peer's subnet must not overlap this host's.
 */
export function remotePeers(cfg: VxlanConfig, localIp: IpAddress): PeerConfig[] {
  const remote = cfg.peers.filter((p) => !sameIp(p.ip, localIp));
  for (const p of remote) {
    if (p.subnet && cfg.subnet && prefixesOverlap(p.subnet, cfg.subnet)) {
      throw invalid(`invalid "peers": the subnet of ${formatIp(p.ip)} overlaps this host's "subnet"`, `${formatPrefix(p.subnet)} and ${formatPrefix(cfg.subnet)}`);
    }
  }
  return remote;
}
