import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { SyscallError, type Sys } from "./types.ts";

const { i32, i64, u64, ptr: P } = FFIType;

function openLibc() {
  return dlopen("libc.so.6", {
    __errno_location: { args: [], returns: P },
    socket: { args: [i32, i32, i32], returns: i32 },
    bind: { args: [i32, P, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, P, i32], returns: i32 },
    getsockname: { args: [i32, P, P], returns: i32 },
    sendto: { args: [i32, P, u64, i32, P, i32], returns: i64 },
    recv: { args: [i32, P, u64, i32], returns: i64 },
    open: { args: [P, i32, i32], returns: i32 },
    close: { args: [i32], returns: i32 },
    read: { args: [i32, P, u64], returns: i64 },
    write: { args: [i32, P, u64], returns: i64 },
    lseek: { args: [i32, i64, i32], returns: i64 },
    flock: { args: [i32, i32], returns: i32 },
    stat: { args: [P, P], returns: i32 },
    fstat: { args: [i32, P], returns: i32 },
    mkdir: { args: [P, i32], returns: i32 },
    unlink: { args: [P], returns: i32 },
    rename: { args: [P, P], returns: i32 },
    getdents64: { args: [i32, P, u64], returns: i64 },
    setns: { args: [i32, i32], returns: i32 },
    statfs: { args: [P, P], returns: i32 },
    pipe2: { args: [P, i32], returns: i32 },
    memfd_create: { args: [P, i32], returns: i32 },
    posix_spawn_file_actions_init: { args: [P], returns: i32 },
    posix_spawn_file_actions_adddup2: { args: [P, i32, i32], returns: i32 },
    posix_spawn_file_actions_destroy: { args: [P], returns: i32 },
    posix_spawn: { args: [P, P, P, P, P, P], returns: i32 },
    waitpid: { args: [i32, P, i32], returns: i32 },
  }).symbols;
}

const utf8 = new TextEncoder();
// TextEncoder rather than Buffer.from: the latter's first call costs ~150 µs of start-up.
const cstr = (s: string): Uint8Array => utf8.encode(`${s}\0`);

/** A NULL-terminated `char *[]`; `keep` holds the strings so they outlive the call. */
function cstrArray(items: string[]): { array: BigUint64Array; keep: Uint8Array[] } {
  const keep = items.map(cstr);
  const array = new BigUint64Array(keep.length + 1);
  keep.forEach((b, i) => (array[i] = BigInt(ptr(b))));
  return { array, keep };
}

// sizeof(posix_spawn_file_actions_t) is 80 on glibc x86_64; leave room.
const FILE_ACTIONS_SIZE = 128;
const EINTR = 4;

export function createSys(): Sys {
  const c = openLibc();
  const errno = (): number => read.i32(c.__errno_location()!, 0);
  const check = (rc: number | bigint, name: string, what?: string): number => {
    const n = Number(rc);
    if (n < 0) throw new SyscallError(name, errno(), what);
    return n;
  };
  const retrying = (name: string, fn: () => number | bigint): number => {
    for (;;) {
      const n = Number(fn());
      if (n >= 0) return n;
      const e = errno();
      if (e !== EINTR) throw new SyscallError(name, e);
    }
  };
  // bun:ffi rejects zero-length typed arrays as pointers.
  const nonEmpty = (buf: Uint8Array): Uint8Array => (buf.byteLength ? buf : new Uint8Array(1));

  return {
    socket: (domain, type, protocol) => check(c.socket(domain, type, protocol), "socket"),
    bind: (fd, addr) => void check(c.bind(fd, addr, addr.byteLength), "bind"),
    setsockopt: (fd, level, name, value) =>
      void check(c.setsockopt(fd, level, name, value, value.byteLength), "setsockopt"),
    getsockname: (fd, addr) => {
      const len = new Uint32Array([addr.byteLength]);
      check(c.getsockname(fd, addr, len), "getsockname");
      return len[0]!;
    },
    sendto: (fd, buf, addr) =>
      retrying("sendto", () => c.sendto(fd, buf, buf.byteLength, 0, addr, addr?.byteLength ?? 0)),
    recv: (fd, buf, flags) => retrying("recv", () => c.recv(fd, buf, buf.byteLength, flags)),
    open: (path, flags, mode = 0) => check(c.open(cstr(path), flags, mode), "open", `"${path}"`),
    close: (fd) => void check(c.close(fd), "close"),
    read: (fd, buf) => retrying("read", () => c.read(fd, nonEmpty(buf), buf.byteLength)),
    write: (fd, buf) => retrying("write", () => c.write(fd, nonEmpty(buf), buf.byteLength)),
    lseek: (fd, offset, whence) => check(c.lseek(fd, offset, whence), "lseek"),
    flock: (fd, operation) => void retrying("flock", () => c.flock(fd, operation)),
    stat: (path, buf) => void check(c.stat(cstr(path), buf), "stat", `"${path}"`),
    fstat: (fd, buf) => void check(c.fstat(fd, buf), "fstat"),
    mkdir: (path, mode) => void check(c.mkdir(cstr(path), mode), "mkdir", `"${path}"`),
    unlink: (path) => void check(c.unlink(cstr(path)), "unlink", `"${path}"`),
    rename: (from, to) => void check(c.rename(cstr(from), cstr(to)), "rename", `"${from}" to "${to}"`),
    getdents: (fd, buf) => retrying("getdents64", () => c.getdents64(fd, buf, buf.byteLength)),
    setns: (fd, nstype) => void check(c.setns(fd, nstype), "setns"),
    statfsType: (path) => {
      const buf = new BigInt64Array(16); // struct statfs is 120 bytes; f_type is its first long
      check(c.statfs(cstr(path), buf), "statfs", `"${path}"`);
      return Number(buf[0]);
    },
    pipe: () => {
      const fds = new Int32Array(2);
      check(c.pipe2(fds, 0o2000000), "pipe2");
      return [fds[0]!, fds[1]!];
    },
    memfd: (name) => check(c.memfd_create(cstr(name), 1), "memfd_create"),
    spawn: (path, argv, env, dups) => {
      const actions = new Uint8Array(FILE_ACTIONS_SIZE);
      c.posix_spawn_file_actions_init(actions);
      try {
        for (const [from, to] of dups) c.posix_spawn_file_actions_adddup2(actions, from, to);
        const pid = new Int32Array(1);
        const a = cstrArray(argv);
        const e = cstrArray(env);
        const rc = c.posix_spawn(pid, cstr(path), actions, null, a.array, e.array);
        if (rc !== 0) throw new SyscallError("posix_spawn", rc, `"${path}"`);
        return pid[0]!;
      } finally {
        c.posix_spawn_file_actions_destroy(actions);
      }
    },
    waitpid: (pid) => {
      const status = new Int32Array(1);
      retrying("waitpid", () => c.waitpid(pid, status, 0));
      return status[0]!;
    },
  };
}
