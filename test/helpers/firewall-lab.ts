// A lab for the firewall plugin: a throw-away host netns in which the plugins run (through the
// libcni-like runtime, `ip netns exec <host> <plugin>`), an "outside" netns routed through it, and
// bridge networks whose containers are made by our bridge plugin. Optionally the host has
// Docker's `iptables -P FORWARD DROP` (iptables-nft, inside the host netns only).
import { join } from "node:path";
import type { Test } from "tap";
import { execInNetns } from "../../conformance/netns-exec.ts";
import { addNetworkList, execPlugin, parseNetworkList, type NetworkList, type RuntimeConf, type RuntimeOptions } from "../../lib/runtime/index.ts";
import { inNs, makeNetns, sh } from "./netns.ts";
import { DIST_BIN } from "./plugin-exec.ts";

export interface Netns {
  name: string;
  path: string;
}

/** The outside netns's addresses (its veth peer in the host has .1 / ::1). */
export const OUTSIDE = { v4: "10.93.255.2", v6: "fd00:93:ff::2" } as const;

export interface Attached {
  ctr: Netns;
  rt: RuntimeConf;
  result: any;
  v4: string;
  v6: string | undefined;
}

export interface NetworkOptions {
  /** 1-9: bridge `tfw-br<n>`, subnets 10.93.<n>.0/24 and fd00:93:<n>::/64. */
  n: number;
  /** The firewall plugin's keys; false: a bridge network without firewall. */
  firewall?: Record<string, unknown> | false;
  ipv6?: boolean;
  cniVersion?: string;
}

export function firewallLab(t: Test, opts: { forwardDrop: boolean }) {
  const host = makeNetns(t, "tfw-h");
  const outside = makeNetns(t, "tfw-o");
  sh("ip", ["-n", host.name, "link", "add", "tfw-up", "type", "veth", "peer", "name", "eth0", "netns", outside.name]);
  for (const [ns, dev, v4, v6] of [
    [host.name, "tfw-up", "10.93.255.1/24", "fd00:93:ff::1/64"],
    [outside.name, "eth0", "10.93.255.2/24", "fd00:93:ff::2/64"],
  ] as const) {
    sh("ip", ["-n", ns, "addr", "add", v4, "dev", dev]);
    sh("ip", ["-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
    sh("ip", ["-n", ns, "link", "set", dev, "up"]);
  }
  sh("ip", ["-n", outside.name, "route", "add", "default", "via", "10.93.255.1"]);
  sh("ip", ["-n", outside.name, "-6", "route", "add", "default", "via", "fd00:93:ff::1"]);
  if (opts.forwardDrop) {
    inNs(host.name, "iptables", ["-P", "FORWARD", "DROP"]);
    inNs(host.name, "ip6tables", ["-P", "FORWARD", "DROP"]);
  }
  const dir = t.testdir({ cache: {}, ipam: {} });
  const runtime: RuntimeOptions = { path: [DIST_BIN], cacheDir: join(dir, "cache"), exec: execInNetns(host.name), env: { PATH: process.env.PATH } };
  let containers = 0;

  const network = ({ n, firewall = {}, ipv6 = false, cniVersion = "1.1.0" }: NetworkOptions): NetworkList => {
    const ranges = [[{ subnet: `10.93.${n}.0/24` }], ...(ipv6 ? [[{ subnet: `fd00:93:${n}::/64` }]] : [])];
    const bridge = { type: "bridge", bridge: `tfw-br${n}`, isGateway: true, isDefaultGateway: true, ipam: { type: "host-local", dataDir: join(dir, "ipam"), ranges } };
    const plugins = firewall === false ? [bridge] : [bridge, { type: "firewall", ...firewall }];
    return parseNetworkList(JSON.stringify({ cniVersion, name: `tfw-net${n}`, plugins }));
  };

  /** A new container attached to `list` (every plugin of it). */
  const attach = (list: NetworkList): Attached => {
    const ctr = makeNetns(t, "tfw-c");
    const rt: RuntimeConf = { containerId: `tfw-ctr${++containers}`, netns: ctr.path, ifName: "eth0" };
    const result = addNetworkList(runtime, list, rt) as any;
    const addressOf = (v6: boolean) => (result.ips as Array<{ address: string }>).map((ip) => ip.address.split("/")[0]!).find((a) => a.includes(":") === v6);
    return { ctr, rt, result, v4: addressOf(false)!, v6: addressOf(true) };
  };

  /** The firewall plugin alone, as the runtime would run it at this point of `list` (`extra` on top of the config). */
  const firewall = (command: string, list: NetworkList, a: Pick<Attached, "rt" | "result">, extra: Record<string, unknown> = {}) => {
    const conf = list.plugins.find((p) => p.type === "firewall") ?? { type: "firewall" };
    const stdin = JSON.stringify({ ...conf, name: list.name, cniVersion: list.cniVersion, prevResult: a.result, ...extra });
    const env = { CNI_COMMAND: command, CNI_CONTAINERID: a.rt.containerId, CNI_NETNS: a.rt.netns, CNI_IFNAME: a.rt.ifName, CNI_PATH: DIST_BIN };
    const out = execPlugin(runtime, join(DIST_BIN, "firewall"), command === "GC" ? { CNI_COMMAND: "GC", CNI_PATH: DIST_BIN } : env, stdin);
    const stdout = out.stdout.toString();
    return { status: out.status, stdout, json: stdout ? JSON.parse(stdout) : undefined };
  };

  return { host, outside, runtime, network, attach, firewall };
}

/** One ping (retried while ARP/ND settle when `expect` is true); true when it was answered. */
export function ping(ns: Netns, ip: string, expect = true): boolean {
  for (let i = 0; i < (expect ? 5 : 1); i++) {
    if (inNs(ns.name, "ping", ["-c1", "-W1", ip], { allowFail: true }).includes(" 0% packet loss")) return true;
  }
  return false;
}

interface NftJsonRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  expr: unknown[];
}

/** `nft -j list ruleset` in `ns`, flattened to its tables, chains and rules. */
export function ruleset(ns: Netns) {
  const items = (JSON.parse(inNs(ns.name, "nft", ["-j", "list", "ruleset"])) as { nftables: Array<Record<string, any>> }).nftables;
  return {
    tables: items.filter((i) => i.table).map((i) => `${i.table.family} ${i.table.name}`),
    chains: items.filter((i) => i.chain).map((i) => `${i.chain.family} ${i.chain.table} ${i.chain.name}`),
    rules: items.filter((i) => i.rule).map((i) => i.rule as NftJsonRule),
  };
}

/** Rules that tscni made (its owner comments and its jumps) or that mention `address`. */
export function rulesOf(ns: Netns, address?: string): NftJsonRule[] {
  return ruleset(ns).rules.filter((r) => r.comment?.startsWith("tscni") || (address !== undefined && JSON.stringify(r.expr).includes(`"${address}"`)));
}
