import { parseResult } from "../../lib/cni/result.ts";
import { getCachedAttachments, type CachedAttachment } from "../../lib/runtime/index.ts";
import type { Settings } from "../context.ts";
import type { PortMapping } from "./ports.ts";

/** What a cache entry says about one attachment, for people and scripts. */
export interface AttachmentView {
  containerId: string;
  netns: string;
  ifName: string;
  /** The container's addresses with prefix length. */
  ips: string[];
  mac?: string;
  ports: PortMapping[];
}

/** The attachments of `network` that the result cache knows of. */
export const attachmentsOf = (settings: Settings, network: string): CachedAttachment[] =>
  getCachedAttachments(settings).filter((a) => a.networkName === network);

export function viewOf(a: CachedAttachment): AttachmentView {
  let ips: string[] = [];
  let mac: string | undefined;
  try {
    const result = parseResult(a.result, "0.1.0");
    const interfaces = result.interfaces ?? [];
    const inContainer = (index: number | undefined) => index === undefined || Boolean(interfaces[index]?.sandbox);
    ips = (result.ips ?? []).filter((ip) => inContainer(ip.interface)).map((ip) => ip.address);
    mac = interfaces.find((i) => i.sandbox && i.name === a.ifName)?.mac;
  } catch {
    // no result, or one we cannot read: the attachment is still listed
  }
  return { containerId: a.containerId, netns: a.netns, ifName: a.ifName, ips, ...(mac ? { mac } : {}), ports: portsOf(a) };
}

export function portsOf(a: Pick<CachedAttachment, "capabilityArgs">): PortMapping[] {
  const mappings = a.capabilityArgs?.portMappings;
  return Array.isArray(mappings) ? (mappings as PortMapping[]) : [];
}
