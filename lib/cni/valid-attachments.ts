import { CniCode, CniError } from "./errors.ts";

/**
 * The GC request's `cni.dev/valid-attachments` (or the legacy `cni.dev/attachments` that libcni
 * also sends) as a set of `containerID/ifname` keys. A missing list means none is valid.
 */
export function validAttachments(config: Record<string, unknown>): Set<string> {
  const list = config["cni.dev/valid-attachments"] ?? config["cni.dev/attachments"] ?? [];
  if (!Array.isArray(list)) throw new CniError(CniCode.invalidNetworkConfig, "cni.dev/valid-attachments must be a list");
  const keys = new Set<string>();
  for (const a of list) {
    const { containerID, ifname } = (a ?? {}) as { containerID?: unknown; ifname?: unknown };
    if (typeof containerID !== "string" || typeof ifname !== "string") {
      throw new CniError(CniCode.invalidNetworkConfig, "invalid entry in cni.dev/valid-attachments", JSON.stringify(a));
    }
    keys.add(`${containerID}/${ifname}`);
  }
  return keys;
}
