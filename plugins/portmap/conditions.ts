import { invalidConfig } from "../../lib/cni/errors.ts";
import { NftInputError } from "../../lib/nft/errors.ts";
import type { Expr } from "../../lib/nft/expr/index.ts";
import { matchDaddr, matchIifname, matchNfproto, matchNotDaddr, matchNotIifname, matchNotOifname, matchNotSaddr, matchOifname, matchSaddr } from "../../lib/nft/intents.ts";

/**
 * `conditionsV4`/`conditionsV6`: extra matches a packet must pass before this network's mappings
 * apply to it. `chain` names the chain that holds them (one per distinct condition list, so
 * networks with different conditions never share or overwrite each other's).
 */
export interface Conditions {
  chain: string;
  /** The match, starting with `meta nfproto`. */
  exprs: Expr[];
}

type Field = "saddr" | "daddr" | "iifname" | "oifname";

const SUPPORTED =
  'nftables: "ip|ip6 saddr|daddr [!=] <address>[/<length>]", "[meta] iifname|oifname [!=] <name>"; ' +
  'iptables: "[!] -s|--source|-d|--destination <address>[/<length>]", "[!] -i|--in-interface|-o|--out-interface <name>"';

/** The reference picks the syntax from the first token: iptables options start with - or !. */
export function conditionsSyntax(list: readonly string[] | undefined): "iptables" | "nftables" | undefined {
  const first = list?.[0];
  if (!first) return undefined;
  return first.startsWith("-") || first.startsWith("!") ? "iptables" : "nftables";
}

/**
 * Parses the conditions (the subset of both syntaxes above; the list items are joined with spaces,
 * as the reference does) into nft expressions. Anything else is refused, naming the token.
 */
export function parseConditions(list: readonly string[] | undefined, family: 4 | 6, key: string): Conditions | undefined {
  const syntax = conditionsSyntax(list);
  if (!syntax) return undefined;
  const tokens = list!.join(" ").split(/\s+/).filter(Boolean).map(unquote);
  const matches = syntax === "iptables" ? iptablesMatches(tokens, key) : nftMatches(tokens, family, key);
  const exprs: Expr[] = [...matchNfproto(family)];
  for (const m of matches) {
    try {
      exprs.push(...toExprs(m, family));
    } catch (e) {
      if (e instanceof NftInputError) throw invalidConfig(`invalid "${key}": ${e.message}`);
      throw e;
    }
  }
  return { chain: `cond${family}-${fnv1a(`${family} ${JSON.stringify(matches)}`)}`, exprs };
}

interface Match {
  field: Field;
  negated: boolean;
  value: string;
}

const unquote = (t: string): string => (t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t);

function nftMatches(tokens: string[], family: 4 | 6, key: string): Match[] {
  const out: Match[] = [];
  for (let i = 0; i < tokens.length; ) {
    const start = i;
    let word = tokens[i++];
    if (word === "meta") word = tokens[i++];
    let field: Field;
    if (word === "iifname" || word === "oifname") field = word;
    else if (word === "ip" || word === "ip6") {
      if ((word === "ip") !== (family === 4)) throw unsupported(key, tokens, start, `"${word}" matches do not belong in ${family === 4 ? "conditionsV4" : "conditionsV6"}`);
      const f = tokens[i++];
      if (f !== "saddr" && f !== "daddr") throw unsupported(key, tokens, start);
      field = f;
    } else throw unsupported(key, tokens, start);
    let negated = false;
    if (tokens[i] === "!=" || tokens[i] === "==") negated = tokens[i++] === "!=";
    const value = tokens[i++];
    if (value === undefined) throw unsupported(key, tokens, start, "a value is missing");
    out.push({ field, negated, value });
  }
  return out;
}

const IPTABLES_OPTIONS: Record<string, Field> = {
  "-s": "saddr",
  "--source": "saddr",
  "-d": "daddr",
  "--destination": "daddr",
  "-i": "iifname",
  "--in-interface": "iifname",
  "-o": "oifname",
  "--out-interface": "oifname",
};

function iptablesMatches(tokens: string[], key: string): Match[] {
  const out: Match[] = [];
  for (let i = 0; i < tokens.length; ) {
    const start = i;
    const negated = tokens[i] === "!";
    if (negated) i++;
    const field = IPTABLES_OPTIONS[tokens[i++] ?? ""];
    if (!field) throw unsupported(key, tokens, start);
    const value = tokens[i++];
    if (value === undefined) throw unsupported(key, tokens, start, "a value is missing");
    // iptables writes an interface wildcard as `eth+`, nft as `eth*`.
    out.push({ field, negated, value: field.endsWith("ifname") && value.endsWith("+") ? `${value.slice(0, -1)}*` : value });
  }
  return out;
}

function toExprs(m: Match, family: 4 | 6): Expr[] {
  if (m.field === "iifname") return m.negated ? matchNotIifname(m.value) : matchIifname(m.value);
  if (m.field === "oifname") return m.negated ? matchNotOifname(m.value) : matchOifname(m.value);
  const prefix = m.value;
  if ((prefix.includes(":") ? 6 : 4) !== family) throw new NftInputError(`"${prefix}" is not an IPv${family} address or prefix`);
  if (m.field === "saddr") return m.negated ? matchNotSaddr(prefix) : matchSaddr(prefix);
  return m.negated ? matchNotDaddr(prefix) : matchDaddr(prefix);
}

function unsupported(key: string, tokens: string[], at: number, why?: string) {
  const near = tokens.slice(at, at + 4).join(" ");
  return invalidConfig(`invalid "${key}": unsupported condition at "${near}"${why ? `: ${why}` : ""}`, `supported: ${SUPPORTED}`);
}

/** 32-bit FNV-1a as 8 hex digits: a short stable name for a condition list. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}
