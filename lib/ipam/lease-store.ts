import { isErrno, joinPath, listDirectory, mkdirs, readFd, removeFile, writeFile } from "../sys/files.ts";
import { LOCK_EX, O_CLOEXEC, O_CREAT, O_RDONLY, O_RDWR, sys } from "../sys/index.ts";

// The state directory of one network, byte for byte what the Go host-local keeps
// (plugins/ipam/host-local/backend/disk), so both plugins can take turns on it:
//   lock                    empty; flock(LOCK_EX) serializes every operation
//   <ip>                    one lease, named by the address's canonical text, holding
//                           `<containerID>\r\n<ifname>` (no trailing newline; old files: `<containerID>`)
//   last_reserved_ip.<i>    the address range set i handed out last, for round robin
// plus what only we keep, in `.tscni/`, so DEL and CHECK need not read every lease:
//   <containerID>:<ifname>  the addresses of that attachment, as a JSON list
//   seen                    JSON {"<i>": "<ip>"}: last_reserved_ip.<i> when the index was last
//                           complete; a difference means the Go plugin allocated since
// Go ignores `.tscni/` but its DEL walks into it and removes files whose trimmed content equals
// `<containerID>\r\n<ifname>` or `<containerID>`: our files are JSON, starting with `[` or `{`,
// which no container ID can, so they never match. Neither name parses as an IP address.

/** Who holds a lease. */
export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface Lease {
  /** The address in canonical text (Go's net.IP.String): the file's name. */
  address: string;
  /** The trimmed file content: `<containerID>\r\n<ifname>`, or a legacy `<containerID>`. */
  holder: string;
}

const LOCK_FILE = "lock";
const LAST_RESERVED_PREFIX = "last_reserved_ip.";
const INDEX_DIR = ".tscni";
const SEEN_FILE = "seen";

/** The lease file content for an attachment (Go trims the container ID). */
export const holderOf = (a: Attachment): string => `${a.containerId.trim()}\r\n${a.ifname}`;

/** The leases of `<dataDir>/<network>`, locked while open. Addresses are canonical text (file names). */
export class LeaseStore {
  private constructor(
    readonly dir: string,
    private lockFd: number,
  ) {}

  /**
   * Opens the network's directory and takes its lock, shared with the Go plugin. When the
   * directory is missing it is created (mode 0700) if `create`, else the result is undefined:
   * nothing was ever allocated there.
   */
  static open(dataDir: string, network: string, create: boolean): LeaseStore | undefined {
    const dir = joinPath(dataDir, network);
    const lockPath = joinPath(dir, LOCK_FILE);
    let fd: number;
    try {
      fd = sys.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
    } catch (e) {
      if (!isErrno(e, "ENOENT")) throw e;
      if (!create) return undefined;
      mkdirs(dir, 0o700);
      fd = sys.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
    }
    try {
      sys.flock(fd, LOCK_EX);
    } catch (e) {
      sys.close(fd);
      throw e;
    }
    return new LeaseStore(dir, fd);
  }

  /** Releases the lock (closing the file drops the flock). */
  close(): void {
    if (this.lockFd < 0) return;
    sys.close(this.lockFd);
    this.lockFd = -1;
  }

  /** Creates the lease file exclusively; false when the address is taken. */
  reserve(address: string, attachment: Attachment): boolean {
    try {
      writeFile(joinPath(this.dir, address), holderOf(attachment), { mode: 0o600, exclusive: true });
      return true;
    } catch (e) {
      if (isErrno(e, "EEXIST")) return false;
      throw e;
    }
  }

  holder(address: string): string | undefined {
    return readSmallFile(joinPath(this.dir, address))?.trim();
  }

  release(address: string): void {
    removeFile(joinPath(this.dir, address));
  }

  /** Every lease, read from disk: one file read per lease. */
  leases(): Lease[] {
    return this.leasedAddresses().flatMap((address) => {
      const holder = this.holder(address);
      return holder === undefined ? [] : [{ address, holder }];
    });
  }

  /** The leased addresses, from the directory listing alone. */
  leasedAddresses(): string[] {
    return listDirectory(this.dir).filter((name) => ADDRESS_NAME.test(name));
  }

  /** The text of last_reserved_ip.<setIndex>, if any. */
  lastReserved(setIndex: number): string | undefined {
    return readSmallFile(joinPath(this.dir, `${LAST_RESERVED_PREFIX}${setIndex}`));
  }

  writeLastReserved(setIndex: number, address: string): void {
    writeFile(joinPath(this.dir, `${LAST_RESERVED_PREFIX}${setIndex}`), address, { mode: 0o600 });
  }

  /** The indexed addresses of an attachment; undefined when it has no index entry. */
  readIndex(attachment: Attachment): string[] | undefined {
    const text = this.readOwnFile(indexName(attachment));
    const list = text === undefined ? undefined : parseJson(text);
    return Array.isArray(list) ? list.filter((item): item is string => typeof item === "string" && ADDRESS_NAME.test(item)) : undefined;
  }

  writeIndex(attachment: Attachment, addresses: readonly string[]): void {
    this.writeOwnFile(indexName(attachment), JSON.stringify(addresses));
  }

  removeIndex(attachment: Attachment): void {
    try {
      removeFile(joinPath(joinPath(this.dir, INDEX_DIR), indexName(attachment)));
    } catch (e) {
      if (!isErrno(e, "ENAMETOOLONG") && !isErrno(e, "ENOENT")) throw e;
    }
  }

  /** The attachments that have an index entry. */
  indexedAttachments(): Attachment[] {
    let names: string[];
    try {
      names = listDirectory(joinPath(this.dir, INDEX_DIR));
    } catch (e) {
      if (isErrno(e, "ENOENT")) return [];
      throw e;
    }
    return names.flatMap((name) => {
      const colon = name.indexOf(":");
      return colon > 0 ? [{ containerId: name.slice(0, colon), ifname: name.slice(colon + 1) }] : [];
    });
  }

  /** The last_reserved_ip.<i> texts recorded when the index was last complete. */
  readSeen(): Record<string, string> {
    const seen = parseJson(this.readOwnFile(SEEN_FILE) ?? "{}");
    return typeof seen === "object" && seen !== null && !Array.isArray(seen) ? (seen as Record<string, string>) : {};
  }

  writeSeen(seen: Readonly<Record<string, string>>): void {
    this.writeOwnFile(SEEN_FILE, JSON.stringify(seen));
  }

  /** A file of `.tscni/`; a name too long for the file system (a huge container ID) reads as absent. */
  private readOwnFile(name: string): string | undefined {
    try {
      return readSmallFile(joinPath(joinPath(this.dir, INDEX_DIR), name));
    } catch (e) {
      if (isErrno(e, "ENAMETOOLONG")) return undefined;
      throw e;
    }
  }

  /** Writes a file of `.tscni/`, creating the directory on first use; skipped when the name is too long. */
  private writeOwnFile(name: string, text: string): void {
    const indexDir = joinPath(this.dir, INDEX_DIR);
    try {
      try {
        writeFile(joinPath(indexDir, name), text, { mode: 0o600 });
      } catch (e) {
        if (!isErrno(e, "ENOENT")) throw e;
        mkdirs(indexDir, 0o700);
        writeFile(joinPath(indexDir, name), text, { mode: 0o600 });
      }
    } catch (e) {
      if (!isErrno(e, "ENAMETOOLONG")) throw e;
    }
  }
}

/** What a lease file name looks like: a dotted quad or an IPv6 address in lower-case hex. */
const ADDRESS_NAME = /^(?=.*[.:])[0-9a-f.:]+$/;

const scratch = Buffer.allocUnsafe(4096);

/**
 * Reads a file of a few bytes (a lease) with one read(2) into a shared buffer: a scan reads
 * hundreds of them. A short read of a regular file means end of file. Undefined if missing.
 */
function readSmallFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = sys.open(path, O_RDONLY | O_CLOEXEC);
  } catch (e) {
    if (isErrno(e, "ENOENT")) return undefined;
    throw e;
  }
  try {
    const n = sys.read(fd, scratch);
    if (n < scratch.length) return scratch.toString("utf8", 0, n);
    return Buffer.concat([scratch, readFd(fd)]).toString("utf8");
  } finally {
    sys.close(fd);
  }
}

const indexName = (a: Attachment): string => `${a.containerId.trim()}:${a.ifname}`;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
