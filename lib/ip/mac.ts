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
  // A plain loop: Array.from + padStart cost a cold Bun process ~300 µs on first use.
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (i ? ":" : "") + (bytes[i]! < 16 ? "0" : "") + bytes[i]!.toString(16);
  return s;
}
