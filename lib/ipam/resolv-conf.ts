import type { Dns } from "../cni/result.ts";

/**
 * The DNS settings of a resolv.conf, read like host-local's parseResolvConf: `nameserver` lines
 * (each adds one), `domain` (the last wins), `search` and `options` (words appended). Lines
 * starting with `#` or `;`, and lines with fewer than two words, are skipped.
 */
export function parseResolvConf(text: string): Dns {
  const dns: Required<Dns> = { nameservers: [], domain: "", search: [], options: [] };
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    const [keyword, ...words] = trimmed.split(/\s+/);
    if (words.length === 0 || words[0] === undefined) continue;
    switch (keyword) {
      case "nameserver":
        dns.nameservers.push(words[0]);
        break;
      case "domain":
        dns.domain = words[0];
        break;
      case "search":
        dns.search.push(...words);
        break;
      case "options":
        dns.options.push(...words);
        break;
    }
  }
  const out: Dns = {};
  if (dns.nameservers.length > 0) out.nameservers = dns.nameservers;
  if (dns.domain) out.domain = dns.domain;
  if (dns.search.length > 0) out.search = dns.search;
  if (dns.options.length > 0) out.options = dns.options;
  return out;
}
