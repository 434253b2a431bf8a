import { AttributeEncoder, Attributes, NetlinkDecodeError } from "../../lib/netlink/attributes.ts";
import { NF_CT_STATE_ESTABLISHED_BIT, NF_CT_STATE_RELATED_BIT } from "../../lib/nft/constants.ts";
import { parseOwnerComment, type Expr, type NftRule, type RuleOwner } from "../../lib/nft/index.ts";

// xtables matches as iptables-nft writes them: `match` expressions run by nft_compat. We write the
// conntrack match, since a native `ct` expression in a table of iptables-nft makes iptables refuse
// the whole table ("table `filter' is incompatible, use 'nft' tool"), which would break Docker and
// every other iptables user of the host. We read the comment match, since `iptables-save |
// iptables-restore` turns our rule comments (userdata) into it.

// linux/netfilter/nf_tables_compat.h
const NFTA_MATCH_NAME = 1;
const NFTA_MATCH_REV = 2;
const NFTA_MATCH_INFO = 3;

// linux/netfilter/xt_conntrack.h: struct xt_conntrack_mtinfo3 is 164 bytes, XT_ALIGN'ed to 168;
// after eight 16-byte address/mask fields and expires_min/max come l4proto and four ports.
// Host byte order inside the struct; we build for x86-64 only (little-endian).
const CONNTRACK_INFO_SIZE = 168;
const MATCH_FLAGS_OFFSET = 146;
const STATE_MASK_OFFSET = 150;
const XT_CONNTRACK_STATE = 1 << 0;

/** `-m conntrack --ctstate RELATED,ESTABLISHED` (revision 3). */
export function xtCtStateEstablishedRelated(): Expr[] {
  const info = Buffer.alloc(CONNTRACK_INFO_SIZE);
  info.writeUInt16LE(XT_CONNTRACK_STATE, MATCH_FLAGS_OFFSET);
  info.writeUInt16LE(NF_CT_STATE_ESTABLISHED_BIT | NF_CT_STATE_RELATED_BIT, STATE_MASK_OFFSET);
  const data = new AttributeEncoder("network").str(NFTA_MATCH_NAME, "conntrack").u32be(NFTA_MATCH_REV, 3).bytes(NFTA_MATCH_INFO, info).finish();
  return [{ type: "unknown", name: "match", data }];
}

/** The text of `-m comment --comment "<text>"` (struct xt_comment_info: a NUL-terminated char[256]). */
function xtComment(x: Expr): string | undefined {
  if (x.type !== "unknown" || x.name !== "match") return undefined;
  try {
    const a = new Attributes(x.data, "network");
    const info = a.str(NFTA_MATCH_NAME) === "comment" ? a.bytes(NFTA_MATCH_INFO) : undefined;
    if (!info) return undefined;
    const nul = info.indexOf(0);
    return info.toString("latin1", 0, nul < 0 ? info.length : nul);
  } catch (e) {
    if (e instanceof NetlinkDecodeError) return undefined;
    throw e;
  }
}

/** A rule's comment: its userdata, or an xtables comment match (after an iptables-restore). */
export function ruleComment(rule: NftRule): string | undefined {
  if (rule.comment !== undefined) return rule.comment;
  for (const x of rule.exprs) {
    const text = xtComment(x);
    if (text !== undefined) return text;
  }
  return undefined;
}

/** The owner named by a rule's comment, in whichever form. */
export const ruleOwner = (rule: NftRule): RuleOwner | undefined => parseOwnerComment(ruleComment(rule));

/** True when the rule's comment names exactly `owner`. */
export function isOwnedBy(rule: NftRule, owner: RuleOwner): boolean {
  const o = ruleOwner(rule);
  return o !== undefined && o.net === owner.net && o.id === owner.id && o.ifname === owner.ifname;
}

/** The expressions that decide what the rule does: all but xtables comment matches. */
export const withoutXtComments = (exprs: readonly Expr[]): Expr[] => exprs.filter((x) => xtComment(x) === undefined);
