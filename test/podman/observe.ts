// What the podman scenarios look at on the "host" besides traffic: veths, the nftables ruleset
// (iptables-nft's tables included), host-local's leases, libcni's result cache, podman's netns
// mounts. Traffic and addresses: test/cri/observe.ts (`inNetns`, `tcpFetch`, `udpFetch`, `udpAnswer`, `ipv4Addresses`).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inNetns, rulesMentioning } from "../cri/observe.ts";
import type { Container, Podman } from "./podman.ts";

export const containerNetns = (c: Pick<Container, "pid">): string => `/proc/${c.pid}/ns/net`;

export const ruleset = (pm: Podman): string => inNetns(pm.hostNs.path, "nft", ["list", "ruleset"]);

/** Names of the veth links in the host netns. */
export function hostVeths(pm: Podman): string[] {
  const links = JSON.parse(inNetns(pm.hostNs.path, "ip", ["-j", "link", "show", "type", "veth"]) || "[]") as { ifname: string }[];
  return links.map((l) => l.ifname);
}

/** The host end of the container's eth0: the host link whose ifindex is eth0's peer. */
export function vethOf(pm: Podman, c: Pick<Container, "pid">): string | undefined {
  const [eth0] = JSON.parse(inNetns(containerNetns(c), "ip", ["-j", "link", "show", "dev", "eth0"])) as { link_index?: number }[];
  const links = JSON.parse(inNetns(pm.hostNs.path, "ip", ["-j", "link", "show"])) as { ifindex: number; ifname: string }[];
  return links.find((l) => l.ifindex === eth0?.link_index)?.ifname;
}

/** host-local's leases of a network: file name (the IP) → content (container id and ifname). */
export function leases(pm: Podman, network: string): Map<string, string> {
  const dir = pm.leaseDir(network);
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && /^[0-9a-f.:]+$/i.test(entry.name)) out.set(entry.name, readFileSync(join(dir, entry.name), "utf8"));
  }
  return out;
}

/** Lease files naming the container: by its IP or by its id in the content. */
export function leasesOf(pm: Podman, c: Pick<Container, "id" | "ip" | "network">): string[] {
  return [...leases(pm, c.network)].filter(([ip, owner]) => ip === c.ip || owner.includes(c.id)).map(([ip]) => `${c.network}/${ip}`);
}

export const cachedResults = (pm: Podman): string[] => (existsSync(pm.resultCacheDir) ? readdirSync(pm.resultCacheDir) : []);

/** Everything a container's attachment may leave behind, all empty/false after `podman rm -f`. */
export interface Leftovers {
  /** Host veths other than `keepVeths` (the fixtures' and those of containers still running). */
  veths: string[];
  /** Ruleset lines naming the container's IP or id. */
  rules: string[];
  leases: string[];
  /** libcni's cached ADD results of the container. */
  cache: string[];
  /** podman's netns mount for the container. */
  netns: boolean;
  /** `podman ps -a` still lists it. */
  listed: boolean;
}

export function leftovers(pm: Podman, c: Container, keepVeths: (string | undefined)[]): Leftovers {
  return {
    veths: hostVeths(pm).filter((v) => !keepVeths.includes(v)),
    rules: rulesMentioning(ruleset(pm), c),
    leases: leasesOf(pm, c),
    cache: cachedResults(pm).filter((f) => f.includes(c.id)),
    netns: existsSync(pm.pathInMountNs(c.netnsPath)),
    listed: pm.containerNames().includes(c.name),
  };
}

export const NOTHING_LEFT: Leftovers = { veths: [], rules: [], leases: [], cache: [], netns: false, listed: false };
