import { readFileSync, writeFileSync } from "node:fs";

/**
 * Sysctls by their /proc/sys path, e.g. `net/ipv4/ip_forward` (slash form, so interface names
 * with dots such as `eth0.100` stay unambiguous). Call inside withNetnsSync for another netns.
 */
export function readSysctl(path: string): string {
  return readFileSync(`/proc/sys/${path}`, "utf8").trim();
}

export function writeSysctl(path: string, value: string): void {
  writeFileSync(`/proc/sys/${path}`, value);
}

/** Writes only when the value differs (avoids needless writes on a hot path). */
export function ensureSysctl(path: string, value: string): void {
  if (readSysctl(path) !== value) writeSysctl(path, value);
}
