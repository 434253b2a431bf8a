export class MacParseError extends Error {
  constructor(text: string) {
    super(`invalid MAC address "${text}"`);
    this.name = "MacParseError";
  }
}

/** `c2:11:22:33:44:55` (or with dashes) → 6 bytes. */
export function parseMac(text: string): Buffer {
  if (!/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(text)) throw new MacParseError(text);
  return Buffer.from(text.replace(/[:-]/g, ""), "hex");
}

/** Lower-case colon form, as `ip link` and the reference plugins print it. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}
