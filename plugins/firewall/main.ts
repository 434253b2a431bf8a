import { CniCode, CniError, invalidConfig } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { validAttachments } from "../../lib/cni/valid-attachments.ts";
import { withNft, type NftConnection, type RuleOwner } from "../../lib/nft/index.ts";
import { withHostLock } from "../../lib/overlay/host-lock.ts";
import { missingRules } from "./check.ts";
import { attachmentOf, parseFirewallConfig } from "./config.ts";
import { addRules, removeRules, tidy } from "./ruleset.ts";

export const info: PluginInfo = {
  name: "firewall",
  about: "accepts forwarded traffic of the container's addresses (also past an iptables FORWARD drop policy) and isolates bridges (ingressPolicy same-bridge)",
};

const ownerOf = (ctx: PluginContext, network: string): RuleOwner => ({ net: network, id: ctx.env.containerId, ifname: ctx.env.ifname });

/** nftables in the netns the plugin runs in (the host's), under the host lock: shared chains are made and removed by one invocation at a time. */
function withLockedNft<T>(fn: (conn: NftConnection) => T): T {
  return withHostLock("firewall", () => withNft(fn));
}

function add(ctx: PluginContext): Result {
  const cfg = parseFirewallConfig(ctx.config);
  const prev = requirePrevResult(ctx);
  const att = attachmentOf(cfg, prev);
  withLockedNft((conn) => addRules(conn, ownerOf(ctx, cfg.network), att, cfg.adminChain));
  return prev;
}

/** Removes this attachment's rules, found by their comments (no netns, prevResult or valid config needed). */
function del(ctx: PluginContext): void {
  const owner = ownerOf(ctx, ctx.config.name as string);
  withLockedNft((conn) => {
    if (removeRules(conn, (o) => o.net === owner.net && o.id === owner.id && o.ifname === owner.ifname)) tidy(conn, ctx.log);
  });
}

function check(ctx: PluginContext): void {
  const cfg = parseFirewallConfig(ctx.config);
  const att = attachmentOf(cfg, requirePrevResult(ctx));
  withNft((conn) => {
    const missing = missingRules(conn, ownerOf(ctx, cfg.network), att, cfg.adminChain);
    if (missing.length) throw invalidConfig(`firewall rules of container "${ctx.env.containerId}" are missing or changed`, missing.join("; "));
  });
}

/** Removes the rules of this network's attachments that are not in `cni.dev/valid-attachments`. */
function gc(ctx: PluginContext): void {
  const network = ctx.config.name as string;
  const valid = validAttachments(ctx.config);
  withLockedNft((conn) => {
    if (removeRules(conn, (o) => o.net === network && !valid.has(`${o.id}/${o.ifname}`))) tidy(conn, ctx.log);
  });
}

/** Ready when nf_tables answers in this netns. */
function status(ctx: PluginContext): void {
  parseFirewallConfig(ctx.config);
  try {
    withNft((conn) => conn.listTables());
  } catch (e) {
    throw new CniError(CniCode.pluginNotAvailable, "nftables is not available", (e as Error).message);
  }
}

function requirePrevResult(ctx: PluginContext): Result {
  if (!ctx.prevResult) throw invalidConfig("required prevResult missing", 'chain "firewall" after the plugin that creates the interface (e.g. "bridge")');
  return ctx.prevResult;
}

export const firewall: Plugin = { add, del, check, gc, status };
