// Stale UDP conntrack entries: portmap deletes those of its host ports on DEL and on ADD, so a pod
// re-created with another address gets the traffic of a client that never stopped sending (same
// source port, one conntrack entry) at once. And lib/conntrack's filtered delete on its own.
import t from "tap";
import { deleteConntrackEntries } from "../../lib/conntrack/entries.ts";
import { parseIp } from "../../lib/ip/address.ts";
import { openNetns } from "../../lib/netns/netns.ts";
import { openNfnlIn } from "../../lib/netns/sockets.ts";
import { inNs, isRoot, makeNetns } from "../helpers/netns.ts";
import { HOST_IP, makeLab, udp } from "../helpers/portmap-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const CLIENT_PORT = 40000;
/** `conntrack -L` lines of UDP flows to `port`, in `ns`. */
const flows = (ns: string, port: number): string[] =>
  inNs(ns, "conntrack", ["-L", "-p", "udp", "--orig-port-dst", String(port)], { allowFail: true })
    .split("\n")
    .filter((l) => l.startsWith("udp"));

t.test("a re-created pod gets a steady UDP client's traffic at once", async (t) => {
  const lab = makeLab(t, "tpm-ct");
  const mappings = [{ hostPort: 5353, containerPort: 53, protocol: "udp" }];
  const a = lab.pod("a", mappings);
  lab.serve(a, 53, "pod-a", { udp: true });
  t.match(udp(lab.outside, HOST_IP, 5353, CLIENT_PORT), /^pod-a /, "the client reaches pod a");
  t.match(flows(lab.host, 5353).join("\n"), `src=${a.ip}`, "its flow is DNATed to pod a");

  lab.del(a);
  t.same(flows(lab.host, 5353), [], "DEL deleted the flow to the old pod");
  t.equal(udp(lab.outside, HOST_IP, 5353, CLIENT_PORT), "", "meanwhile the client gets no answer");
  const stale = flows(lab.host, 5353);
  t.equal(stale.length, 1, "and its datagrams left an un-NATed flow");
  t.match(stale[0], `src=${HOST_IP} dst=10.61.0.2 sport=5353`, "whose reply side is the host itself");

  const b = lab.pod("b", mappings);
  t.not(b.ip, a.ip, `pod b has another address (${b.ip})`);
  lab.serve(b, 53, "pod-b", { udp: true });
  t.match(udp(lab.outside, HOST_IP, 5353, CLIENT_PORT), /^pod-b /, "the same client flow reaches pod b at once");
  t.match(flows(lab.host, 5353).join("\n"), `src=${b.ip}`, "its flow is DNATed to pod b");

  // Control: the same sequence, with the mapping put back by hand (no conntrack flush), blackholes.
  lab.del(b);
  t.equal(udp(lab.outside, HOST_IP, 5353, CLIENT_PORT), "", "no mapping: no answer, a stale flow again");
  inNs(lab.host, "nft", ["add", "element", "inet", "tscni-portmap", "any4", `{ udp . 5353 : ${b.ip} . 53 }`]);
  lab.serve(b, 53, "pod-b-again", { udp: true });
  t.equal(udp(lab.outside, HOST_IP, 5353, CLIENT_PORT), "", "control: without the flush the stale flow keeps the client from the pod");
});

t.test("lib/conntrack deletes exactly the entries of a protocol, port and destination", async (t) => {
  const ns = makeNetns(t, "tpm-ctl");
  inNs(ns.name, "ip", ["addr", "add", "10.66.0.1/24", "dev", "lo"]);
  inNs(ns.name, "ip", ["addr", "add", "fd00:66::1/64", "dev", "lo", "nodad"]);
  // Conntrack runs in a netns once a rule uses it.
  inNs(ns.name, "nft", ["add table ip t; add chain ip t o { type filter hook output priority 0; }; add rule ip t o ct state new counter; add table ip6 t; add chain ip6 t o { type filter hook output priority 0; }; add rule ip6 t o ct state new counter"]);
  const send = (host: string, port: number) => inNs(ns.name, "socat", ["-u", "-", `UDP:${host.includes(":") ? `[${host}]` : host}:${port}`], { input: "x", allowFail: true });
  for (const port of [6001, 6002]) for (const host of ["127.0.0.1", "10.66.0.1", "::1", "fd00:66::1"]) send(host, port);
  const count = (port: number, dst?: string) => inNs(ns.name, "conntrack", ["-L", "-p", "udp", "--orig-port-dst", String(port), ...(dst ? ["--orig-dst", dst] : [])], { allowFail: true }).split("\n").filter((l) => l.startsWith("udp")).length;
  t.equal(count(6001) + count(6002), 8, "eight flows");

  const netns = openNetns(ns.path);
  t.teardown(() => netns.close());
  const nl = openNfnlIn(netns);
  t.teardown(() => nl.close());
  deleteConntrackEntries(nl, { family: 4, protocol: 17, dport: 6001, daddr: parseIp("10.66.0.1") });
  t.equal(count(6001, "10.66.0.1"), 0, "udp 6001 to 10.66.0.1: deleted");
  t.equal(count(6001, "127.0.0.1"), 1, "udp 6001 to 127.0.0.1: kept");
  t.equal(count(6001, "fd00:66::1") + count(6001, "::1"), 2, "IPv6 flows to 6001: kept");
  deleteConntrackEntries(nl, { family: 6, protocol: 17, dport: 6001 });
  t.equal(count(6001, "fd00:66::1") + count(6001, "::1"), 0, "IPv6 udp 6001, any destination: deleted");
  t.equal(count(6001, "127.0.0.1"), 1, "the IPv4 one stays");
  deleteConntrackEntries(nl, { family: 4, protocol: 6, dport: 6002 });
  t.equal(count(6002), 4, "tcp 6002 matches none of the UDP flows");
  deleteConntrackEntries(nl, { family: 4, protocol: 17, dport: 6002 });
  t.equal(count(6002), 2, "udp 6002 over IPv4: deleted; IPv6 kept");
  deleteConntrackEntries(nl, { family: 4, protocol: 17, dport: 6002 });
  t.pass("deleting what is not there is fine");
});
