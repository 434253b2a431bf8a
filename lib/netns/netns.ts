import { sameFile, stat } from "../sys/files.ts";
import { CLONE_NEWNET, NSFS_MAGIC, O_CLOEXEC, O_RDONLY, PROC_SUPER_MAGIC, SyscallError, sys } from "../sys/index.ts";

/** The netns path does not exist: for DEL this means "already gone". */
export class NetnsNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`network namespace "${path}" does not exist`);
    this.name = "NetnsNotFoundError";
  }
}

export class NotANetnsError extends Error {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(`"${path}" is not a network namespace: ${why}`);
    this.name = "NotANetnsError";
  }
}

/** An open network namespace file descriptor. */
export interface Netns {
  readonly path: string;
  readonly fd: number;
  close(): void;
}

/**
 * Opens a netns path after checking it is an nsfs mount (`/run/netns/x`) or a procfs entry
 * (`/proc/<pid>/ns/net`), as the reference's ns.GetNS does.
 */
export function openNetns(path: string): Netns {
  let magic: number;
  try {
    magic = sys.statfsType(path);
  } catch (e) {
    if (e instanceof SyscallError && e.code === "ENOENT") throw new NetnsNotFoundError(path);
    throw e;
  }
  if (magic !== NSFS_MAGIC && magic !== PROC_SUPER_MAGIC) {
    throw new NotANetnsError(path, `unknown filesystem magic 0x${magic.toString(16)}`);
  }
  const fd = sys.open(path, O_RDONLY | O_CLOEXEC);
  let open = true;
  return {
    path,
    fd,
    close: () => {
      if (open) sys.close(fd);
      open = false;
    },
  };
}

/** True when `path` is the namespace this process runs in (dev+inode of the nsfs file). */
export function isOwnNetns(path: string): boolean {
  return sameFile(stat(path), stat("/proc/self/ns/net"));
}

let homeFd: number | undefined;

/**
 * Runs `fn` with this thread inside the namespace `fd`, then returns. Synchronous on purpose: async
 * work would run on other threads, which stay in the original namespace.
 */
export function withNetnsSync<T>(fd: number, fn: () => T): T {
  homeFd ??= sys.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  sys.setns(fd, CLONE_NEWNET);
  try {
    return fn();
  } finally {
    sys.setns(homeFd, CLONE_NEWNET);
  }
}
