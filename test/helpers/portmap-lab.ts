// A throw-away lab for portmap: a "host" netns where dist/bin/bridge then dist/bin/portmap run
// (chained through lib/runtime, as libcni runs them), an "outside" netns joined to the host by a
// veth (10.61.0.2 → host 10.61.0.1, fd00:61::2 → fd00:61::1), and pods on the bridge
// (10.62.0.0/24, fd00:62::/64) with socat servers. The bridge has hairpinMode on, as podman's default
// network does: where br_netfilter is loaded (bridge-nf-call-iptables=1), a DNATed frame back to the
// pod it came from is bridged out of the port it came in on, which only hairpin mode allows.
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { Test } from "tap";
import { addNetworkList, delNetworkList, parseNetworkList, type NetworkList, type RuntimeConf, type RuntimeOptions } from "../../lib/runtime/index.ts";
import { execInNetns } from "../../conformance/netns-exec.ts";
import { inNs, makeNetns } from "./netns.ts";
import { DIST_BIN } from "./plugin-exec.ts";

/** The plugins under test: dist/bin, or TSCNI_BIN_DIR (a private build while others rebuild dist/bin). */
export const BIN = process.env.TSCNI_BIN_DIR ?? DIST_BIN;

export const HOST_IP = "10.61.0.1";
export const OUTSIDE_IP = "10.61.0.2";
export const HOST_IP6 = "fd00:61::1";
export const OUTSIDE_IP6 = "fd00:61::2";
/** A second address of the host on the outside link, for hostIP tests. */
export const HOST_IP_B = "10.61.0.9";

export interface PortMappingArg {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

export interface Pod {
  name: string;
  ns: string;
  rt: RuntimeConf;
  list: NetworkList;
  ip: string;
  ip6: string | undefined;
  result: any;
}

export interface Lab {
  host: string;
  outside: string;
  runtime: RuntimeOptions;
  /** portmap's dataDir. */
  dataDir: string;
  /**
   * bridge (with host-local) then portmap, as a conflist. `second`: another network (its own bridge,
   * 10.64.0.0/24, no default route) for a second interface of the same pod.
   */
  list(portmap?: Record<string, unknown>, opts?: { dualStack?: boolean; name?: string; second?: boolean; cniVersion?: string }): NetworkList;
  /** A pod: its netns, ADDed with these mappings (DELed in teardown when still there). */
  pod(name: string, mappings: PortMappingArg[], opts?: { list?: NetworkList; containerId?: string; ifName?: string; ns?: string }): Pod;
  /** pod(), returning the error of an ADD that fails (the pod is DELed in teardown, as a runtime would). */
  attempt(name: string, mappings: PortMappingArg[], opts?: Parameters<Lab["pod"]>[2]): { pod: Pod; error?: Error };
  /** DEL through the runtime; `mappings: null` sends no portMappings at all. */
  del(pod: Pod, opts?: { mappings?: PortMappingArg[] | null }): void;
  /** socat servers in the pod answering `<reply>` (and the peer address they saw) on TCP and UDP `port`. */
  serve(pod: Pod, port: number, reply: string, opts?: { udp?: boolean; v6?: boolean }): void;
  /** `nft list table inet tscni-portmap` in the host ("" when absent). */
  ruleset(): string;
}

let labs = 0;

/** `bin`: the plugin directory (the conformance suite runs the lab against the reference too). */
export function makeLab(t: Test, prefix: string, { bin = BIN }: { bin?: string } = {}): Lab {
  const host = makeNetns(t, `${prefix}-h`).name;
  const outside = makeNetns(t, `${prefix}-o`).name;
  const dir = t.testdir({ cache: {}, ipam: {}, portmap: {} });
  const runtime: RuntimeOptions = { path: [bin], cacheDir: join(dir, "cache"), exec: execInNetns(host), env: { PATH: process.env.PATH } };
  const dataDir = join(dir, "portmap");
  const bridge = `${prefix}br${labs++}`.slice(0, 15);

  inNs(host, "ip", ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", outside]);
  for (const [ns, addrs] of [
    [host, [`${HOST_IP}/24`, `${HOST_IP_B}/24`]],
    [outside, [`${OUTSIDE_IP}/24`]],
  ] as const) {
    for (const a of addrs) inNs(ns, "ip", ["addr", "add", a, "dev", "eth0"]);
    inNs(ns, "ip", ["-6", "addr", "add", ns === host ? `${HOST_IP6}/64` : `${OUTSIDE_IP6}/64`, "dev", "eth0", "nodad"]);
    inNs(ns, "ip", ["link", "set", "eth0", "up"]);
  }
  inNs(outside, "ip", ["route", "add", "default", "via", HOST_IP]);
  inNs(outside, "ip", ["-6", "route", "add", "default", "via", HOST_IP6]);

  const list: Lab["list"] = (portmap = {}, { dualStack = false, name = `${prefix}-net`, second = false, cniVersion = "1.0.0" } = {}) => {
    const ranges = [[{ subnet: second ? "10.64.0.0/24" : "10.62.0.0/24" }], ...(dualStack ? [[{ subnet: "fd00:62::/64" }]] : [])];
    return parseNetworkList(
      JSON.stringify({
        cniVersion,
        name,
        plugins: [
          { type: "bridge", bridge: second ? `${bridge}b` : bridge, isGateway: true, isDefaultGateway: !second, hairpinMode: true, ipam: { type: "host-local", dataDir: join(dir, "ipam"), ranges } },
          { type: "portmap", capabilities: { portMappings: true }, dataDir, ...portmap },
        ],
      }),
    );
  };
  const defaultList = list();
  const alive = new Set<Pod>();
  t.teardown(() => {
    for (const pod of alive) {
      try {
        delNetworkList(runtime, pod.list, pod.rt);
      } catch {
        // the netns goes anyway
      }
    }
  });

  return {
    host,
    outside,
    runtime,
    dataDir,
    list,
    attempt(name, mappings, opts) {
      try {
        return { pod: this.pod(name, mappings, opts) };
      } catch (error) {
        const pod = [...alive].at(-1)!;
        return { pod, error: error as Error };
      }
    },
    pod(name, mappings, { list: l = defaultList, containerId = `${prefix}-${name}`, ifName = "eth0", ns } = {}) {
      const netns = ns ?? makeNetns(t, `${prefix}-${name}`).name;
      const rt: RuntimeConf = { containerId, netns: `/run/netns/${netns}`, ifName, capabilityArgs: { portMappings: mappings } };
      const pod: Pod = { name, ns: netns, rt, list: l, ip: "", ip6: undefined, result: undefined };
      alive.add(pod);
      pod.result = addNetworkList(runtime, l, rt);
      const ips: string[] = (pod.result.ips ?? []).map((i: { address: string }) => i.address.split("/")[0]);
      pod.ip = ips.find((i) => !i.includes(":")) ?? "";
      pod.ip6 = ips.find((i) => i.includes(":"));
      return pod;
    },
    del(pod, { mappings } = {}) {
      const rt = { ...pod.rt };
      if (mappings === null) delete rt.capabilityArgs;
      else if (mappings) rt.capabilityArgs = { portMappings: mappings };
      delNetworkList(runtime, pod.list, rt);
      alive.delete(pod);
    },
    serve(pod, port, reply, { udp = false, v6 = false } = {}) {
      const start = (args: string[]) => {
        const child = spawn("ip", ["netns", "exec", pod.ns, "socat", ...args], { stdio: "ignore" });
        t.teardown(() => void child.kill());
      };
      const answer = `SYSTEM:echo ${reply} $SOCAT_PEERADDR`;
      start([`TCP4-LISTEN:${port},reuseaddr,fork`, answer]);
      if (v6) start([`TCP6-LISTEN:${port},reuseaddr,fork,ipv6only=1`, answer]);
      if (udp) start([`UDP4-RECVFROM:${port},reuseaddr,fork`, answer]);
      waitListening(pod.ns, port, udp);
    },
    ruleset: () => inNs(host, "nft", ["list", "table", "inet", "tscni-portmap"], { allowFail: true }),
  };
}

const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function waitListening(ns: string, port: number, udp: boolean): void {
  for (let i = 0; i < 50; i++) {
    const tcp = inNs(ns, "ss", ["-Htln", `sport = :${port}`], { allowFail: true }).trim() !== "";
    const u = !udp || inNs(ns, "ss", ["-Huln", `sport = :${port}`], { allowFail: true }).trim() !== "";
    if (tcp && u) return;
    sleep(50);
  }
  throw new Error(`nothing listens on ${port} in ${ns}`);
}

/** What a TCP server at host:port answers a connection from `ns`; "" if nothing answers. */
export function tcp(ns: string, host: string, port: number, attempts = 3): string {
  const target = host.includes(":") ? `TCP6:[${host}]:${port}` : `TCP4:${host}:${port}`;
  for (let i = 0; i < attempts; i++) {
    const out = inNs(ns, "socat", ["-T2", "-", `${target},connect-timeout=1`], { input: "", allowFail: true }).trim();
    if (out) return out;
    sleep(100);
  }
  return "";
}

/**
 * What a UDP server at host:port answers a datagram from `ns` (from `sourcePort` if given); "" if
 * nothing. Retried: socat's forking UDP server hands a datagram arriving right after another to
 * the previous peer's child, which answers that peer.
 */
export function udp(ns: string, host: string, port: number, sourcePort?: number, attempts = 3): string {
  const src = sourcePort ? `,sourceport=${sourcePort},reuseaddr` : "";
  for (let i = 0; i < attempts; i++) {
    const out = inNs(ns, "socat", ["-T1", "-t1", "-", `UDP4:${host}:${port}${src}`], { input: "ping\n", allowFail: true }).trim();
    if (out) return out;
    sleep(300);
  }
  return "";
}
