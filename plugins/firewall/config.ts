import { optionalString } from "../../lib/cni/config-fields.ts";
import { invalidConfig } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import { parsePrefix, sameIp, type IpAddress } from "../../lib/ip/address.ts";
import { IPT_CHAIN } from "./places.ts";

export type IngressPolicy = "open" | "same-bridge";

export interface FirewallConfig {
  network: string;
  ingressPolicy: IngressPolicy;
  /** The user's chain in the iptables-nft `filter` tables, run before the per-container accepts. */
  adminChain: string;
}

/** What one attachment gets: accepts for its addresses, isolation of its bridge (same-bridge). */
export interface FirewallAttachment {
  addresses: IpAddress[];
  bridge: string | undefined;
}

const BACKENDS = ["iptables", "firewalld", "nftables"];
const POLICIES: readonly IngressPolicy[] = ["open", "same-bridge"];
// An iptables chain name (XT_EXTENSION_MAXNAMELEN) that is also an nft identifier.
const CHAIN_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,27}$/;
const LINK_NAME = /^[^\s/:"*]{1,15}$/;
const RESERVED_CHAINS = ["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING", IPT_CHAIN];

/** Reads the reference plugin's keys; `backend` is accepted and ignored (always nftables here). */
export function parseFirewallConfig(config: Record<string, unknown>): FirewallConfig {
  const backend = optionalString(config, "backend");
  if (backend !== undefined && !BACKENDS.includes(backend)) {
    throw invalidConfig(`invalid "backend": "${backend}"`, `want one of ${BACKENDS.join(", ")} (tscni always programs nftables)`);
  }
  const policy = optionalString(config, "ingressPolicy") ?? "open";
  if (!POLICIES.includes(policy as IngressPolicy)) {
    throw invalidConfig(`invalid "ingressPolicy": "${policy}"`, `want one of ${POLICIES.join(", ")}`);
  }
  const adminChain = optionalString(config, "iptablesAdminChainName") ?? "CNI-ADMIN";
  if (!CHAIN_NAME.test(adminChain) || RESERVED_CHAINS.includes(adminChain)) {
    throw invalidConfig(`invalid "iptablesAdminChainName": "${adminChain}"`, `1-28 characters (letters, digits, _ . -), not one of ${RESERVED_CHAINS.join(", ")}`);
  }
  return { network: config.name as string, ingressPolicy: policy as IngressPolicy, adminChain };
}

/**
 * The container's addresses (every IP of prevResult, as the reference takes them) and, for
 * same-bridge, the bridge: prevResult's first interface, as the bridge plugin lists it.
 */
export function attachmentOf(cfg: FirewallConfig, prev: Result): FirewallAttachment {
  const addresses: IpAddress[] = [];
  for (const ip of prev.ips ?? []) {
    const address = parsePrefix(ip.address).address;
    if (!addresses.some((a) => sameIp(a, address))) addresses.push(address);
  }
  if (cfg.ingressPolicy !== "same-bridge") return { addresses, bridge: undefined };
  const first = prev.interfaces?.[0];
  if (!first?.name || first.sandbox || !LINK_NAME.test(first.name)) {
    throw invalidConfig(
      'ingressPolicy "same-bridge" needs the bridge as the first interface of prevResult',
      `chain "firewall" after "bridge"; got ${JSON.stringify(prev.interfaces ?? [])}`,
    );
  }
  return { addresses, bridge: first.name };
}
