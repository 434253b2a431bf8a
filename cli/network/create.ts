import { linkSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findInPath, parseNetworkList, readNetworkDir, type NetworkFile } from "../../lib/runtime/index.ts";
import { CliError, DEFAULT_CACHE_DIR, type CliContext, type Settings } from "../context.ts";
import { planSubnets, usedSubnets } from "./subnets.ts";
import { buildConflist, parseOpts, supportsPortmap, type Driver } from "./templates.ts";

export interface CreateArgs {
  name: string;
  driver: Driver;
  subnet: string[];
  gateway: string[];
  ipRange: string[];
  internal: boolean;
  isolation: boolean;
  opt: string[];
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const LINK_NAME = /^[^\s/:]{1,15}$/;
const BRIDGE_PREFIX = "tscni";

/** Writes `<confDir>/<name>.conflist`; returns its path and content. */
export function createNetwork(ctx: CliContext, settings: Settings, args: CreateArgs): { path: string; config: Record<string, unknown> } {
  if (!NAME.test(args.name)) throw new CliError(`invalid network name "${args.name}": letters, digits, "_", "." and "-", not starting with a punctuation character`);
  const dir = readNetworkDir(settings.confDir);
  for (const broken of dir.broken) ctx.io.err(`tscni: warning: ignoring ${broken.path}: ${broken.error.message}\n`);
  const existing = dir.networks.find((n) => n.list.name === args.name);
  if (existing) throw new CliError(`network "${args.name}" already exists (${existing.path})`);

  const opts = parseOpts(args.opt);
  if (args.driver === "bridge") opts.set("bridge", [bridgeName(opts.get("bridge"), dir.networks)]);
  const portmap = supportsPortmap(args.driver) && hasPlugin(settings, "portmap");
  const config = buildConflist({
    name: args.name,
    driver: args.driver,
    plans: planSubnets({ subnets: args.subnet, gateways: args.gateway, ipRanges: args.ipRange }, usedSubnets(dir.networks)),
    internal: args.internal,
    isolation: args.isolation,
    opts,
    portmap,
    ipamDataDir: settings.cacheDir === DEFAULT_CACHE_DIR ? undefined : join(settings.cacheDir, "networks"),
  });
  const text = `${JSON.stringify(config, null, 2)}\n`;
  parseNetworkList(text); // what we write must load

  const path = join(settings.confDir, `${args.name}.conflist`);
  mkdirSync(settings.confDir, { recursive: true, mode: 0o755 });
  // Written aside and linked into place: readers never see half a file, and an existing file is never replaced.
  const temp = join(settings.confDir, `.${args.name}.conflist.${process.pid}`);
  writeFileSync(temp, text, { mode: 0o644 });
  try {
    linkSync(temp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new CliError(`${path} already exists`);
    throw e;
  } finally {
    rmSync(temp, { force: true });
  }
  if (supportsPortmap(args.driver) && !portmap) ctx.io.err(`tscni: note: no portmap plugin in CNI_PATH, so "${args.name}" cannot publish ports (-p)\n`);
  return { path, config };
}

/** One line about a created network: driver, device and address plan. */
export function describeCreated(path: string, config: Record<string, unknown>): string {
  const [main] = config.plugins as Array<Record<string, unknown>>;
  const ipam = main!.ipam as { ranges: Array<Array<{ subnet: string; gateway: string }>> };
  const subnets = ipam.ranges.map(([r]) => `${r!.subnet} gateway ${r!.gateway}`).join(", ");
  const device = main!.bridge ?? main!.master;
  return `created network "${config.name}" (${main!.type}${device ? ` ${device}` : ""}, ${subnets}): ${path}\n`;
}

/** The bridge of a new network: the one asked for (if no other network uses it), else the first free tscniN. */
function bridgeName(asked: string[] | undefined, networks: NetworkFile[]): string {
  const inUse = new Map<string, string>();
  for (const n of networks) {
    for (const p of n.list.plugins) if (typeof p.bridge === "string") inUse.set(p.bridge, n.list.name);
    if (n.list.plugins.some((p) => p.type === "bridge" && p.bridge === undefined)) inUse.set("cni0", n.list.name);
  }
  if (asked) {
    const name = asked.at(-1)!;
    if (asked.length > 1) throw new CliError(`--opt bridge given ${asked.length} times`);
    if (!LINK_NAME.test(name)) throw new CliError(`invalid --opt bridge=${name}: 1-15 characters, no whitespace, "/" or ":"`);
    const owner = inUse.get(name);
    if (owner) throw new CliError(`bridge "${name}" is already used by network "${owner}"`);
    return name;
  }
  for (let i = 0; ; i++) if (!inUse.has(`${BRIDGE_PREFIX}${i}`)) return `${BRIDGE_PREFIX}${i}`;
}

function hasPlugin(settings: Settings, type: string): boolean {
  try {
    findInPath(type, settings.cniPath);
    return true;
  } catch {
    return false;
  }
}
