import { CniCode, CniError, invalidConfig } from "../../lib/cni/errors.ts";
import { parseMac } from "../../lib/ip/mac.ts";
import { NetlinkError, type NetlinkSocket } from "../../lib/netlink/socket.ts";
import { IFF_ALLMULTI, IFF_PROMISC } from "../../lib/rtnl/constants.ts";
import { findLinkByName, setLink, type Link, type LinkChanges } from "../../lib/rtnl/links.ts";
import { LINK_SETTING_KEYS, type LinkSettings } from "./config.ts";

type Key = (typeof LINK_SETTING_KEYS)[number];

/**
 * The link's value of each attribute. Promiscuous and all-multicast are the administrative flags
 * (`ip link set promisc on`), not the kernel's counters, which packet sockets such as tcpdump raise.
 */
function valueOf(link: Link, key: Key): LinkSettings[Key] {
  switch (key) {
    case "mtu":
      return link.mtu;
    case "mac":
      return link.mac;
    case "promisc":
      return (link.flags & IFF_PROMISC) !== 0;
    case "allmulti":
      return (link.flags & IFF_ALLMULTI) !== 0;
    case "txQLen":
      return link.txQueueLength;
    case "ifname":
      return link.name;
  }
}

const describe: Record<Key, string> = {
  mtu: "MTU",
  mac: "MAC address",
  promisc: "promiscuous mode",
  allmulti: "all-multicast mode",
  txQLen: "transmit queue length",
  ifname: "name",
};

/** The settings of `wanted` the link does not have yet (MACs are lower-case on both sides). */
export function differingSettings(link: Link, wanted: LinkSettings): LinkSettings {
  const out: Record<string, unknown> = {};
  for (const key of LINK_SETTING_KEYS) {
    if (wanted[key] !== undefined && wanted[key] !== valueOf(link, key)) out[key] = wanted[key];
  }
  return out as LinkSettings;
}

/** The link's current values of the attributes `settings` names: what to restore later. */
export function currentSettings(link: Link, settings: LinkSettings): LinkSettings {
  const out: Record<string, unknown> = {};
  for (const key of LINK_SETTING_KEYS) if (settings[key] !== undefined) out[key] = valueOf(link, key);
  return out as LinkSettings;
}

/** Every mismatch between the link and `wanted`, as messages (CHECK). */
export function settingMismatches(link: Link, wanted: LinkSettings): string[] {
  return Object.entries(differingSettings(link, wanted)).map(
    ([key, value]) => `the ${describe[key as Key]} of "${link.name}" is ${String(valueOf(link, key as Key))}, configured ${String(value)}`,
  );
}

/** Refuses what the kernel would refuse halfway through: an MTU outside the device's range, a taken name. */
export function checkApplicable(nl: NetlinkSocket, link: Link, changes: LinkSettings): void {
  const { mtu, mac, ifname } = changes;
  const min = link.minMtu ?? 0;
  const max = link.maxMtu || Infinity; // the kernel's max_mtu 0: no upper bound
  if (mtu !== undefined && (mtu < min || mtu > max)) {
    throw invalidConfig(`invalid "mtu" ${mtu}: "${link.name}" accepts ${min} to ${max === Infinity ? "any" : max}`);
  }
  if (mac !== undefined && link.mac === undefined) throw invalidConfig(`cannot set the MAC address of "${link.name}": it has no Ethernet address`);
  if (ifname !== undefined && findLinkByName(nl, ifname)) {
    throw invalidConfig(`cannot rename "${link.name}" to "${ifname}": the container already has a link of that name`);
  }
}

export interface SettingStep {
  key: Key;
  /** `the MTU of "eth0"` */
  label: string;
  apply(): void;
}

/** One request per attribute, in a fixed order (the name last), so a failure leaves a known state. */
export function settingSteps(nl: NetlinkSocket, link: Link, settings: LinkSettings): SettingStep[] {
  return LINK_SETTING_KEYS.flatMap((key): SettingStep[] => {
    const value = settings[key];
    if (value === undefined) return [];
    const label = `the ${describe[key]} of "${link.name}"`;
    const change: LinkChanges = {};
    if (key === "mtu") change.mtu = value as number;
    else if (key === "mac") change.mac = parseMac(value as string);
    else if (key === "promisc") change.promisc = value as boolean;
    else if (key === "allmulti") change.allmulti = value as boolean;
    else if (key === "txQLen") change.txQueueLength = value as number;
    else change.name = value as string;
    const apply = () => setLink(nl, link.index, change, `${label} to ${String(value)}`);
    return [{ key, label, apply: key === "ifname" ? () => explainBusyRename(apply) : apply }];
  });
}

function explainBusyRename(rename: () => void): void {
  try {
    rename();
  } catch (e) {
    if (!(e instanceof NetlinkError && e.code === "EBUSY")) throw e;
    throw new CniError(CniCode.internal, e.message, "this kernel cannot rename an interface that is up (live renaming came with Linux 6.2)");
  }
}
