import { mkdirs } from "../sys/files.ts";
import { LOCK_EX, O_CLOEXEC, O_CREAT, O_RDWR, sys } from "../sys/index.ts";

/** Where tscni keeps its per-host lock files (tmpfs: gone after a reboot, like the state they guard). */
export const LOCK_DIR = "/run/tscni";

/**
 * Runs `fn` holding an exclusive flock on `<LOCK_DIR>/<name>.lock`, created on first use. The lock
 * is released when the file is closed, so a crashed holder never leaves it locked.
 */
export function withHostLock<T>(name: string, fn: () => T, dir = LOCK_DIR): T {
  const path = `${dir}/${name}.lock`;
  let fd: number;
  try {
    fd = sys.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
  } catch {
    mkdirs(dir, 0o755);
    fd = sys.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
  }
  try {
    sys.flock(fd, LOCK_EX);
    return fn();
  } finally {
    sys.close(fd);
  }
}
