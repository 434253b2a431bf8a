// The timed exec: posix_spawn (lib/sys) straight from this process, wait4 for the child's rusage,
// process.hrtime around exactly those two calls. stdin, stdout and stderr are memfds, so the child
// never blocks on a pipe and nothing is read while the clock runs.
import { createRequire } from "node:module";
import { rmSync, readFileSync } from "node:fs";
import { sys } from "../lib/sys/index.ts";

type Koffi = typeof import("koffi");
const koffi = createRequire(import.meta.url)("koffi") as Koffi;
const wait4 = koffi.load("libc.so.6").func("int wait4(int, _Out_ int *, int, void *)");

const EINTR = 4;
const RUSAGE_BYTES = 144; // struct rusage on x86_64

export interface Timed {
  status: number;
  stdout: string;
  stderr: string;
  /** Wall time from posix_spawn to wait4's return. */
  wallNs: number;
  /** The child's CPU time, user + system, from wait4's rusage. */
  cpuNs: number;
}

/** Runs `path` with `args`, `env` and `stdin`; the clock covers spawn, the child's whole life and the reap. */
export function timedSpawn(path: string, args: string[], env: Record<string, string>, stdin: string): Timed {
  const fds = [sys.memfd("bench-stdin"), sys.memfd("bench-stdout"), sys.memfd("bench-stderr")] as const;
  try {
    const input = Buffer.from(stdin);
    for (let off = 0; off < input.length; ) off += sys.write(fds[0], input.subarray(off));
    sys.lseek(fds[0], 0, 0);
    const envList = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const status = new Int32Array(1);
    const rusage = Buffer.alloc(RUSAGE_BYTES);

    const start = process.hrtime.bigint();
    const pid = sys.spawn(path, [path, ...args], envList, [
      [fds[0], 0],
      [fds[1], 1],
      [fds[2], 2],
    ]);
    while (wait4(pid, status, 0, rusage) < 0) {
      if (koffi.errno() !== EINTR) throw new Error(`wait4 ${path}: errno ${koffi.errno()}`);
    }
    const wallNs = Number(process.hrtime.bigint() - start);

    const timeval = (off: number) => Number(rusage.readBigInt64LE(off)) * 1e9 + Number(rusage.readBigInt64LE(off + 8)) * 1e3;
    return {
      status: decodeStatus(status[0]!),
      stdout: readAll(fds[1]),
      stderr: readAll(fds[2]),
      wallNs,
      cpuNs: timeval(0) + timeval(16),
    };
  } finally {
    for (const fd of fds) sys.close(fd);
  }
}

/**
 * Peak RSS of one run, in KiB, as GNU time reports it (`/usr/bin/time -f %M`). Not taken from
 * our own wait4: posix_spawn shares this process's memory until exec, and the kernel carries that
 * high-water mark into the child's ru_maxrss, so a Node parent would inflate every figure.
 */
export function peakRssKiB(path: string, args: string[], env: Record<string, string>, stdin: string): Timed & { rssKiB: number } {
  const out = `/tmp/tbn-rss-${process.pid}`;
  try {
    const run = timedSpawn("/usr/bin/time", ["-f", "%M", "-o", out, path, ...args], env, stdin);
    return { ...run, rssKiB: Number(readFileSync(out, "utf8").trim().split("\n").at(-1)) };
  } finally {
    rmSync(out, { force: true });
  }
}

function readAll(fd: number): string {
  sys.lseek(fd, 0, 0);
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  for (let n; (n = sys.read(fd, buf)) > 0; ) chunks.push(Buffer.from(buf.subarray(0, n)));
  return Buffer.concat(chunks).toString("utf8");
}

function decodeStatus(raw: number): number {
  const signal = raw & 0x7f;
  return signal === 0 ? (raw >> 8) & 0xff : 128 + signal;
}
