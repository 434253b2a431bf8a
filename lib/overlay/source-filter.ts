import { formatIp, parseIp, sameIp, type Family, type IpAddress } from "../ip/address.ts";
import { drop, matchDport, matchL4proto, matchNfproto, NftTransaction, type NftChain, type NftConnection, type NftRule, type NftSet, type NftTable } from "../nft/index.ts";
import { NFT_REG_1 } from "../nft/constants.ts";
import type { Changes } from "./peers.ts";

// Only configured peers may send into an overlay. The vxlan driver accepts a packet for its VNI
// from any source, so a host dropped from the peer list could still inject frames (and, in l2
// mode, be learned again). An input rule per device drops VXLAN packets for its VNI from anyone
// not in its peer set, before the driver sees them:
//
//   table inet tscni-vxlan {
//     set vxlan_4096_4789 { type ipv4_addr; elements = { 10.200.0.2, 10.200.0.3 } }
//     chain input {
//       type filter hook input priority -10; policy accept;
//       meta nfproto ipv4 meta l4proto udp th dport 4789 @th,96,24 4096 ip saddr != @vxlan_4096_4789 drop comment "tscni vxlan vxlan.4096 port 4789"
//     }
//   }

const TABLE: NftTable = { kind: "table", family: "inet", name: "tscni-vxlan" };
const INPUT: NftChain = { kind: "chain", family: "inet", table: TABLE.name, name: "input", type: "filter", hook: "input", priority: -10, policy: "accept" };

export interface SourceFilter {
  device: string;
  vni: number;
  port: number;
  family: Family;
  /** The peers' underlay addresses; undefined: no filter (a multicast group: any member may send). */
  peers: readonly IpAddress[] | undefined;
}

// The set's name carries the port (the VNI is in the device name): a set of this name exists only
// together with its rule (made in one transaction, and a rule's set cannot be deleted), so finding
// the set is enough on the fast path; without it, the device's rules are listed and replaced.
const setOf = (f: SourceFilter): NftSet => ({
  kind: "set",
  family: TABLE.family,
  table: TABLE.name,
  name: `${f.device.replace(".", "_")}_${f.port}`,
  key: f.family === 4 ? "ipv4_addr" : "ipv6_addr",
});
const commentOf = (f: SourceFilter): string => `tscni vxlan ${f.device} port ${f.port}`;
const isFilterOf = (r: NftRule, f: SourceFilter): boolean => r.comment?.startsWith(`tscni vxlan ${f.device} `) === true;

function ruleOf(f: SourceFilter, set: NftSet): NftRule {
  const vni = Buffer.alloc(3);
  vni.writeUIntBE(f.vni, 0, 3);
  return {
    kind: "rule",
    family: TABLE.family,
    table: TABLE.name,
    chain: INPUT.name,
    exprs: [
      ...matchNfproto(f.family),
      ...matchL4proto("udp"),
      ...matchDport(f.port),
      // The VNI: bytes 4-6 of the VXLAN header, after the 8-byte UDP header.
      { type: "payload", base: "transport", offset: 12, len: 3, dreg: NFT_REG_1 },
      { type: "cmp", op: "eq", sreg: NFT_REG_1, data: vni },
      { type: "payload", base: "network", offset: f.family === 4 ? 12 : 8, len: f.family === 4 ? 4 : 16, dreg: NFT_REG_1 },
      { type: "lookup", set: set.name, sreg: NFT_REG_1, invert: true },
      ...drop(),
    ],
    comment: commentOf(f),
  };
}

/**
 * Makes the device's filter match `f` in one transaction: table, chain, set and rule when
 * missing, the set's elements added and deleted to equal the peers. Without a peers list (or with
 * another port) the old rule and set are deleted.
 */
export function reconcileSourceFilter(conn: NftConnection, f: SourceFilter, { apply = true } = {}): Changes {
  const changes: Changes = { added: [], removed: [] };
  const set = setOf(f);
  const tx = new NftTransaction();
  const elements = f.peers ? conn.listElements(set).map((e) => parseIp(String(e.key))) : [];
  const current = f.peers !== undefined && (elements.length > 0 || conn.listSets(TABLE.family, TABLE.name).some((s) => s.name === set.name));
  if (!current) {
    // First use, a new port, or no filter wanted: whatever rules and sets this device has go.
    const rules = conn.listRules(TABLE.family, TABLE.name, INPUT.name).filter((r) => isFilterOf(r, f));
    const sets = rules.length ? conn.listSets(TABLE.family, TABLE.name).filter((s) => rules.some((r) => ruleUsesSet(r, s.name))) : [];
    for (const r of rules) tx.delete(r);
    for (const s of sets) tx.delete(s);
    if (rules.length) changes.removed.push(`source filter of ${f.device}`);
  }
  if (f.peers) {
    if (!current) {
      tx.add(TABLE).add(INPUT).add(set).add(ruleOf(f, set));
      changes.added.push(`source filter of ${f.device}`);
    }
    for (const ip of elements) {
      if (f.peers.some((p) => sameIp(p, ip))) continue;
      tx.delete({ kind: "element", set, key: formatIp(ip) });
      changes.removed.push(`source ${formatIp(ip)}`);
    }
    for (const p of f.peers) {
      if (elements.some((ip) => sameIp(p, ip))) continue;
      tx.add({ kind: "element", set, key: formatIp(p) });
      changes.added.push(`source ${formatIp(p)}`);
    }
  }
  if (apply && tx.length) conn.commit(tx);
  return changes;
}

const ruleUsesSet = (r: NftRule, name: string): boolean => r.exprs.some((x) => x.type === "lookup" && x.set === name);
