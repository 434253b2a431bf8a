import {
  AF_NETLINK,
  MSG_TRUNC,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVBUF,
  sys,
} from "../sys/index.ts";
import { errnoName } from "../sys/errno.ts";
import { copyBytes } from "../sys/files.ts";
import { Attributes, NetlinkDecodeError } from "./attributes.ts";
import {
  NLMSGERR_ATTR_MSG,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  align4,
} from "./constants.ts";

/** A failed netlink request: what we were doing, the errno name and the kernel's extended-ACK text. */
export class NetlinkError extends Error {
  readonly op: string;
  readonly errno: number;
  readonly code: string;
  readonly extAck: string | undefined;
  /** For `batch`: the index of the message the kernel refused. */
  readonly index: number | undefined;

  constructor(op: string, errno: number, extAck?: string, index?: number) {
    const code = errnoName(errno);
    super(`${op}: ${code}${extAck ? ` (${extAck})` : ""}`);
    this.name = "NetlinkError";
    this.op = op;
    this.errno = errno;
    this.code = code;
    this.extAck = extAck;
    this.index = index;
  }
}

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  payload: Buffer;
}

export interface OutgoingMessage {
  type: number;
  flags: number;
  body: Uint8Array;
}

const RECV_BUFFER_SIZE = 1 << 17;
const DUMP_ATTEMPTS = 5;

/** Parses the messages of one datagram; bounds-checked. */
export function parseMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new NetlinkDecodeError(`message claims ${len} bytes at ${off} of ${buf.length}`);
    }
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

export function encodeMessage(type: number, flags: number, seq: number, body: Uint8Array): Buffer {
  const msg = Buffer.alloc(NLMSG_HDRLEN + align4(body.byteLength));
  msg.writeUInt32LE(NLMSG_HDRLEN + body.byteLength, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(flags, 6);
  msg.writeUInt32LE(seq, 8);
  msg.set(body, NLMSG_HDRLEN);
  return msg;
}

/** errno (positive; 0 for an ACK) and extended-ACK text of an NLMSG_ERROR message. */
export function decodeError(msg: NetlinkMessage): { errno: number; extAck?: string } {
  if (msg.payload.length < 4) throw new NetlinkDecodeError("short NLMSG_ERROR");
  const errno = -msg.payload.readInt32LE(0);
  if (!(msg.flags & NLM_F_ACK_TLVS) || msg.payload.length < 4 + NLMSG_HDRLEN) return { errno };
  // With NETLINK_CAP_ACK the echoed request is only its header, so the TLVs follow it directly.
  const tlvs = new Attributes(msg.payload.subarray(4 + NLMSG_HDRLEN));
  const extAck = tlvs.str(NLMSGERR_ATTR_MSG);
  return extAck ? { errno, extAck } : { errno };
}

/**
 * A synchronous netlink socket: owns sequence numbers, waits for ACKs, collects multipart dumps.
 * Open it inside the namespace it should talk to (see lib/netns): the socket stays bound there.
 */
export class NetlinkSocket {
  private seq: number;
  private readonly recvBuf = Buffer.allocUnsafe(RECV_BUFFER_SIZE);
  private closed = false;

  private constructor(private readonly fd: number) {
    this.seq = (Date.now() & 0x7fffffff) >>> 0;
  }

  static open(protocol: number): NetlinkSocket {
    const fd = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    try {
      const one = int32(1);
      sys.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one);
      sys.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one);
      sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int32(1 << 20));
      sys.bind(fd, sockaddrNl());
    } catch (e) {
      sys.close(fd);
      throw e;
    }
    return new NetlinkSocket(fd);
  }

  /** Sends one request and returns the replies that came before its ACK. `op` names it in errors. */
  request(op: string, type: number, flags: number, body: Uint8Array): NetlinkMessage[] {
    const seq = this.nextSeq();
    this.send(encodeMessage(type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, body));
    const replies: NetlinkMessage[] = [];
    for (;;) {
      for (const msg of this.receive()) {
        if (msg.seq !== seq) continue;
        if (msg.type === NLMSG_ERROR) {
          const { errno, extAck } = decodeError(msg);
          if (errno !== 0) throw new NetlinkError(op, errno, extAck);
          return replies;
        }
        replies.push(msg);
      }
    }
  }

  /** A multipart dump; restarted when the kernel flags it inconsistent (NLM_F_DUMP_INTR). */
  dump(op: string, type: number, body: Uint8Array, flags = 0): NetlinkMessage[] {
    for (let attempt = 1; ; attempt++) {
      const seq = this.nextSeq();
      this.send(encodeMessage(type, flags | NLM_F_REQUEST | NLM_F_DUMP, seq, body));
      const replies: NetlinkMessage[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        for (const msg of this.receive()) {
          if (msg.seq !== seq) continue;
          if (msg.flags & NLM_F_DUMP_INTR) interrupted = true;
          if (msg.type === NLMSG_DONE) done = true;
          else if (msg.type === NLMSG_ERROR) {
            const { errno, extAck } = decodeError(msg);
            if (errno !== 0) throw new NetlinkError(op, errno, extAck);
            done = true;
          } else replies.push(msg);
        }
      }
      if (!interrupted) return replies;
      if (attempt === DUMP_ATTEMPTS) throw new NetlinkError(`${op} (dump kept changing)`, 4);
    }
  }

  /**
   * Sends all messages in one datagram and waits for an answer to each that asks for an ACK
   * (nfnetlink batches). Throws the first error, naming the index of the failed message.
   */
  batch(op: string, messages: OutgoingMessage[]): void {
    const first = this.nextSeq();
    this.seq += messages.length;
    const pending = new Set<number>();
    const parts = messages.map((m, i) => {
      if (m.flags & NLM_F_ACK) pending.add(first + i);
      return encodeMessage(m.type, m.flags | NLM_F_REQUEST, first + i, m.body);
    });
    this.send(Buffer.concat(parts));
    let failure: NetlinkError | undefined;
    while (pending.size) {
      for (const msg of this.receive()) {
        const index = msg.seq - first;
        if (msg.type !== NLMSG_ERROR || index < 0 || index >= messages.length) continue;
        const { errno, extAck } = decodeError(msg);
        // An error for a message that asked for no ACK (a batch header) ends the batch: no more replies come.
        if (!pending.delete(msg.seq) && errno !== 0) pending.clear();
        if (errno !== 0 && !failure) failure = new NetlinkError(`${op} (message ${index})`, errno, extAck, index);
      }
    }
    if (failure) throw failure;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sys.close(this.fd);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private send(buf: Buffer): void {
    sys.sendto(this.fd, buf, sockaddrNl());
  }

  private receive(): NetlinkMessage[] {
    const n = sys.recv(this.fd, this.recvBuf, MSG_TRUNC);
    if (n > this.recvBuf.length) throw new NetlinkDecodeError(`datagram of ${n} bytes truncated`);
    // Copy out: the next recv reuses the buffer while callers may keep payloads.
    const msgs = parseMessages(copyBytes(this.recvBuf.subarray(0, n)));
    return msgs.filter((m) => m.type !== NLMSG_NOOP && m.type !== NLMSG_OVERRUN);
  }
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

/** struct sockaddr_nl for the kernel (pid 0, no groups). */
function sockaddrNl(): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  return b;
}
