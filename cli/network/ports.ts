// `-p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]` → the portMappings capability portmap reads.
// A mapping without a host port gets a free one: not bound by a socket in this namespace and not
// mapped by another attachment (DNAT rules bind nothing, so only the cache knows those).
import { readFileSync } from "node:fs";
import { formatIp, parseIp } from "../../lib/ip/address.ts";
import { CliError } from "../context.ts";

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP?: string;
}

export interface PortRequest {
  hostIP?: string;
  /** Undefined: pick a free one. */
  hostPort?: number;
  containerPort: number;
  protocol: string;
}

const PROTOCOLS = ["tcp", "udp", "sctp"];

export function parsePortSpec(text: string): PortRequest {
  const bad = (why: string) => new CliError(`invalid -p "${text}": ${why} (want [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp|sctp])`);
  let spec = text;
  let protocol = "tcp";
  const slash = spec.lastIndexOf("/");
  if (slash >= 0) {
    protocol = spec.slice(slash + 1).toLowerCase();
    spec = spec.slice(0, slash);
    if (!PROTOCOLS.includes(protocol)) throw bad(`unknown protocol "${protocol}"`);
  }
  let hostIP: string | undefined;
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(spec);
  if (bracket) {
    hostIP = bracket[1]!;
    spec = bracket[2]!;
  }
  const parts = spec.split(":");
  if (!bracket && parts.length === 3) hostIP = parts.shift()!;
  if (parts.length > 2 || (bracket && parts.length !== 2)) throw bad("too many parts");
  const port = (value: string, what: string): number => {
    if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw bad(`${what} "${value}" is not a port from 1 to 65535`);
    return Number(value);
  };
  const containerPort = port(parts.at(-1)!, "container port");
  const hostPort = parts.length === 2 && parts[0] !== "" ? port(parts[0]!, "host port") : undefined;
  if (hostIP !== undefined) {
    try {
      hostIP = formatIp(parseIp(hostIP));
    } catch {
      throw bad(`"${hostIP}" is not an IP address`);
    }
  }
  return { containerPort, protocol, ...(hostIP !== undefined ? { hostIP } : {}), ...(hostPort !== undefined ? { hostPort } : {}) };
}

/**
 * Resolves every request to a mapping, in the order given; `taken` are the mappings of existing
 * attachments. Explicit host ports are placed first, so a picked one never collides with them.
 */
export function allocatePorts(requests: PortRequest[], taken: PortMapping[], random: () => number = Math.random): PortMapping[] {
  const out: Array<PortMapping | undefined> = requests.map(() => undefined);
  const clashOf = (m: { hostPort: number; protocol: string; hostIP?: string }) =>
    [...taken, ...out].find((o) => o && o.hostPort === m.hostPort && o.protocol === m.protocol && (!o.hostIP || !m.hostIP || o.hostIP === m.hostIP));
  requests.forEach((r, i) => {
    if (r.hostPort === undefined) return;
    const m = { ...r, hostPort: r.hostPort };
    const clash = clashOf(m);
    if (clash) throw new CliError(`host port ${m.hostPort}/${m.protocol} is already mapped${clash.hostIP ? ` on ${clash.hostIP}` : ""}${taken.includes(clash) ? " by another attachment" : " twice"}`);
    out[i] = m;
  });
  const [low, high] = localPortRange();
  const span = high - low + 1;
  requests.forEach((r, i) => {
    if (r.hostPort !== undefined) return;
    const bound = boundPorts(r.protocol);
    const start = Math.floor(random() * span);
    for (let k = 0; k < span && !out[i]; k++) {
      const hostPort = low + ((start + k) % span);
      if (!bound.has(hostPort) && !clashOf({ hostPort, protocol: r.protocol, hostIP: r.hostIP })) out[i] = { ...r, hostPort };
    }
    if (!out[i]) throw new CliError(`no free ${r.protocol} port left in ${low}-${high}`);
  });
  return out as PortMapping[];
}

export const formatMapping = (m: PortMapping): string => `${m.hostIP ?? "0.0.0.0"}:${m.hostPort}->${m.containerPort}/${m.protocol}`;

/** net.ipv4.ip_local_port_range of this namespace (the kernel's ephemeral ports). */
function localPortRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low && high && low <= high) return [low, high];
  } catch {
    // fall through to the kernel's default
  }
  return [32768, 60999];
}

/** Local ports of this namespace's sockets of `protocol` (/proc/net/<proto>{,6}: `local_address` is `HEXIP:HEXPORT`). */
function boundPorts(protocol: string): Set<number> {
  const ports = new Set<number>();
  for (const file of [protocol, `${protocol}6`]) {
    let text: string;
    try {
      text = readFileSync(`/proc/net/${file}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const port = local?.split(":")[1];
      if (port) ports.add(parseInt(port, 16));
    }
  }
  return ports;
}
