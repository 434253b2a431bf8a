// The conflist `network create` writes for each driver: the driver plugin with host-local IPAM
// (one range set per subnet) and, where the driver puts containers behind the host, portmap.
import { formatIp, formatPrefix } from "../../lib/ip/address.ts";
import { CliError } from "../context.ts";
import type { SubnetPlan } from "./subnets.ts";

export const DRIVERS = ["bridge", "macvlan", "ipvlan", "vxlan"] as const;
export type Driver = (typeof DRIVERS)[number];

/** The --opt keys of each driver; the value is the plugin key it sets. */
const DRIVER_OPTS: Record<Driver, Record<string, string>> = {
  bridge: { bridge: "bridge", mtu: "mtu" },
  macvlan: { parent: "master", mode: "mode", mtu: "mtu" },
  ipvlan: { parent: "master", mode: "mode", mtu: "mtu" },
  vxlan: { vni: "vni", mode: "mode", peer: "peers", group: "group", localIP: "localIP", underlayInterface: "underlayInterface", port: "port", mtu: "mtu", bridge: "bridge" },
};
const NUMERIC = new Set(["mtu", "vni", "port"]);
/** Drivers whose containers sit behind the host, so host ports can be forwarded to them. */
const BEHIND_HOST = new Set<Driver>(["bridge", "vxlan"]);

export interface NetworkSpec {
  name: string;
  driver: Driver;
  plans: SubnetPlan[];
  /** No masquerade and no default route: containers reach each other and the gateway only. */
  internal: boolean;
  /** bridge/vxlan `isolation`: no forwarding between this network and other isolated ones. */
  isolation: boolean;
  /** --opt key=value, repeated keys in order. */
  opts: Map<string, string[]>;
  /** Append portmap (it is in CNI_PATH). */
  portmap: boolean;
  /** host-local's lease directory when it is not its default. */
  ipamDataDir?: string;
}

export function parseOpts(values: string[]): Map<string, string[]> {
  const opts = new Map<string, string[]>();
  for (const text of values) {
    const eq = text.indexOf("=");
    if (eq <= 0) throw new CliError(`invalid --opt "${text}": want KEY=VALUE`);
    const key = text.slice(0, eq);
    opts.set(key, [...(opts.get(key) ?? []), text.slice(eq + 1)]);
  }
  return opts;
}

export const supportsPortmap = (driver: Driver): boolean => BEHIND_HOST.has(driver);

export function buildConflist(spec: NetworkSpec): Record<string, unknown> {
  const main: Record<string, unknown> = { type: spec.driver, ...driverKeys(spec) };
  if (spec.isolation) {
    if (!BEHIND_HOST.has(spec.driver)) throw new CliError(`--isolation is for the bridge and vxlan drivers, not ${spec.driver}`);
    main.isolation = true;
  }
  if (spec.driver === "bridge") Object.assign(main, { isGateway: true, ipMasq: !spec.internal, hairpinMode: true });
  if (spec.driver === "vxlan") {
    if (spec.plans.length !== 1) throw new CliError("a vxlan network has exactly one --subnet: the one this host owns");
    main.subnet = formatPrefix(spec.plans[0]!.subnet);
    main.ipMasq = !spec.internal;
  }
  main.capabilities = { ips: true };
  main.ipam = ipamOf(spec);
  const plugins: Array<Record<string, unknown>> = [main];
  if (spec.portmap && BEHIND_HOST.has(spec.driver)) plugins.push({ type: "portmap", capabilities: { portMappings: true }, snat: true });
  // libcni >= 1.2 picks 1.1.0 from cniVersions; older ones (which stop at 1.0.0) read cniVersion.
  return { cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0"], name: spec.name, plugins };
}

function driverKeys(spec: NetworkSpec): Record<string, unknown> {
  const known = DRIVER_OPTS[spec.driver];
  const keys: Record<string, unknown> = {};
  for (const [opt, values] of spec.opts) {
    const key = known[opt];
    if (key === undefined) throw new CliError(`unknown --opt "${opt}" for the ${spec.driver} driver (known: ${Object.keys(known).join(", ")})`);
    if (opt === "peer") {
      keys.peers = values.map(parsePeer);
      continue;
    }
    if (values.length > 1) throw new CliError(`--opt ${opt} given ${values.length} times`);
    const value = values[0]!;
    if (NUMERIC.has(opt)) {
      if (!/^\d+$/.test(value) || Number(value) === 0) throw new CliError(`invalid --opt ${opt}=${value}: want a positive integer`);
      keys[key] = Number(value);
    } else {
      keys[key] = value;
    }
  }
  if (spec.driver === "vxlan" && keys.vni === undefined) throw new CliError("a vxlan network needs --opt vni=N (the same on every host of the network)");
  return keys;
}

/** `-o peer=<underlay IP>[,<its subnet>]` */
function parsePeer(text: string): Record<string, string> {
  const [ip = "", subnet, extra] = text.split(",");
  if (ip === "" || extra !== undefined) throw new CliError(`invalid --opt peer=${text}: want UNDERLAY_IP or UNDERLAY_IP,SUBNET`);
  return subnet === undefined ? { ip } : { ip, subnet };
}

function ipamOf(spec: NetworkSpec): Record<string, unknown> {
  const ranges = spec.plans.map((p) => [
    {
      subnet: formatPrefix(p.subnet),
      gateway: formatIp(p.gateway),
      ...(p.rangeStart ? { rangeStart: formatIp(p.rangeStart) } : {}),
      ...(p.rangeEnd ? { rangeEnd: formatIp(p.rangeEnd) } : {}),
    },
  ]);
  const families = [...new Set(spec.plans.map((p) => p.subnet.address.family))];
  const routes = spec.internal ? [] : families.map((f) => ({ dst: f === 4 ? "0.0.0.0/0" : "::/0" }));
  return { type: "host-local", ranges, routes, ...(spec.ipamDataDir ? { dataDir: spec.ipamDataDir } : {}) };
}
