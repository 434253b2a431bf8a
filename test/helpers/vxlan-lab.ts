// A throw-away multi-host lab for the vxlan plugin: an "underlay" netns holding a bridge, and one
// netns per "host" joined to it by a veth (`ul0` in the host), each host running the plugin inside
// itself (`ip netns exec <host> vxlan`), and containers made per host.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inNs, ipJson, makeNetns, sh } from "./netns.ts";
import { DIST_BIN, execPlugin, type Invocation, type Reply } from "./plugin-exec.ts";

/** The plugins under test: our dist/bin, or TSCNI_BIN_DIR (a private build while others rebuild dist/bin). */
export const BIN = process.env.TSCNI_BIN_DIR ?? DIST_BIN;

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export interface Host {
  /** netns name */
  ns: string;
  /** 1-based position: underlay address .<n>, routed subnet 10.244.<n>.0/24. */
  n: number;
  underlayIp: string;
  /** host-local's dataDir for this host (leases are per host, as on real machines). */
  dataDir: string;
}

export interface Lab {
  underlay: string;
  hosts: Host[];
}

export interface LabOptions {
  hosts?: number;
  family?: 4 | 6;
  underlayMtu?: number;
}

export const underlayIpOf = (family: 4 | 6, n: number): string => (family === 4 ? `10.200.0.${n}` : `fd00:200::${n}`);

/** Makes the underlay and the hosts (deleted in teardown, with their IPAM stores). */
export function makeLab(t: Teardown, { hosts = 3, family = 4, underlayMtu }: LabOptions = {}): Lab {
  const underlay = makeNetns(t, "tvx-ul").name;
  const stores = mkdtempSync(join(tmpdir(), "tvx-ipam-"));
  t.teardown(() => rmSync(stores, { recursive: true, force: true }));
  inNs(underlay, "ip", ["link", "add", "br0", "type", "bridge"]);
  inNs(underlay, "ip", ["link", "set", "br0", "up"]);
  const out: Host[] = [];
  for (let n = 1; n <= hosts; n++) {
    const ns = makeNetns(t, `tvx-h${n}`).name;
    const mtu = underlayMtu ? ["mtu", String(underlayMtu)] : [];
    inNs(underlay, "ip", ["link", "add", `p${n}`, ...mtu, "type", "veth", "peer", "name", "ul0", ...mtu, "netns", ns]);
    inNs(underlay, "ip", ["link", "set", `p${n}`, "master", "br0", "up"]);
    const underlayIp = underlayIpOf(family, n);
    inNs(ns, "ip", family === 4 ? ["addr", "add", `${underlayIp}/24`, "dev", "ul0"] : ["-6", "addr", "add", `${underlayIp}/64`, "dev", "ul0", "nodad"]);
    inNs(ns, "ip", ["link", "set", "ul0", "up"]);
    out.push({ ns, n, underlayIp, dataDir: join(stores, `h${n}`) });
  }
  return { underlay, hosts: out };
}

/** Runs dist/bin/vxlan (or TSCNI_BIN_DIR's) in `host` with CNI_PATH = that directory. */
export const runVxlan = (host: Host, inv: Invocation, conf: object): Reply => execPlugin(join(BIN, "vxlan"), host.ns, { path: BIN, ...inv }, conf);

/** The same, without blocking (for concurrent ADDs). */
export function runVxlanAsync(host: Host, inv: Invocation, conf: object): Promise<Reply> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: inv.command,
    CNI_PATH: inv.path ?? BIN,
    CNI_CONTAINERID: inv.containerId ?? "",
    CNI_NETNS: inv.netns ?? "",
    CNI_IFNAME: inv.ifname ?? "",
  };
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", host.ns, join(BIN, "vxlan")], { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => {
      let json: unknown;
      try {
        json = stdout ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status: status ?? 128, stdout, stderr, json });
    });
    child.stdin.end(JSON.stringify(conf));
  });
}

export interface Container {
  ns: string;
  path: string;
  id: string;
  /** The container's first address, without prefix length. */
  ip: string;
  result: any;
}

/** ADD of a fresh container netns on `host`; fails the test with the plugin's error otherwise. */
export function addContainer(t: Teardown, host: Host, conf: object, id: string): Container {
  const ns = makeNetns(t, "tvx-c");
  const reply = runVxlan(host, { command: "ADD", containerId: id, netns: ns.path, ifname: "eth0" }, conf);
  if (reply.status !== 0) throw new Error(`ADD ${id} on ${host.ns} failed: ${reply.stdout} ${reply.stderr}`);
  const address: string = reply.json?.ips?.[0]?.address ?? "";
  return { ns: ns.name, path: ns.path, id, ip: address.split("/")[0]!, result: reply.json };
}

/** `ping -c <n> -W 2 [-M do -s <size>] <ip>` inside `ns`; true when every reply came back. */
export function ping(ns: string, ip: string, opts: { count?: number; size?: number; dontFragment?: boolean } = {}): boolean {
  const args = ["-n", "-q", "-c", String(opts.count ?? 2), "-i", "0.2", "-W", "2"];
  if (opts.dontFragment) args.push("-M", "do");
  if (opts.size !== undefined) args.push("-s", String(opts.size));
  try {
    inNs(ns, "ping", [...args, ip]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends `bytes` random bytes over TCP from `from` to `to`:`port` with socat and returns whether
 * the receiver got exactly them (sha256 of both ends).
 */
export async function tcpTransfer(from: Container, to: Container, bytes: number, port = 5001): Promise<{ ok: boolean; sent: string; received: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tvx-tcp-"));
  try {
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    sh("sh", ["-c", `head -c ${bytes} /dev/urandom > ${src}`]);
    const listen = to.ip.includes(":") ? "TCP6-LISTEN" : "TCP4-LISTEN";
    const server = spawn("ip", ["netns", "exec", to.ns, "socat", "-u", `${listen}:${port},reuseaddr`, `CREATE:${dst}`]);
    const done = new Promise<number>((resolve) => server.on("close", (code) => resolve(code ?? 128)));
    // Wait for the listener.
    for (let i = 0; i < 50 && !inNs(to.ns, "ss", ["-ltnH", `sport = :${port}`]).trim(); i++) await new Promise((r) => setTimeout(r, 50));
    const target = to.ip.includes(":") ? `[${to.ip}]` : to.ip;
    inNs(from.ns, "socat", ["-u", `OPEN:${src}`, `TCP:${target}:${port},connect-timeout=5`]);
    const timer = setTimeout(() => server.kill(), 10_000);
    await done;
    clearTimeout(timer);
    const sum = (f: string) => sh("sha256sum", [f]).split(" ")[0] ?? "";
    const sent = sum(src);
    const received = sum(dst);
    return { ok: sent === received, sent, received };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** IPv4 and IPv6 fragments created in `ns` so far (`nstat`-style counters from /proc/net/snmp{,6}). */
export function fragmentsCreated(ns: string): number {
  const v4 = inNs(ns, "cat", ["/proc/net/snmp"]).split("\n").filter((l) => l.startsWith("Ip:"));
  const names = v4[0]?.split(/\s+/) ?? [];
  const values = v4[1]?.split(/\s+/) ?? [];
  const v4Frags = Number(values[names.indexOf("FragCreates")] ?? 0);
  const v6 = inNs(ns, "cat", ["/proc/net/snmp6"]).match(/Ip6FragCreates\s+(\d+)/);
  return v4Frags + Number(v6?.[1] ?? 0);
}

export interface DeviceState {
  routes: Array<{ dst: string; gateway?: string; flags: string[] }>;
  neighbours: Array<{ dst: string; lladdr: string; state: string[] }>;
  fdb: Array<{ mac: string; dst?: string; flags: string[]; state?: string }>;
}

/** Routes, neighbours and vxlan FDB entries on `device` in `ns`, as iproute2 shows them. */
export function deviceState(ns: string, device: string): DeviceState {
  return {
    routes: [...ipJson<DeviceState["routes"]>(ns, ["route", "show", "dev", device]), ...ipJson<DeviceState["routes"]>(ns, ["-6", "route", "show", "dev", device])].filter(
      (r) => r.gateway !== undefined,
    ),
    neighbours: ipJson<DeviceState["neighbours"]>(ns, ["neigh", "show", "dev", device]).filter((n) => n.state.includes("PERMANENT")),
    fdb: (JSON.parse(inNs(ns, "bridge", ["-j", "fdb", "show", "dev", device]) || "[]") as DeviceState["fdb"]).filter((f) => f.dst !== undefined),
  };
}
