import { createRequire } from "node:module";
import { SyscallError, type Sys } from "./types.ts";

type Koffi = typeof import("koffi");

// Loaded through createRequire so that the Bun bundler never pulls koffi into the executables.
const koffi = createRequire(import.meta.url)("koffi") as Koffi;

const FILE_ACTIONS_SIZE = 128;
const EINTR = 4;

export function createSys(): Sys {
  const lib = koffi.load("libc.so.6");
  const f = {
    socket: lib.func("int socket(int, int, int)"),
    bind: lib.func("int bind(int, void *, int)"),
    setsockopt: lib.func("int setsockopt(int, int, int, void *, int)"),
    getsockname: lib.func("int getsockname(int, void *, _Inout_ uint32_t *)"),
    sendto: lib.func("int64_t sendto(int, void *, uint64_t, int, void *, int)"),
    recv: lib.func("int64_t recv(int, void *, uint64_t, int)"),
    open: lib.func("int open(const char *, int, int)"),
    close: lib.func("int close(int)"),
    read: lib.func("int64_t read(int, void *, uint64_t)"),
    write: lib.func("int64_t write(int, void *, uint64_t)"),
    lseek: lib.func("int64_t lseek(int, int64_t, int)"),
    flock: lib.func("int flock(int, int)"),
    stat: lib.func("int stat(const char *, void *)"),
    fstat: lib.func("int fstat(int, void *)"),
    mkdir: lib.func("int mkdir(const char *, int)"),
    unlink: lib.func("int unlink(const char *)"),
    rename: lib.func("int rename(const char *, const char *)"),
    getdents64: lib.func("int64_t getdents64(int, void *, uint64_t)"),
    setns: lib.func("int setns(int, int)"),
    statfs: lib.func("int statfs(const char *, void *)"),
    pipe2: lib.func("int pipe2(void *, int)"),
    memfd_create: lib.func("int memfd_create(const char *, int)"),
    faInit: lib.func("int posix_spawn_file_actions_init(void *)"),
    faDup2: lib.func("int posix_spawn_file_actions_adddup2(void *, int, int)"),
    faDestroy: lib.func("int posix_spawn_file_actions_destroy(void *)"),
    posix_spawn: lib.func("int posix_spawn(void *, const char *, void *, void *, const char **, const char **)"),
    waitpid: lib.func("int waitpid(int, void *, int)"),
  };
  const check = (rc: number | bigint, name: string, what?: string): number => {
    const n = Number(rc);
    if (n < 0) throw new SyscallError(name, koffi.errno(), what);
    return n;
  };
  const retrying = (name: string, fn: () => number | bigint): number => {
    for (;;) {
      const n = Number(fn());
      if (n >= 0) return n;
      const e = koffi.errno();
      if (e !== EINTR) throw new SyscallError(name, e);
    }
  };

  return {
    socket: (domain, type, protocol) => check(f.socket(domain, type, protocol), "socket"),
    bind: (fd, addr) => void check(f.bind(fd, addr, addr.byteLength), "bind"),
    setsockopt: (fd, level, name, value) =>
      void check(f.setsockopt(fd, level, name, value, value.byteLength), "setsockopt"),
    getsockname: (fd, addr) => {
      const len = [addr.byteLength];
      check(f.getsockname(fd, addr, len), "getsockname");
      return len[0]!;
    },
    sendto: (fd, buf, addr) =>
      retrying("sendto", () => f.sendto(fd, buf, buf.byteLength, 0, addr, addr?.byteLength ?? 0)),
    recv: (fd, buf, flags) => retrying("recv", () => f.recv(fd, buf, buf.byteLength, flags)),
    open: (path, flags, mode = 0) => check(f.open(path, flags, mode), "open", `"${path}"`),
    close: (fd) => void check(f.close(fd), "close"),
    read: (fd, buf) => retrying("read", () => f.read(fd, buf, buf.byteLength)),
    write: (fd, buf) => retrying("write", () => f.write(fd, buf, buf.byteLength)),
    lseek: (fd, offset, whence) => check(f.lseek(fd, offset, whence), "lseek"),
    flock: (fd, operation) => void retrying("flock", () => f.flock(fd, operation)),
    stat: (path, buf) => void check(f.stat(path, buf), "stat", `"${path}"`),
    fstat: (fd, buf) => void check(f.fstat(fd, buf), "fstat"),
    mkdir: (path, mode) => void check(f.mkdir(path, mode), "mkdir", `"${path}"`),
    unlink: (path) => void check(f.unlink(path), "unlink", `"${path}"`),
    rename: (from, to) => void check(f.rename(from, to), "rename", `"${from}" to "${to}"`),
    getdents: (fd, buf) => retrying("getdents64", () => f.getdents64(fd, buf, buf.byteLength)),
    setns: (fd, nstype) => void check(f.setns(fd, nstype), "setns"),
    statfsType: (path) => {
      const buf = new BigInt64Array(16);
      check(f.statfs(path, buf), "statfs", `"${path}"`);
      return Number(buf[0]);
    },
    pipe: () => {
      const fds = new Int32Array(2);
      check(f.pipe2(fds, 0o2000000), "pipe2");
      return [fds[0]!, fds[1]!];
    },
    memfd: (name) => check(f.memfd_create(name, 1), "memfd_create"),
    spawn: (path, argv, env, dups) => {
      const actions = Buffer.alloc(FILE_ACTIONS_SIZE);
      f.faInit(actions);
      try {
        for (const [from, to] of dups) f.faDup2(actions, from, to);
        const pid = new Int32Array(1);
        const rc = f.posix_spawn(pid, path, actions, null, [...argv, null], [...env, null]);
        if (rc !== 0) throw new SyscallError("posix_spawn", rc, `"${path}"`);
        return pid[0]!;
      } finally {
        f.faDestroy(actions);
      }
    },
    waitpid: (pid) => {
      const status = new Int32Array(1);
      retrying("waitpid", () => f.waitpid(pid, status, 0));
      return status[0]!;
    },
  };
}
