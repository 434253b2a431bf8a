import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { formatIp, formatPrefix, parseIp, prefixContains, type IpAddress } from "../../lib/ip/address.ts";
import {
  addNetworkList,
  delNetworkList,
  getCachedAttachments,
  loadNetworkList,
  parseNetworkList,
  RuntimeError,
  type CachedAttachment,
  type NetworkFile,
  type NetworkList,
  type RuntimeConf,
} from "../../lib/runtime/index.ts";
import { containerIdOf } from "../container-id.ts";
import { CliError, runtimeOf, type CliContext, type Settings } from "../context.ts";
import { portsOf, viewOf, type AttachmentView } from "./attachments.ts";
import { allocatePorts, parsePortSpec } from "./ports.ts";
import { subnetsOf } from "./subnets.ts";

export interface ConnectArgs {
  network: string;
  netns: string;
  ip: string[];
  publish: string[];
  ifname?: string;
}

export interface DisconnectArgs {
  network: string;
  netns: string;
  ifname?: string;
}

/** A bare name is a named netns (`ip netns add NAME`, /run/netns/NAME); anything else a path. */
export function resolveNetns(ctx: CliContext, netns: string): string {
  if (!netns.includes("/") && existsSync(`/run/netns/${netns}`)) return `/run/netns/${netns}`;
  return resolve(ctx.cwd, netns);
}

/** ADDs the network to the container (the container ID is cnitool's, from the netns path); a failed ADD is DELed. */
export function connectNetwork(ctx: CliContext, settings: Settings, args: ConnectArgs): AttachmentView {
  const file = loadNetworkList(settings.confDir, args.network);
  const netns = resolveNetns(ctx, args.netns);
  if (!existsSync(netns)) throw new CliError(`network namespace "${args.netns}" not found (${netns})`);
  const containerId = containerIdOf(netns);
  const all = getCachedAttachments(settings);
  const mine = all.filter((a) => a.containerId === containerId);
  const already = mine.find((a) => a.networkName === args.network);
  if (already) throw new CliError(`${netns} is already connected to network "${args.network}" (as ${already.ifName})`);

  const rt: RuntimeConf = { containerId, netns, ifName: args.ifname ?? freeIfName(mine), capabilityArgs: {} };
  if (args.ip.length > 0) requestIps(file, rt, args.ip.map((text) => parseRequestedIp(file, text)));
  if (args.publish.length > 0) {
    if (!hasCapability(file, "portMappings")) {
      throw new CliError(`network "${args.network}" cannot publish ports: none of its plugins has the "portMappings" capability (portmap)`);
    }
    rt.capabilityArgs!.portMappings = allocatePorts(args.publish.map(parsePortSpec), all.flatMap(portsOf));
  }
  const opts = runtimeOf(ctx, settings);
  try {
    addNetworkList(opts, file.list, rt);
  } catch (e) {
    // A runtime follows a failed ADD with DEL (the spec): whatever the chain made goes again.
    try {
      delNetworkList(opts, file.list, rt);
    } catch (cleanup) {
      ctx.io.err(`tscni: warning: cleaning up after the failed ADD: ${(cleanup as Error).message}\n`);
    }
    throw e;
  }
  const cached = getCachedAttachments(settings, containerId).find((a) => a.networkName === args.network && a.ifName === rt.ifName);
  if (!cached) throw new RuntimeError(`the result of ${netns} on "${args.network}" was not cached`);
  return viewOf(cached);
}

/** DELs every attachment of the container to the network (one, unless --ifname chose among several). */
export function disconnectNetwork(ctx: CliContext, settings: Settings, args: DisconnectArgs): CachedAttachment[] {
  const netns = resolveNetns(ctx, args.netns);
  const entries = getCachedAttachments(settings, containerIdOf(netns)).filter((a) => a.networkName === args.network && (!args.ifname || a.ifName === args.ifname));
  if (entries.length === 0) throw new CliError(`${netns} is not connected to network "${args.network}"${args.ifname ? ` as ${args.ifname}` : ""}`);
  const opts = runtimeOf(ctx, settings);
  for (const entry of entries) delNetworkList(opts, listFor(settings, entry), entry);
  return entries;
}

/** The network's conflist from the configuration directory, else the one the attachment was made with. */
export function listFor(settings: Settings, entry: CachedAttachment): NetworkList {
  try {
    return loadNetworkList(settings.confDir, entry.networkName).list;
  } catch (e) {
    if (entry.config.length === 0) throw e;
    return parseNetworkList(entry.config);
  }
}

/** eth0, eth1, …: the first name no other attachment of the container uses. */
function freeIfName(attachments: CachedAttachment[]): string {
  for (let i = 0; ; i++) if (!attachments.some((a) => a.ifName === `eth${i}`)) return `eth${i}`;
}

const hasCapability = (file: NetworkFile, capability: string): boolean =>
  file.list.plugins.some((p) => (p.capabilities as Record<string, unknown> | undefined)?.[capability] === true);

function parseRequestedIp(file: NetworkFile, text: string): IpAddress {
  let ip: IpAddress;
  try {
    ip = parseIp(text.includes("/") ? text.slice(0, text.indexOf("/")) : text);
  } catch {
    throw new CliError(`invalid --ip "${text}": want an IP address`);
  }
  const subnets = subnetsOf(file);
  if (subnets.length > 0 && !subnets.some((s) => prefixContains(s, ip))) {
    throw new CliError(`--ip ${text} is in none of the subnets of network "${file.list.name}" (${subnets.map(formatPrefix).join(", ")})`);
  }
  return ip;
}

/** Through the `ips` capability when a plugin declares it, else CNI_ARGS IP= (one address). */
function requestIps(file: NetworkFile, rt: RuntimeConf, ips: IpAddress[]): void {
  const texts = ips.map(formatIp);
  if (hasCapability(file, "ips")) {
    rt.capabilityArgs!.ips = texts;
    return;
  }
  if (texts.length > 1) throw new CliError(`network "${file.list.name}" takes one --ip (its plugins have no "ips" capability, so it goes in CNI_ARGS IP=)`);
  // IgnoreUnknown: plugins other than the IPAM one reject keys they do not know (as runtimes send it).
  rt.args = [
    ["IgnoreUnknown", "1"],
    ["IP", texts[0]!],
  ];
}
