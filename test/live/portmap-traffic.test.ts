// portmap chained after bridge (dist/bin, through lib/runtime as libcni runs them) in a throw-away
// host netns: real TCP and UDP traffic to the mapped ports from an outside netns, from the host, via
// 127.0.0.1, restricted by hostIP, hairpin from the pod itself and from a neighbour, over IPv6,
// and nothing after DEL.
import t from "tap";
import { formatIp, tryParseIp } from "../../lib/ip/address.ts";
import { inNs, isRoot } from "../helpers/netns.ts";
import { HOST_IP, HOST_IP6, HOST_IP_B, makeLab, OUTSIDE_IP, OUTSIDE_IP6, tcp, udp } from "../helpers/portmap-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

/** "<server> <peer address>" as the servers answer: which pod answered, and whom it saw. */
const answer = (reply: string): { server: string; peer: string } => {
  const [server = "", peer = ""] = reply.split(" ");
  // socat prints IPv6 peers expanded and bracketed: [fd00:0061:0000:...:0002]
  const ip = tryParseIp(peer.replace(/^\[|\]$/g, ""));
  return { server, peer: ip ? formatIp(ip) : peer };
};

t.test("TCP and UDP reach the pod from outside, from the host and via 127.0.0.1", async (t) => {
  const lab = makeLab(t, "tpm-a");
  const pod = lab.pod("a", [
    { hostPort: 8080, containerPort: 80, protocol: "tcp" },
    { hostPort: 5353, containerPort: 53, protocol: "udp" },
  ]);
  lab.serve(pod, 80, "pod-a");
  lab.serve(pod, 53, "pod-a", { udp: true });

  t.same(answer(tcp(lab.outside, HOST_IP, 8080)), { server: "pod-a", peer: OUTSIDE_IP }, "outside → host:8080 reaches pod port 80, client address kept");
  t.equal(answer(udp(lab.outside, HOST_IP, 5353)).server, "pod-a", "outside → host:5353/udp reaches pod port 53");
  t.equal(answer(tcp(lab.outside, HOST_IP_B, 8080)).server, "pod-a", "any host address maps (no hostIP)");
  t.equal(answer(tcp(lab.host, HOST_IP, 8080)).server, "pod-a", "the host itself → its own address:8080");
  t.equal(answer(tcp(lab.host, "127.0.0.1", 8080)).server, "pod-a", "the host → 127.0.0.1:8080 (route_localnet + masquerade)");
  t.equal(answer(udp(lab.host, "127.0.0.1", 5353)).server, "pod-a", "the host → 127.0.0.1:5353/udp");
  t.equal(tcp(lab.outside, HOST_IP, 8081, 1), "", "an unmapped port does not reach the pod");
  t.same(answer(tcp(lab.outside, pod.ip, 80)), { server: "pod-a", peer: OUTSIDE_IP }, "the pod's own address still works directly");

  lab.del(pod);
  t.equal(tcp(lab.outside, HOST_IP, 8080, 1), "", "after DEL host:8080 no longer reaches the pod");
  t.equal(udp(lab.outside, HOST_IP, 5353), "", "after DEL host:5353/udp no longer reaches the pod");
  t.equal(tcp(lab.host, "127.0.0.1", 8080, 1), "", "after DEL 127.0.0.1:8080 neither");
});

t.test("hostIP restricts the mapping to that host address", async (t) => {
  const lab = makeLab(t, "tpm-b");
  const pod = lab.pod("b", [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: HOST_IP_B }]);
  lab.serve(pod, 80, "pod-b");
  t.equal(answer(tcp(lab.outside, HOST_IP_B, 8080)).server, "pod-b", `${HOST_IP_B}:8080 reaches the pod`);
  t.equal(tcp(lab.outside, HOST_IP, 8080, 1), "", `${HOST_IP}:8080 does not`);
  t.equal(tcp(lab.host, "127.0.0.1", 8080, 1), "", "nor does 127.0.0.1:8080");
});

t.test("a mapping on a host address wins over an any-address mapping of the same port", async (t) => {
  const lab = makeLab(t, "tpm-p");
  const any = lab.pod("any", [{ hostPort: 8080, containerPort: 80 }]);
  const specific = lab.pod("spec", [{ hostPort: 8080, containerPort: 80, hostIP: HOST_IP_B }]);
  lab.serve(any, 80, "any");
  lab.serve(specific, 80, "specific");
  t.equal(answer(tcp(lab.outside, HOST_IP_B, 8080)).server, "specific", `${HOST_IP_B}:8080 → the hostIP mapping`);
  t.equal(answer(tcp(lab.outside, HOST_IP, 8080)).server, "any", `${HOST_IP}:8080 → the any-address mapping`);
});

t.test("hairpin: the pod and its neighbour reach the pod through host:hostPort", async (t) => {
  const lab = makeLab(t, "tpm-c");
  const pod = lab.pod("c", [{ hostPort: 8080, containerPort: 80 }]);
  const neighbour = lab.pod("n", []);
  lab.serve(pod, 80, "pod-c");
  const self = answer(tcp(pod.ns, HOST_IP, 8080));
  t.equal(self.server, "pod-c", "the pod reaches itself through host:8080");
  t.not(self.peer, pod.ip, "masqueraded: the pod does not see its own address as the peer");
  t.same(answer(tcp(neighbour.ns, HOST_IP, 8080)), { server: "pod-c", peer: "10.62.0.1" }, "a neighbour on the bridge reaches it through host:8080, masqueraded to the bridge address");
  t.equal(answer(tcp(neighbour.ns, "10.62.0.1", 8080)).server, "pod-c", "and through the bridge's own address");
});

t.test("snat: false leaves hairpin traffic unmasqueraded (and so broken), outside traffic works", async (t) => {
  const lab = makeLab(t, "tpm-s");
  const pod = lab.pod("s", [{ hostPort: 8080, containerPort: 80 }], { list: lab.list({ snat: false }) });
  lab.serve(pod, 80, "pod-s");
  t.equal(answer(tcp(lab.outside, HOST_IP, 8080)).server, "pod-s", "outside → host:8080 works");
  t.equal(tcp(pod.ns, HOST_IP, 8080, 1), "", "hairpin does not: no masquerade pair was added");
  t.notMatch(lab.ruleset(), /hairpin4 \{[^}]*elements/, "no hairpin elements");
});

t.test("IPv6: a dual-stack pod is reached through the host's IPv6 address", async (t) => {
  const lab = makeLab(t, "tpm-6");
  const list = lab.list({}, { dualStack: true });
  const pod = lab.pod("six", [{ hostPort: 8080, containerPort: 80 }, { hostPort: 8443, containerPort: 80, hostIP: HOST_IP6 }], { list });
  t.ok(pod.ip6?.startsWith("fd00:62::"), `the pod has ${pod.ip6}`);
  lab.serve(pod, 80, "pod-6", { v6: true });
  t.same(answer(tcp(lab.outside, HOST_IP6, 8080)), { server: "pod-6", peer: OUTSIDE_IP6 }, "outside → [host]:8080 over IPv6");
  t.equal(answer(tcp(lab.outside, HOST_IP, 8080)).server, "pod-6", "and over IPv4");
  t.equal(answer(tcp(lab.host, HOST_IP6, 8080)).server, "pod-6", "the host → its own IPv6 address");
  t.equal(answer(tcp(lab.outside, HOST_IP6, 8443)).server, "pod-6", "a mapping on an IPv6 hostIP");
  t.equal(tcp(lab.outside, HOST_IP, 8443, 1), "", "is IPv6 only");
  t.equal(answer(tcp(pod.ns, HOST_IP6, 8080)).server, "pod-6", "hairpin over IPv6");
  lab.del(pod);
  t.equal(tcp(lab.outside, HOST_IP6, 8080, 1), "", "after DEL [host]:8080 no longer reaches the pod");
});

t.test("route_localnet is set on the bridge, the interface that routes to the pod", async (t) => {
  const lab = makeLab(t, "tpm-l");
  const pod = lab.pod("l", [{ hostPort: 8080, containerPort: 80 }]);
  const bridge = (pod.result.interfaces as { name: string }[])[0]!.name;
  t.equal(inNs(lab.host, "cat", [`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`]).trim(), "1", `route_localnet=1 on ${bridge}`);
  t.equal(inNs(lab.host, "cat", ["/proc/sys/net/ipv4/conf/eth0/route_localnet"]).trim(), "0", "not on other interfaces");
});
