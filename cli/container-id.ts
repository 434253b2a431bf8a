import { createHash } from "node:crypto";

/**
 * cnitool's container ID for a netns path: "cnitool-" + hex of the first 10 bytes of
 * sha512(path), so tscni and cnitool agree on the cache entry of an attachment.
 */
export const containerIdOf = (netnsPath: string): string =>
  `cnitool-${createHash("sha512").update(netnsPath).digest().subarray(0, 10).toString("hex")}`;
