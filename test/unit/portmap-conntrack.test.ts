// lib/conntrack: constants against the kernel headers, the filter request's bytes, and the
// dump-and-delete path older kernels take (with a scripted socket).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import * as C from "../../lib/conntrack/constants.ts";
import { deleteConntrackEntries } from "../../lib/conntrack/entries.ts";
import { parseIp } from "../../lib/ip/address.ts";
import { AttributeEncoder, Attributes } from "../../lib/netlink/attributes.ts";
import { NetlinkError, type NetlinkMessage, type NetlinkSocket } from "../../lib/netlink/socket.ts";

// Kernel-internal (net/netfilter/nf_internals.h), not in the installed headers.
const KERNEL_ONLY = /^CTA_FILTER_F_/;

t.test("constants match the uapi headers", async (t) => {
  const names = Object.keys(C).filter((n) => !KERNEL_ONLY.test(n));
  const dir = mkdtempSync(join(tmpdir(), "tpm-ct-consts-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const source = [
    "#include <stdio.h>",
    "#include <linux/netfilter/nfnetlink.h>",
    "#include <linux/netfilter/nfnetlink_conntrack.h>",
    "int main(void) {",
    ...names.map((n) => `  printf("%s %lld\\n", "${n}", (long long)(${n}));`),
    "  return 0;",
    "}",
  ].join("\n");
  writeFileSync(join(dir, "c.c"), source);
  execFileSync("cc", ["-o", join(dir, "c"), join(dir, "c.c")], { stdio: "pipe" });
  const printed = Object.fromEntries(
    execFileSync(join(dir, "c"), { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .map(([n, v]) => [n, Number(v)]),
  );
  t.same(Object.fromEntries(names.map((n) => [n, (C as Record<string, number>)[n]])), printed);
  t.ok(names.length >= 20, `${names.length} constants checked`);
  // nf_internals.h: CTA_FILTER_F_CTA_IP_SRC (1 << 0) ... CTA_FILTER_F_CTA_PROTO_DST_PORT (1 << 5).
  t.same([C.CTA_FILTER_F_CTA_IP_SRC, C.CTA_FILTER_F_CTA_IP_DST, C.CTA_FILTER_F_CTA_TUPLE_ZONE, C.CTA_FILTER_F_CTA_PROTO_NUM, C.CTA_FILTER_F_CTA_PROTO_SRC_PORT, C.CTA_FILTER_F_CTA_PROTO_DST_PORT], [1, 2, 4, 8, 16, 32]);
});

interface Sent {
  op: string;
  type: number;
  body: Buffer;
}

/** A socket that refuses the filtered flush (as Linux < 6.12 does) and dumps `entries`. */
function scriptedSocket(entries: Buffer[], flush: "refuse" | "accept"): { nl: NetlinkSocket; sent: Sent[] } {
  const sent: Sent[] = [];
  const nl = {
    request(op: string, type: number, _flags: number, body: Uint8Array): NetlinkMessage[] {
      sent.push({ op, type, body: Buffer.from(body) });
      if (op.startsWith("delete conntrack entries") && flush === "refuse") throw new NetlinkError(op, 95); // EOPNOTSUPP
      return [];
    },
    dump(op: string, type: number, body: Uint8Array): NetlinkMessage[] {
      sent.push({ op, type, body: Buffer.from(body) });
      return entries.map((payload, i) => ({ type: (1 << 8) | C.IPCTNL_MSG_CT_NEW, flags: 2, seq: i, payload }));
    },
  } as unknown as NetlinkSocket;
  return { nl, sent };
}

/** A dumped IPv4 UDP entry: nfgenmsg + orig tuple + id. */
function entry(src: string, dst: string, sport: number, dport: number, protocol = 17, id = 7): Buffer {
  const e = new AttributeEncoder("host", true).raw(Buffer.from([2, 0, 0, 0]));
  e.nested(C.CTA_TUPLE_ORIG, (o) =>
    o
      .nested(C.CTA_TUPLE_IP, (ip) => ip.bytes(C.CTA_IP_V4_SRC, Buffer.from(src.split(".").map(Number))).bytes(C.CTA_IP_V4_DST, Buffer.from(dst.split(".").map(Number))))
      .nested(C.CTA_TUPLE_PROTO, (p) => p.u8(C.CTA_PROTO_NUM, protocol).u16be(C.CTA_PROTO_SRC_PORT, sport).u16be(C.CTA_PROTO_DST_PORT, dport)),
  );
  e.u32be(C.CTA_ID, id);
  return Buffer.from(e.finish());
}

t.test("one filtered flush: IPCTNL_MSG_CT_DELETE with the tuple and CTA_FILTER", async (t) => {
  const { nl, sent } = scriptedSocket([], "accept");
  deleteConntrackEntries(nl, { family: 4, protocol: 17, dport: 53, daddr: parseIp("10.0.0.1") });
  t.equal(sent.length, 1);
  t.equal(sent[0]!.type, (1 << 8) | 2, "NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE");
  t.equal(
    sent[0]!.body.toString("hex"),
    [
      "02000000", // nfgenmsg: AF_INET, version 0
      "24000180", // CTA_TUPLE_ORIG (nested), 36 bytes
      "0c000180", "08000200", "0a000001", // CTA_TUPLE_IP { CTA_IP_V4_DST 10.0.0.1 }
      "14000280", "05000100", "11000000", "06000300", "00350000", // CTA_TUPLE_PROTO { NUM 17, DST_PORT 53 (be) }
      "0c001980", "08000100", "2a000000", // CTA_FILTER { ORIG_FLAGS = IP_DST|PROTO_NUM|PROTO_DST_PORT (host order) }
    ].join(""),
  );
});

t.test("older kernels: dump (filtered) and delete each match by its tuple and id", async (t) => {
  const entries = [
    entry("10.9.0.2", "10.0.0.1", 40000, 53, 17, 1),
    entry("10.9.0.3", "10.0.0.1", 40001, 54, 17, 2), // other port (a kernel without CTA_FILTER dumps everything)
    entry("10.9.0.4", "10.0.0.2", 40002, 53, 17, 3), // other destination
    entry("10.9.0.5", "10.0.0.1", 40003, 53, 6, 4), // tcp
    entry("10.9.0.6", "10.0.0.1", 40004, 53, 17, 5),
  ];
  const { nl, sent } = scriptedSocket(entries, "refuse");
  deleteConntrackEntries(nl, { family: 4, protocol: 17, dport: 53, daddr: parseIp("10.0.0.1") });
  t.same(sent.map((s) => s.op.split(" (")[0]), ["delete conntrack entries", "list conntrack entries", "delete conntrack entry", "delete conntrack entry"]);
  t.equal(sent[1]!.type, (1 << 8) | 1, "the dump is IPCTNL_MSG_CT_GET");
  t.same(sent[1]!.body, sent[0]!.body, "with the same filter");
  const attrs = (b: Buffer) => new Attributes(b.subarray(4), "host");
  for (const [i, id] of [[2, 1], [3, 5]] as const) {
    const sentAttrs = attrs(sent[i]!.body);
    t.same(sentAttrs.bytes(C.CTA_TUPLE_ORIG), attrs(entries[id - 1]!).bytes(C.CTA_TUPLE_ORIG), `entry ${id}: its original tuple`);
    t.equal(sentAttrs.u32be(C.CTA_ID), id, `entry ${id}: its id`);
  }
});
