// A lab for the tuning plugin: a throw-away host netns the plugin runs in, container netns with a
// veth `eth0` (address, default route) whose other end sits in the host netns, and a runner for
// our executable or the Go reference with the same env and stdin.
import { join } from "node:path";
import type { Test } from "tap";
import { DIST_BIN, execPlugin, type Reply } from "./plugin-exec.ts";
import { inNs, ipJson, makeNetns } from "./netns.ts";

export const TUNING = join(DIST_BIN, "tuning");
export const REFERENCE_TUNING = "/usr/lib/cni/tuning";

export interface Netns {
  name: string;
  path: string;
}

/** `ip -j -d link show` of one link, the fields tuning touches. */
export interface LinkState {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  /** Absent when 0. */
  txqlen?: number;
  promiscuity: number;
  allmulti: number;
}

export interface RunOptions {
  plugin?: string;
  ifname?: string;
  containerId?: string;
  args?: string;
  netns?: string;
  env?: Record<string, string>;
}

export type Command = "ADD" | "DEL" | "CHECK";

export function tuningLab(t: Test) {
  const host = makeNetns(t, "ttu-h");
  const dataDir = t.testdir({});
  let peers = 0;

  /** A container netns with `ifname` (a veth, 10.66.0.2/24, default route via 10.66.0.1). */
  const container = (ifname = "eth0"): Netns => {
    const ctr = makeNetns(t, "ttu-c");
    const peer = `ttu-p${peers++}`;
    inNs(host.name, "ip", ["link", "add", peer, "type", "veth", "peer", "name", ifname, "netns", ctr.name]);
    inNs(host.name, "ip", ["link", "set", peer, "up"]);
    inNs(ctr.name, "ip", ["addr", "add", "10.66.0.2/24", "dev", ifname]);
    inNs(ctr.name, "ip", ["link", "set", ifname, "up"]);
    inNs(ctr.name, "ip", ["route", "add", "default", "via", "10.66.0.1"]);
    return ctr;
  };

  /** The result an interface plugin (bridge) would have passed on. */
  const prevResult = (ctr: Netns, ifname = "eth0") => ({
    cniVersion: "1.0.0",
    interfaces: [{ name: "ttu-br" }, { name: ifname, mac: link(ctr, ifname).address, sandbox: ctr.path }],
    ips: [{ address: "10.66.0.2/24", gateway: "10.66.0.1", interface: 1 }],
    routes: [{ dst: "0.0.0.0/0" }],
  });

  /** A tuning config at 1.0.0 (the newest version the reference speaks) chained after prevResult. */
  const config = (ctr: Netns, extra: Record<string, unknown> = {}, ifname = "eth0") => ({
    cniVersion: "1.0.0",
    name: "ttunet",
    type: "tuning",
    dataDir,
    prevResult: prevResult(ctr, ifname),
    ...extra,
  });

  /** Runs the plugin in the host netns as a runtime would. */
  const run = (command: Command, ctr: Netns, conf: object, o: RunOptions = {}): Reply =>
    execPlugin(o.plugin ?? TUNING, host.name, { command, containerId: o.containerId ?? ctr.name, netns: o.netns ?? ctr.path, ifname: o.ifname ?? "eth0", args: o.args, env: o.env }, conf);

  return { host, dataDir, container, prevResult, config, run };
}

export const link = (ns: Netns, ifname: string): LinkState => {
  const [state] = ipJson<LinkState[]>(ns.name, ["-d", "link", "show", "dev", ifname]);
  if (!state) throw new Error(`no link "${ifname}" in ${ns.name}`);
  return state;
};

export const hasLink = (ns: Netns, ifname: string): boolean =>
  ipJson<LinkState[]>(ns.name, ["link", "show"]).some((l) => l.ifname === ifname);

/** The attributes tuning changes, for before/after comparisons. */
export const attributes = (ns: Netns, ifname: string) => {
  const l = link(ns, ifname);
  return {
    address: l.address,
    mtu: l.mtu,
    promisc: l.flags.includes("PROMISC"),
    allmulti: l.flags.includes("ALLMULTI"),
    txqlen: l.txqlen ?? 0,
  };
};

/** A sysctl as the namespace has it (`cat /proc/sys/<path>` inside it). */
export const sysctl = (ns: Netns, path: string): string => inNs(ns.name, "cat", [`/proc/sys/${path}`]).trim();
