import { copyBytes } from "./files.ts";
import { sys } from "./index.ts";

export interface ExecutableResult {
  /** Exit status, or 128 + signal number when the child was killed. */
  status: number;
  stdout: Buffer;
}

/**
 * Runs an executable (no shell, no PATH search) with `stdin` as its standard input and collects its
 * standard output; standard error goes to ours. Used to delegate to IPAM plugins.
 */
export function runExecutable(path: string, argv: string[], env: string[], stdin: Uint8Array): ExecutableResult {
  // stdin travels in a memfd, so a large config can never deadlock against a child that writes first.
  const input = sys.memfd("cni-stdin");
  let pipe: [number, number] | undefined;
  try {
    for (let off = 0; off < stdin.byteLength; ) off += sys.write(input, stdin.subarray(off));
    sys.lseek(input, 0, 0);
    pipe = sys.pipe();
    const pid = sys.spawn(path, argv, env, [
      [input, 0],
      [pipe[1], 1],
    ]);
    sys.close(pipe[1]);
    pipe[1] = -1;
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(65536);
    for (let n; (n = sys.read(pipe[0], buf)) > 0; ) chunks.push(copyBytes(buf.subarray(0, n)));
    return { status: decodeWaitStatus(sys.waitpid(pid)), stdout: Buffer.concat(chunks) };
  } finally {
    sys.close(input);
    if (pipe) for (const fd of pipe) if (fd >= 0) sys.close(fd);
  }
}

function decodeWaitStatus(raw: number): number {
  const signal = raw & 0x7f;
  return signal === 0 ? (raw >> 8) & 0xff : 128 + signal;
}
