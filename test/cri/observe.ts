// What the scenarios look at: addresses in the pod, traffic, and what the plugins left on the
// "host" (veths, nftables — iptables-nft's tables included —, leases, libcni's result cache).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sh } from "../helpers/netns.ts";
import type { Containerd } from "./containerd.ts";
import type { Pod } from "./pods.ts";

/** Runs a command in a netns given by path (`nsenter --net`, so /sys stays as it is). */
export const inNetns = (netns: string, cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string =>
  sh("nsenter", [`--net=${netns}`, "--", cmd, ...args], opts);

export const podNetns = (pod: Pod): string => `/proc/${pod.pid}/ns/net`;

/** `addr/prefix` of the IPv4 addresses on a link. */
export function ipv4Addresses(netns: string, ifname: string): string[] {
  const links = JSON.parse(inNetns(netns, "ip", ["-j", "-4", "addr", "show", "dev", ifname])) as { addr_info: { local: string; prefixlen: number }[] }[];
  return links.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

export function ipv4Routes(netns: string): { dst: string; gateway?: string; dev: string }[] {
  return JSON.parse(inNetns(netns, "ip", ["-j", "-4", "route", "show"])) as { dst: string; gateway?: string; dev: string }[];
}

/** The token a TCP server answers, or null when the connection fails (refused, timed out). */
export function tcpFetch(netns: string, host: string, port: number): string | null {
  const out = inNetns(netns, "timeout", ["5", "socat", "-T2", "-", `TCP:${host}:${port},connect-timeout=2`], { input: "", allowFail: true });
  return out.trim() || null;
}

/** The answer to one UDP datagram, or null when none comes within half a second. */
export function udpFetch(netns: string, host: string, port: number): string | null {
  const out = inNetns(netns, "timeout", ["5", "socat", "-t0.5", "-T2", "-", `UDP:${host}:${port}`], { input: "ping\n", allowFail: true });
  return out.trim() || null;
}

/**
 * The answer to a UDP datagram to `host:port`, trying up to `attempts` datagrams of half a second
 * each; null when none is answered. The containers' forking socat UDP server leaves about one
 * datagram in fifteen unanswered even sent straight to the container's address (no NAT), so a
 * single datagram cannot tell. One attempt where no answer is expected.
 */
export function udpAnswer(netns: string, host: string, port: number, attempts = 4): string | null {
  for (let i = 0; i < attempts; i++) {
    const answer = udpFetch(netns, host, port);
    if (answer !== null) return answer;
  }
  return null;
}

/** Names of the veth links in the host netns. */
export function hostVeths(cd: Containerd): string[] {
  const links = JSON.parse(inNetns(cd.hostNs.path, "ip", ["-j", "link", "show", "type", "veth"]) || "[]") as { ifname: string }[];
  return links.map((l) => l.ifname);
}

export const ruleset = (cd: Containerd): string => inNetns(cd.hostNs.path, "nft", ["list", "ruleset"]);

const ipPattern = (ip: string): RegExp => new RegExp(`(?<![\\d.])${ip.replaceAll(".", "\\.")}(?![\\d])`);

/** What names a pod on the host: its sandbox id (the CNI container id) and, if it got one, its IP and netns. */
export type PodTrace = Pick<Pod, "id"> & Partial<Pick<Pod, "ip" | "netnsPath">>;

/** Lines of the ruleset that name the pod: its IP or its sandbox id. */
export function rulesMentioning(text: string, pod: PodTrace): string[] {
  const ip = pod.ip ? ipPattern(pod.ip) : undefined;
  return text.split("\n").filter((l) => ip?.test(l) || l.includes(pod.id));
}

/** host-local leases of a network: file name (the IP) → content (container id and ifname). */
export function leases(cd: Containerd, network: string): Map<string, string> {
  const dir = join(cd.ipamDataDir, network);
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && /^[0-9a-f.:]+$/i.test(entry.name)) out.set(entry.name, readFileSync(join(dir, entry.name), "utf8"));
  }
  return out;
}

/** Files anywhere in the IPAM data dir (a plugin's own index too) that name the container id. */
function ipamFilesNaming(cd: Containerd, containerId: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.includes(containerId) || readFileSync(path, "utf8").includes(containerId)) found.push(path.slice(cd.ipamDataDir.length + 1));
    }
  };
  walk(cd.ipamDataDir);
  return found;
}

/** libcni's cached ADD results (`<network>-<container id>-<ifname>`). */
export function cachedResults(cd: Containerd): string[] {
  return existsSync(cd.resultCacheDir) ? readdirSync(cd.resultCacheDir) : [];
}

/** Everything a pod's attachment may leave on the host, all empty/false after Stop + Remove. */
export interface Leftovers {
  /** Host veths other than `keepVeths` (the fixtures' and those of pods still running). */
  veths: string[];
  /** Ruleset lines naming the pod's IP or sandbox id. */
  rules: string[];
  /** The pod IP's lease, and any file in the IPAM data dir naming the sandbox id. */
  leases: string[];
  cache: string[];
  /** The pod netns mount containerd made (under its state dir). */
  netns: boolean;
  /** ListPodSandbox still has it. */
  listed: boolean;
}

export async function leftovers(cd: Containerd, network: string, pod: PodTrace, keepVeths: (string | undefined)[]): Promise<Leftovers> {
  const ipLease = pod.ip && leases(cd, network).has(pod.ip) ? [`${network}/${pod.ip}`] : [];
  return {
    veths: hostVeths(cd).filter((v) => !keepVeths.includes(v)),
    rules: rulesMentioning(ruleset(cd), pod),
    leases: [...new Set([...ipLease, ...ipamFilesNaming(cd, pod.id)])],
    cache: cachedResults(cd).filter((f) => f.includes(pod.id)),
    netns: pod.netnsPath ? existsSync(cd.pathInMountNs(pod.netnsPath)) : false,
    listed: (await cd.client.listPodSandbox()).some((p) => p.id === pod.id),
  };
}

export const NOTHING_LEFT: Leftovers = { veths: [], rules: [], leases: [], cache: [], netns: false, listed: false };

/** The host end of the pod's eth0: the host link whose ifindex is eth0's peer. */
export function vethOf(cd: Containerd, pod: Pod): string | undefined {
  try {
    const [eth0] = JSON.parse(inNetns(podNetns(pod), "ip", ["-j", "link", "show", "dev", "eth0"])) as { link_index?: number }[];
    const links = JSON.parse(inNetns(cd.hostNs.path, "ip", ["-j", "link", "show"])) as { ifindex: number; ifname: string }[];
    return links.find((l) => l.ifindex === eth0?.link_index)?.ifname;
  } catch {
    return undefined;
  }
}
