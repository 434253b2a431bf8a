import { parseMac } from "../ip/mac.ts";
import { drop, isOwnedBy, matchIifname, ownerComment, NftTransaction, type NftChain, type NftConnection, type NftRule, type NftTable, type RuleOwner } from "../nft/index.ts";
import { NFT_REG_1 } from "../nft/constants.ts";

// `macspoofchk`: frames entering the bridge from a container's port must carry its own MAC.
// Table bridge tscni-macspoof, one rule per attachment:
//   iifname "<host veth>" ether saddr != <mac> drop comment "<owner>"

const TABLE: NftTable = { kind: "table", family: "bridge", name: "tscni-macspoof" };
const PREROUTING: NftChain = {
  kind: "chain",
  family: "bridge",
  table: TABLE.name,
  name: "prerouting",
  type: "filter",
  hook: "prerouting",
  priority: -300,
  policy: "accept",
};

export function queueMacSpoofCheck(tx: NftTransaction, owner: RuleOwner, hostVeth: string, mac: string): void {
  tx.add(TABLE).add(PREROUTING);
  tx.add({
    kind: "rule",
    family: TABLE.family,
    table: TABLE.name,
    chain: PREROUTING.name,
    exprs: [
      ...matchIifname(hostVeth),
      { type: "payload", base: "ll", offset: 6, len: 6, dreg: NFT_REG_1 },
      { type: "cmp", op: "neq", sreg: NFT_REG_1, data: parseMac(mac) },
      ...drop(),
    ],
    comment: ownerComment(owner),
  });
}

export function listMacSpoofRules(conn: NftConnection, owner: Partial<RuleOwner>): NftRule[] {
  return conn.listRules(TABLE.family, TABLE.name, PREROUTING.name).filter((r) => isOwnedBy(r, owner));
}
