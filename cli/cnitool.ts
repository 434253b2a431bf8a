// cnitool's verbs (containernetworking/cni cnitool): a network from NETCONFPATH attached to a
// netns path, with the container ID, CNI_ARGS, CAP_ARGS and CNI_IFNAME rules cnitool has, so
// either tool can undo what the other did.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { formatResult } from "../lib/cni/result.ts";
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  getCachedAttachments,
  loadNetworkList,
  statusNetworkList,
  type RuntimeConf,
} from "../lib/runtime/index.ts";
import { containerIdOf } from "./container-id.ts";
import { runtimeOf, type CliContext, type Settings } from "./context.ts";
import { parseCapArgsEnv, parseCniArgsEnv } from "./runtime-args.ts";

export type CnitoolVerb = "add" | "check" | "del";

export interface AttachmentArgs {
  network: string;
  netns: string;
  ifname?: string;
}

/** cnitool's RuntimeConf: the netns made absolute (not resolved), its hash as container ID. */
export function runtimeConfOf(ctx: CliContext, args: AttachmentArgs): RuntimeConf {
  const netns = resolve(ctx.cwd, args.netns);
  return {
    containerId: containerIdOf(netns),
    netns,
    ifName: args.ifname || ctx.env.CNI_IFNAME || "eth0",
    args: parseCniArgsEnv(ctx.env.CNI_ARGS),
    capabilityArgs: parseCapArgsEnv(ctx.env.CAP_ARGS),
  };
}

/** ADD prints the result as libcni's Print does; CHECK and DEL print nothing. */
export function runAttachmentVerb(ctx: CliContext, settings: Settings, verb: CnitoolVerb, args: AttachmentArgs): void {
  const { list } = loadNetworkList(settings.confDir, args.network);
  const rt = runtimeConfOf(ctx, args);
  const opts = runtimeOf(ctx, settings);
  if (verb === "add") ctx.io.out(`${formatResult(addNetworkList(opts, list, rt) as object)}\n`);
  else if (verb === "check") checkNetworkList(opts, list, rt);
  else delNetworkList(opts, list, rt);
}

/**
 * GC: DEL the network's cached attachments whose netns is gone, then GC every plugin with the
 * rest as valid. An entry that records no netns (libcni < 1.2 writes none) is kept. `all`
 * treats no attachment as valid, as cnitool does.
 */
export function runGc(ctx: CliContext, settings: Settings, network: string, all: boolean): void {
  const { list } = loadNetworkList(settings.confDir, network);
  const valid = all
    ? []
    : getCachedAttachments(settings)
        .filter((a) => a.networkName === network && (a.netns === "" || existsSync(a.netns)))
        .map((a) => ({ containerID: a.containerId, ifname: a.ifName }));
  gcNetworkList(runtimeOf(ctx, settings), list, valid);
}

export function runStatus(ctx: CliContext, settings: Settings, network: string): void {
  statusNetworkList(runtimeOf(ctx, settings), loadNetworkList(settings.confDir, network).list);
}
