import { readTextFile, writeExistingFile } from "../sys/files.ts";

/**
 * Sysctls by their /proc/sys path, e.g. `net/ipv4/ip_forward` (slash form, so interface names
 * with dots such as `eth0.100` stay unambiguous). Call inside withNetnsSync for another netns.
 */
export function readSysctl(path: string): string {
  return readTextFile(`/proc/sys/${path}`).trim();
}

export function writeSysctl(path: string, value: string): void {
  writeExistingFile(`/proc/sys/${path}`, value);
}

/** Writes only when the value differs (avoids needless writes on a hot path). */
export function ensureSysctl(path: string, value: string): void {
  if (readSysctl(path) !== value) writeSysctl(path, value);
}
