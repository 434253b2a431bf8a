import { errnoName } from "./errno.ts";

/** A failed system call, named by its errno: `socket: EPERM`. */
export class SyscallError extends Error {
  readonly syscall: string;
  readonly errno: number;
  readonly code: string;

  constructor(syscall: string, errno: number, what?: string) {
    const code = errnoName(errno);
    super(what ? `${syscall} ${what}: ${code}` : `${syscall}: ${code}`);
    this.name = "SyscallError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
  }
}

/**
 * The system calls tscni needs, synchronous, throwing SyscallError on failure.
 * Buffers are passed to the kernel as they are (no copies).
 */
export interface Sys {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array): void;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): void;
  /** getsockname into `addr`; returns the address length. */
  getsockname(fd: number, addr: Uint8Array): number;
  sendto(fd: number, buf: Uint8Array, addr: Uint8Array | null): number;
  /** recv(2) into buf; returns bytes read. With MSG_TRUNC|MSG_PEEK, the full datagram size. */
  recv(fd: number, buf: Uint8Array, flags: number): number;
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): void;
  read(fd: number, buf: Uint8Array): number;
  write(fd: number, buf: Uint8Array): number;
  flock(fd: number, operation: number): void;
  /** stat(2) into a 144-byte struct stat buffer. */
  stat(path: string, statBuf: Uint8Array): void;
  fstat(fd: number, statBuf: Uint8Array): void;
  mkdir(path: string, mode: number): void;
  unlink(path: string): void;
  rename(from: string, to: string): void;
  /** getdents64(2): fills buf with struct linux_dirent64 records; 0 at the end. */
  getdents(fd: number, buf: Uint8Array): number;
  setns(fd: number, nstype: number): void;
  /** f_type of statfs(2) for a path (e.g. NSFS_MAGIC). */
  statfsType(path: string): number;
  lseek(fd: number, offset: number, whence: number): number;
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** memfd_create(name, MFD_CLOEXEC). */
  memfd(name: string): number;
  /** posix_spawn of `path` (no PATH search, no shell) after dup2(from, to) for each pair; returns the pid. */
  spawn(path: string, argv: string[], env: string[], dups: Array<[from: number, to: number]>): number;
  /** waitpid(pid, 0): the raw wait status. */
  waitpid(pid: number): number;
}

// From /usr/include/x86_64-linux-gnu/bits/{fcntl-linux.h,socket_type.h}, linux/netlink.h, sched.h.
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_CLOEXEC = 0o2000000;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SOL_NETLINK = 270;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVBUFFORCE = 33;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;
export const NETLINK_CAP_ACK = 10;
export const MSG_PEEK = 2;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const O_DIRECTORY = 0o200000;
export const O_APPEND = 0o2000;
export const CLONE_NEWNET = 0x40000000;
export const NSFS_MAGIC = 0x6e736673;
export const PROC_SUPER_MAGIC = 0x9fa0;
