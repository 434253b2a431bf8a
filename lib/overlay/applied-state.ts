import { readTextFileIfExists, removeFile, stat, writeFile } from "../sys/files.ts";
import { LOCK_DIR } from "./host-lock.ts";

// What the last full reconcile of a host's overlay state applied, written under the host lock, so
// that an ADD with the same config in the same network namespace can trust the kernel state it
// made itself instead of reading it back (GC and CHECK always read the kernel). The record names
// the namespace (the lock directory is shared by every namespace of the machine) and is one line:
// `<netns inode> <anything the caller wants compared>`.

const pathOf = (name: string, dir: string) => `${dir}/${name}.applied`;

const netnsId = (): string => String(stat("/proc/thread-self/ns/net").ino);

/** True when the record for `name` says exactly `what` for this network namespace. */
export function isApplied(name: string, what: string, dir = LOCK_DIR): boolean {
  return readTextFileIfExists(pathOf(name, dir)) === `${netnsId()} ${what}`;
}

/** Records `what` for this namespace (call holding the lock, after applying it). */
export function recordApplied(name: string, what: string, dir = LOCK_DIR): void {
  writeFile(pathOf(name, dir), `${netnsId()} ${what}`, { mode: 0o600 });
}

/** Forgets the record (before changing the state, so a failure midway is never trusted). */
export function forgetApplied(name: string, dir = LOCK_DIR): void {
  removeFile(pathOf(name, dir));
}
