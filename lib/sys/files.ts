import { O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_TRUNC, O_WRONLY, SyscallError, sys } from "./index.ts";

// File helpers over lib/sys. Plugins use these instead of node:fs, whose import alone costs a
// Bun executable over a millisecond of start-up. Likewise Buffer.from is avoided on hot paths:
// its first call costs Bun ~150 µs, TextEncoder and allocUnsafe+set a few.

const utf8 = new TextEncoder();

/** UTF-8 bytes of a string. */
export const encodeText = (s: string): Uint8Array => utf8.encode(s);

/** A copy of a byte range that outlives the buffer it came from. */
export function copyBytes(view: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(view.byteLength);
  copy.set(view);
  return copy;
}

export interface FileStat {
  dev: number;
  ino: number;
  /** st_mode: type and permission bits. */
  mode: number;
  size: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

// Byte arithmetic instead of Buffer's read* methods, which each cost a cold start-up their first call.
const u32le = (b: Uint8Array, off: number): number => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16)) + b[off + 3]! * 0x1000000;
// Numbers, not BigInts: device, inode and size values stay far below 2^53.
const u64le = (b: Uint8Array, off: number): number => u32le(b, off + 4) * 0x100000000 + u32le(b, off);

function decodeStat(b: Uint8Array): FileStat {
  // struct stat on x86_64: st_dev @0, st_ino @8, st_mode @24, st_size @48 (144 bytes).
  return { dev: u64le(b, 0), ino: u64le(b, 8), mode: u32le(b, 24), size: u64le(b, 48) };
}

export function stat(path: string): FileStat {
  const b = new Uint8Array(144);
  sys.stat(path, b);
  return decodeStat(b);
}

/** stat, or undefined when the path does not exist. */
export function statIfExists(path: string): FileStat | undefined {
  try {
    return stat(path);
  } catch (e) {
    if (isErrno(e, "ENOENT") || isErrno(e, "ENOTDIR")) return undefined;
    throw e;
  }
}

export const isRegularFile = (s: FileStat): boolean => (s.mode & S_IFMT) === S_IFREG;
export const isDirectory = (s: FileStat): boolean => (s.mode & S_IFMT) === S_IFDIR;
export const sameFile = (a: FileStat, b: FileStat): boolean => a.dev === b.dev && a.ino === b.ino;

export function isErrno(e: unknown, code: string): boolean {
  return e instanceof SyscallError && e.code === code;
}

export function readFd(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  for (let n; (n = sys.read(fd, buf)) > 0; ) chunks.push(copyBytes(buf.subarray(0, n)));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

export function writeFd(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.byteLength; ) off += sys.write(fd, data.subarray(off));
}

export function readFile(path: string): Buffer {
  const fd = sys.open(path, O_RDONLY | O_CLOEXEC);
  try {
    return readFd(fd);
  } finally {
    sys.close(fd);
  }
}

export const readTextFile = (path: string): string => readFile(path).toString("utf8");

/** readFile, or undefined when the path does not exist. */
export function readTextFileIfExists(path: string): string | undefined {
  try {
    return readTextFile(path);
  } catch (e) {
    if (isErrno(e, "ENOENT")) return undefined;
    throw e;
  }
}

/** The JSON in `path`, or undefined when the path does not exist; SyntaxError when it is not JSON. */
export function readJsonFileIfExists(path: string): unknown {
  const text = readTextFileIfExists(path);
  return text === undefined ? undefined : JSON.parse(text);
}

export interface WriteOptions {
  mode?: number;
  /** Fail with EEXIST instead of replacing (O_EXCL): how leases are reserved atomically. */
  exclusive?: boolean;
  append?: boolean;
}

export function writeFile(path: string, data: string | Uint8Array, o: WriteOptions = {}): void {
  const flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o.exclusive ? O_EXCL : 0) | (o.append ? O_APPEND : O_TRUNC);
  const fd = sys.open(path, flags, o.mode ?? 0o600);
  try {
    writeFd(fd, typeof data === "string" ? encodeText(data) : data);
  } finally {
    sys.close(fd);
  }
}

/** Writes an existing file such as a /proc/sys entry (no create, no truncate semantics needed). */
export function writeExistingFile(path: string, data: string): void {
  const fd = sys.open(path, O_WRONLY | O_CLOEXEC);
  try {
    writeFd(fd, encodeText(data));
  } finally {
    sys.close(fd);
  }
}

/**
 * Writes `text` (mode 0600, directories made 0700) through `<path>.tmp` and a rename: a crash
 * leaves the old file or the new one, never half of one.
 */
export function writeFileAtomically(path: string, text: string): void {
  mkdirs(path.slice(0, path.lastIndexOf("/")), 0o700);
  const tmp = `${path}.tmp`;
  writeFile(tmp, text, { mode: 0o600 });
  renameFile(tmp, path);
}

/** mkdir -p with `mode` for the directories it creates. */
export function mkdirs(path: string, mode = 0o700): void {
  try {
    sys.mkdir(path, mode);
  } catch (e) {
    if (isErrno(e, "EEXIST")) return;
    if (!isErrno(e, "ENOENT")) throw e;
    const parent = path.slice(0, path.lastIndexOf("/"));
    if (!parent) throw e;
    mkdirs(parent, mode);
    try {
      sys.mkdir(path, mode);
    } catch (again) {
      if (!isErrno(again, "EEXIST")) throw again;
    }
  }
}

/** unlink; false when it did not exist. */
export function removeFile(path: string): boolean {
  try {
    sys.unlink(path);
    return true;
  } catch (e) {
    if (isErrno(e, "ENOENT")) return false;
    throw e;
  }
}

export function renameFile(from: string, to: string): void {
  sys.rename(from, to);
}

/** The names in a directory (without . and ..), via getdents64. */
export function listDirectory(path: string): string[] {
  const fd = sys.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const names: string[] = [];
  try {
    const buf = Buffer.allocUnsafe(32768);
    for (let n; (n = sys.getdents(fd, buf)) > 0; ) {
      // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name (NUL-terminated).
      for (let off = 0; off < n; ) {
        const reclen = buf.readUInt16LE(off + 16);
        const nameStart = off + 19;
        const nameEnd = buf.indexOf(0, nameStart);
        const name = buf.toString("utf8", nameStart, nameEnd < 0 || nameEnd > off + reclen ? off + reclen : nameEnd);
        if (name !== "." && name !== "..") names.push(name);
        off += reclen;
      }
    }
  } finally {
    sys.close(fd);
  }
  return names;
}

export const basename = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
export const joinPath = (dir: string, name: string): string => (dir.endsWith("/") ? dir + name : `${dir}/${name}`);
