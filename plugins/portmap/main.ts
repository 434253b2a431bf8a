import { CniError, invalidConfig } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import type { Plugin, PluginContext, PluginInfo } from "../../lib/cni/skel.ts";
import { runAll } from "../../lib/cni/undo.ts";
import { validAttachments } from "../../lib/cni/valid-attachments.ts";
import { deleteConntrackEntries, type ConntrackMatch } from "../../lib/conntrack/entries.ts";
import { NETLINK_NETFILTER } from "../../lib/netlink/constants.ts";
import { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { withNft, type NftConnection } from "../../lib/nft/connection.ts";
import { formatElement } from "../../lib/nft/elements.ts";
import { commitElements, removeElements, stillOwned } from "./apply.ts";
import type { Conditions } from "./conditions.ts";
import { parsePortmapConfig, type PortmapConfig } from "./config.ts";
import { containerIps, describeKey, familyOf, isDnatElement, nftElement, planElements, udpFlows, type OwnedElement } from "./plan.ts";
import { enableRouteLocalnet } from "./route-localnet.ts";
import { STATIC_CHAIN_NAMES, TABLE } from "./ruleset.ts";
import { attachmentOfFile, listStateFiles, loadState, removeState, saveState, StateError, statePath } from "./state.ts";

export const info: PluginInfo = {
  name: "portmap",
  about: "forwards host ports to the container: DNAT through nftables maps, hairpin and localhost masquerade",
};

const conditionsOf = (cfg: PortmapConfig): Conditions[] => [cfg.conditions[4], cfg.conditions[6]].filter((c) => c !== undefined);

/** The state path of this attachment: owned by network + container + interface. */
const pathOf = (ctx: PluginContext, cfg: PortmapConfig): string =>
  statePath(cfg.dataDir, { network: cfg.network, containerId: ctx.env.containerId, ifname: ctx.env.ifname });

/**
 * One nftables batch: the attachment's mappings as map elements (replacing those of an earlier
 * ADD), the table and chains created on first use. The record of what was added is written first,
 * so a crash never leaves elements nobody knows of; a refused batch restores it. Then stale UDP
 * conntrack entries of the mapped ports go. Prints prevResult unchanged.
 */
function add(ctx: PluginContext): Result {
  const cfg = parsePortmapConfig(ctx.config);
  const prev = ctx.prevResult;
  if (!prev) throw invalidConfig("must be called as chained plugin", "portmap needs the prevResult of the plugin that made the interface");
  if (cfg.mappings.length === 0) return prev;
  const ips = containerIps(prev, ctx.env.ifname);
  const elements = planElements(cfg, ips);
  if (elements.length === 0) return prev;
  if (cfg.snat && ips[4] && elements.some((e) => familyOf(e) === 4)) enableRouteLocalnet(ips[4].address);
  const path = pathOf(ctx, cfg);
  withNft((conn) => {
    const previous = readState(ctx, path);
    saveState(path, elements);
    try {
      commitElements(conn, previous ? stillOwned(conn, previous) : [], elements, conditionsOf(cfg));
    } catch (e) {
      if (previous) saveState(path, previous);
      else removeState(path);
      throw e;
    }
  });
  flushStaleUdp(ctx, udpFlows(elements));
  return prev;
}

/** The recorded elements; a record that cannot be read is logged and counts as none. */
function readState(ctx: PluginContext, path: string): OwnedElement[] | undefined {
  try {
    return loadState(path);
  } catch (e) {
    if (!(e instanceof StateError)) throw e;
    ctx.log(e.message);
    return undefined;
  }
}

/** Failures are logged only, as in the reference: the mappings work, new flows are NATed. */
function flushStaleUdp(ctx: PluginContext, flows: readonly ConntrackMatch[]): void {
  if (flows.length === 0) return;
  let nl: NetlinkSocket | undefined;
  try {
    nl = NetlinkSocket.open(NETLINK_NETFILTER);
    for (const flow of flows) deleteConntrackEntries(nl, flow);
  } catch (e) {
    ctx.log(`failed to delete stale UDP conntrack entries: ${(e as Error).message}`);
  } finally {
    nl?.close();
  }
}

/**
 * Removes the attachment's recorded elements (those it still holds) and their UDP conntrack
 * entries, whether or not the runtime sends portMappings. Without a record (lost, or an ADD by an
 * older version), the mappings in the request count, under the same "still ours" check.
 * Idempotent; the container's netns is not needed.
 */
function del(ctx: PluginContext): void {
  const cfg = parsePortmapConfig(ctx.config);
  const path = pathOf(ctx, cfg);
  const recorded = readState(ctx, path) ?? requestedOrNone(ctx, cfg);
  if (recorded.length > 0) {
    const owned = withNft((conn) => {
      const mine = stillOwned(conn, recorded);
      removeElements(conn, mine);
      return mine;
    });
    flushStaleUdp(ctx, udpFlows(owned));
  }
  removeState(path);
}

/** For DEL: a request whose mappings could never have been added (the same port twice) has none. */
function requestedOrNone(ctx: PluginContext, cfg: PortmapConfig): OwnedElement[] {
  try {
    return fromRequest(ctx, cfg);
  } catch (e) {
    if (e instanceof CniError) return [];
    throw e;
  }
}

function fromRequest(ctx: PluginContext, cfg: PortmapConfig): OwnedElement[] {
  if (cfg.mappings.length === 0 || !ctx.prevResult) return [];
  return planElements(cfg, containerIps(ctx.prevResult, ctx.env.ifname));
}

/**
 * The mappings of the request (or, without portMappings, the recorded ones) are in the maps with
 * this container's address and port, and the chains that use them exist.
 */
function check(ctx: PluginContext): void {
  const cfg = parsePortmapConfig(ctx.config);
  if (!ctx.prevResult) throw invalidConfig("required prevResult missing");
  const expected = cfg.mappings.length > 0 ? fromRequest(ctx, cfg) : (readState(ctx, pathOf(ctx, cfg)) ?? []);
  if (expected.length === 0) return;
  const problems = withNft((conn) => {
    const chains = new Set(conn.listChains(TABLE.family, TABLE.name).map((c) => c.name));
    const out = [...STATIC_CHAIN_NAMES, ...conditionsOf(cfg).map((c) => c.chain)].filter((n) => !chains.has(n)).map((n) => `chain "${n}" of table ${TABLE.family} ${TABLE.name} is missing`);
    for (const e of expected) {
      const el = nftElement(e);
      const held = conn.getElement(el.set, e.key);
      const what = isDnatElement(e) ? `mapping ${describeKey(familyOf(e), e.key)}` : `${e.set} element ${formatElement(el)}`;
      if (!held) out.push(`${what} is missing`);
      else if (formatElement(held) !== formatElement(el)) out.push(`${what} is "${formatElement(held)}", want "${formatElement(el)}"`);
    }
    return out;
  });
  if (problems.length > 0) throw invalidConfig(problems.join("; "));
}

/** Removes the mappings of every attachment of this network that is not in the valid list. */
function gc(ctx: PluginContext): void {
  const cfg = parsePortmapConfig(ctx.config);
  const valid = validAttachments(ctx.config);
  const stale = listStateFiles(cfg.dataDir, cfg.network)
    .map((name) => attachmentOfFile(cfg.network, name))
    .filter((a) => a !== undefined && !valid.has(`${a.containerId}/${a.ifname}`));
  if (stale.length === 0) return;
  withNft((conn) =>
    runAll(
      stale.map((a) => [
        `remove the port mappings of container "${a!.containerId}" interface "${a!.ifname}"`,
        () => {
          const path = statePath(cfg.dataDir, a!);
          const owned = stillOwned(conn, readState(ctx, path) ?? []);
          removeElements(conn, owned);
          flushStaleUdp(ctx, udpFlows(owned));
          removeState(path);
        },
      ]),
    ),
  );
}

export const portmap: Plugin = { add, del, check, gc };
