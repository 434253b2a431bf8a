import { existsSync } from "node:fs";
import { formatPrefix } from "../../lib/ip/address.ts";
import { getCachedAttachments, loadNetworkList, readNetworkDir, type NetworkFile } from "../../lib/runtime/index.ts";
import type { CliContext, Settings } from "../context.ts";
import { renderTable } from "../table.ts";
import { attachmentsOf, viewOf, type AttachmentView } from "./attachments.ts";
import { subnetsOf } from "./subnets.ts";

export interface NetworkSummary {
  name: string;
  driver: string;
  plugins: string[];
  subnets: string[];
  attachments: number;
  cniVersion: string;
  path: string;
}

export interface NetworkDetails extends Omit<NetworkSummary, "attachments"> {
  config: unknown;
  /** netnsPresent: whether the recorded netns still exists (absent when the entry records none, as libcni < 1.2 writes). */
  attachments: Array<AttachmentView & { netnsPresent?: boolean }>;
}

/** Every network libcni would find by name (the first file of each name), broken files reported on stderr. */
export function listNetworks(ctx: CliContext, settings: Settings): NetworkSummary[] {
  const dir = readNetworkDir(settings.confDir);
  for (const broken of dir.broken) ctx.io.err(`tscni: warning: ignoring ${broken.path}: ${broken.error.message}\n`);
  const counts = new Map<string, number>();
  for (const a of getCachedAttachments(settings)) counts.set(a.networkName, (counts.get(a.networkName) ?? 0) + 1);
  const seen = new Set<string>();
  return dir.networks
    .filter((n) => !seen.has(n.list.name) && seen.add(n.list.name))
    .map((n) => ({ ...summaryOf(n), attachments: counts.get(n.list.name) ?? 0 }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function renderNetworks(networks: NetworkSummary[]): string {
  return renderTable(
    ["NAME", "DRIVER", "SUBNETS", "ATTACHED", "PLUGINS"],
    networks.map((n) => [n.name, n.driver, n.subnets.join(",") || "-", String(n.attachments), n.plugins.join(",")]),
  );
}

/** The network's file, configuration and the attachments the result cache records. */
export function inspectNetwork(settings: Settings, name: string): NetworkDetails {
  const file = loadNetworkList(settings.confDir, name);
  return {
    ...summaryOf(file),
    config: JSON.parse(file.list.bytes.toString("utf8")),
    attachments: attachmentsOf(settings, name).map((a) => ({ ...viewOf(a), ...(a.netns ? { netnsPresent: existsSync(a.netns) } : {}) })),
  };
}

function summaryOf(file: NetworkFile): Omit<NetworkSummary, "attachments"> {
  const plugins = file.list.plugins.map((p) => p.type);
  return { name: file.list.name, driver: plugins[0]!, plugins, subnets: subnetsOf(file).map(formatPrefix), cniVersion: file.list.cniVersion, path: file.path };
}
