// portmap's lifecycle in a throw-away host netns: the ruleset it builds (as `nft` lists it), a
// duplicate host port refused with nothing changed, DEL without portMappings, ownership by network +
// container + interface, re-ADD, CHECK, GC, conditions, concurrent first ADDs, bad requests.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { checkNetworkList, execPlugin, PluginError } from "../../lib/runtime/index.ts";
import { inNs, isRoot, makeNetns } from "../helpers/netns.ts";
import { BIN, HOST_IP, HOST_IP_B, makeLab, tcp, type Lab, type Pod } from "../helpers/portmap-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const server = (reply: string): string => reply.split(" ")[0] ?? "";
/** The elements of a set or map of ours, sorted, as `nft` prints them. */
const elements = (lab: Lab, set: string): string => {
  const lines = lab.ruleset().split("\n");
  const from = lines.findIndex((l) => l === `\tmap ${set} {` || l === `\tset ${set} {`);
  const block = lines.slice(from + 1, lines.indexOf("\t}", from)).join(" ");
  const list = from < 0 ? "" : (/elements = \{([^}]*)\}/.exec(block)?.[1] ?? "");
  return list.split(",").map((e) => e.trim()).filter(Boolean).sort().join(", ");
};
const stateFiles = (lab: Lab, network: string): string[] => {
  const dir = join(lab.dataDir, network);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};

t.test("the ruleset: one table, fixed chains and rules, the mappings as map elements", async (t) => {
  const lab = makeLab(t, "tpm-r");
  lab.pod("r", [
    { hostPort: 8080, containerPort: 80 },
    { hostPort: 5353, containerPort: 53, protocol: "udp" },
    { hostPort: 8443, containerPort: 443, hostIP: HOST_IP_B },
  ]);
  t.equal(
    lab.ruleset(),
    `table inet tscni-portmap {
	map hostip4 {
		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
		elements = { 10.61.0.9 . tcp . 8443 : 10.62.0.2 . 443 }
	}

	map any4 {
		type inet_proto . inet_service : ipv4_addr . inet_service
		elements = { tcp . 8080 : 10.62.0.2 . 80,
			     udp . 5353 : 10.62.0.2 . 53 }
	}

	map hostip6 {
		type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service
	}

	map any6 {
		type inet_proto . inet_service : ipv6_addr . inet_service
	}

	map guard-hostip4 {
		type ipv4_addr . inet_proto . inet_service : verdict
	}

	map guard-any4 {
		type inet_proto . inet_service : verdict
	}

	map guard-hostip6 {
		type ipv6_addr . inet_proto . inet_service : verdict
	}

	map guard-any6 {
		type inet_proto . inet_service : verdict
	}

	set hairpin4 {
		type ipv4_addr . ipv4_addr
		flags interval
		elements = { 10.62.0.0/24 . 10.62.0.2,
			     127.0.0.0/8 . 10.62.0.2 }
	}

	set hairpin6 {
		type ipv6_addr . ipv6_addr
		flags interval
	}

	chain hostports {
		ip daddr . meta l4proto . th dport vmap @guard-hostip4
		dnat ip to ip daddr . meta l4proto . th dport map @hostip4
		meta nfproto ipv4 meta l4proto . th dport vmap @guard-any4
		meta nfproto ipv4 dnat ip to meta l4proto . th dport map @any4
		ip6 daddr . meta l4proto . th dport vmap @guard-hostip6
		dnat ip6 to ip6 daddr . meta l4proto . th dport map @hostip6
		meta nfproto ipv6 meta l4proto . th dport vmap @guard-any6
		meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @any6
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump hostports
	}

	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump hostports
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat ip saddr . ip daddr @hairpin4 masquerade
		ct status dnat ip6 saddr . ip6 daddr @hairpin6 masquerade
	}
}
`,
    "nft lists what we meant, and a second pod adds only elements",
  );
  const before = lab.ruleset().replace(/elements = \{[^}]*\}/g, "");
  lab.pod("r2", [{ hostPort: 9090, containerPort: 90 }]);
  t.equal(lab.ruleset().replace(/elements = \{[^}]*\}/g, ""), before, "a second ADD changes no chain or rule");
  t.equal(elements(lab, "any4"), "tcp . 8080 : 10.62.0.2 . 80, tcp . 9090 : 10.62.0.3 . 90, udp . 5353 : 10.62.0.2 . 53");
  t.equal(elements(lab, "hairpin4"), "10.62.0.0/24 . 10.62.0.2, 10.62.0.0/24 . 10.62.0.3, 127.0.0.0/8 . 10.62.0.2, 127.0.0.0/8 . 10.62.0.3");
  t.same(inNs(lab.host, "nft", ["list", "tables"]).trim().split("\n"), ["table inet tscni-portmap"], "no other table is made");
});

t.test("a host port another pod holds is refused and nothing changes", async (t) => {
  const lab = makeLab(t, "tpm-u");
  const a = lab.pod("a", [{ hostPort: 8080, containerPort: 80 }]);
  lab.serve(a, 80, "pod-a");
  const before = lab.ruleset();
  const { pod: b, error } = lab.attempt("b", [
    { hostPort: 9090, containerPort: 90 },
    { hostPort: 8080, containerPort: 80 },
  ]);
  t.ok(error instanceof PluginError, "ADD of the second pod fails");
  const e = error as PluginError;
  t.equal(e.plugin, "portmap");
  t.equal(e.code, 7, "code 7");
  t.match(e.message, "host port 8080/tcp is already mapped (to 10.62.0.2:80)", "the message names the port and where it goes");
  t.equal(lab.ruleset(), before, "the ruleset is unchanged: not even the free port 9090 was mapped");
  t.same(stateFiles(lab, "tpm-u-net"), ["tpm-u-a:eth0"], "no record for the refused pod");
  t.equal(server(tcp(lab.outside, HOST_IP, 8080)), "pod-a", "8080 still reaches the first pod");

  lab.del(b);
  t.equal(server(tcp(lab.outside, HOST_IP, 8080)), "pod-a", "the refused pod's DEL (with the same portMappings) leaves the first pod's mapping");
  t.equal(lab.ruleset(), before);
});

t.test("DEL without portMappings removes the pod's mappings (and its record)", async (t) => {
  const lab = makeLab(t, "tpm-d");
  const pod = lab.pod("d", [{ hostPort: 8080, containerPort: 80 }]);
  lab.serve(pod, 80, "pod-d");
  t.equal(server(tcp(lab.outside, HOST_IP, 8080)), "pod-d");
  t.same(stateFiles(lab, "tpm-d-net"), ["tpm-d-d:eth0"]);
  lab.del(pod, { mappings: null });
  t.equal(tcp(lab.outside, HOST_IP, 8080, 1), "", "the mapping is gone");
  t.equal(elements(lab, "any4"), "");
  t.equal(elements(lab, "hairpin4"), "", "and the hairpin pairs");
  t.same(stateFiles(lab, "tpm-d-net"), [], "and the record");
  lab.del(pod, { mappings: null });
  t.pass("a second DEL succeeds");
});

t.test("mappings are owned by network + container + interface", async (t) => {
  const lab = makeLab(t, "tpm-o");
  const first = lab.pod("o", [{ hostPort: 8080, containerPort: 80 }]);
  const list2 = lab.list({}, { name: "tpm-o-net2", second: true });
  const second = lab.pod("o", [{ hostPort: 9090, containerPort: 90 }], { list: list2, containerId: first.rt.containerId, ifName: "eth1", ns: first.ns });
  lab.serve(first, 80, "pod-o");
  t.equal(elements(lab, "any4"), `tcp . 8080 : ${first.ip} . 80, tcp . 9090 : ${second.ip} . 90`, "one container, two networks");
  lab.del(second, { mappings: null });
  t.equal(elements(lab, "any4"), `tcp . 8080 : ${first.ip} . 80`, "DEL on the second network leaves the first network's mapping");
  t.equal(server(tcp(lab.outside, HOST_IP, 8080)), "pod-o", "which still works");
});

t.test("ADD again for the same attachment replaces its mappings", async (t) => {
  const lab = makeLab(t, "tpm-a");
  const pod = lab.pod("a", [{ hostPort: 8080, containerPort: 80 }]);
  // portmap alone, as a runtime retrying the chain's last plugin would.
  const conf = (hostPort: number) => ({ cniVersion: "1.0.0", name: "tpm-a-net", type: "portmap", dataDir: lab.dataDir, runtimeConfig: { portMappings: [{ hostPort, containerPort: 80 }] }, prevResult: pod.result });
  const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: pod.rt.containerId, CNI_NETNS: pod.rt.netns, CNI_IFNAME: "eth0", CNI_PATH: BIN };
  t.equal(execPlugin(lab.runtime, join(BIN, "portmap"), env, JSON.stringify(conf(8080))).status, 0, "the same mappings again: no conflict with itself");
  t.equal(elements(lab, "any4"), `tcp . 8080 : ${pod.ip} . 80`);
  t.equal(execPlugin(lab.runtime, join(BIN, "portmap"), env, JSON.stringify(conf(8081))).status, 0);
  t.equal(elements(lab, "any4"), `tcp . 8081 : ${pod.ip} . 80`, "8080 went, 8081 came");
  t.equal(elements(lab, "hairpin4"), `10.62.0.0/24 . ${pod.ip}, 127.0.0.0/8 . ${pod.ip}`, "the hairpin pairs stay");
});

t.test("CHECK sees the mappings, and their absence", async (t) => {
  const lab = makeLab(t, "tpm-k");
  const pod = lab.pod("k", [
    { hostPort: 8080, containerPort: 80 },
    { hostPort: 5353, containerPort: 53, protocol: "udp" },
  ]);
  checkNetworkList(lab.runtime, pod.list, pod.rt);
  t.pass("CHECK passes after ADD");
  inNs(lab.host, "nft", ["delete", "element", "inet", "tscni-portmap", "any4", "{ udp . 5353 }"]);
  try {
    checkNetworkList(lab.runtime, pod.list, pod.rt);
    t.fail("CHECK passes without the mapping");
  } catch (e) {
    t.equal((e as PluginError).code, 7);
    t.match((e as PluginError).message, "mapping 5353/udp is missing");
  }
  inNs(lab.host, "nft", ["add", "element", "inet", "tscni-portmap", "any4", `{ udp . 5353 : 10.62.0.99 . 53 }`]);
  t.throws(() => checkNetworkList(lab.runtime, pod.list, pod.rt), { message: /mapping 5353\/udp is "udp \. 5353 : 10\.62\.0\.99 \. 53", want "udp \. 5353 : 10\.62\.0\.2 \. 53"/ }, "a mapping to another address is reported");
});

t.test("GC removes the mappings of attachments not in the valid list", async (t) => {
  const lab = makeLab(t, "tpm-g");
  const keep = lab.pod("keep", [{ hostPort: 8080, containerPort: 80 }]);
  lab.pod("gone", [{ hostPort: 9090, containerPort: 90 }]);
  const conf = { cniVersion: "1.1.0", name: "tpm-g-net", type: "portmap", dataDir: lab.dataDir, "cni.dev/valid-attachments": [{ containerID: keep.rt.containerId, ifname: "eth0" }] };
  const out = execPlugin(lab.runtime, join(BIN, "portmap"), { CNI_COMMAND: "GC", CNI_PATH: BIN }, JSON.stringify(conf));
  t.equal(out.status, 0, `GC succeeds ${out.stdout}`);
  t.equal(elements(lab, "any4"), `tcp . 8080 : ${keep.ip} . 80`, "only the valid attachment's mapping is left");
  t.equal(elements(lab, "hairpin4"), `10.62.0.0/24 . ${keep.ip}, 127.0.0.0/8 . ${keep.ip}`);
  t.same(stateFiles(lab, "tpm-g-net"), ["tpm-g-keep:eth0"]);
});

t.test("conditionsV4 gate the network's mappings (nft and iptables syntax)", async (t) => {
  const lab = makeLab(t, "tpm-c");
  const gated = lab.pod("g", [{ hostPort: 8080, containerPort: 80 }], { list: lab.list({ conditionsV4: ["ip saddr != 10.61.0.2"] }) });
  const open = lab.pod("p", [{ hostPort: 9090, containerPort: 80 }]);
  const ipt = lab.pod("i", [{ hostPort: 7070, containerPort: 80 }], { list: lab.list({ conditionsV4: ["!", "-s", "10.61.0.0/24"] }) });
  for (const p of [gated, open, ipt]) lab.serve(p, 80, p.name);
  t.equal(tcp(lab.outside, HOST_IP, 8080, 1), "", "the outside client (10.61.0.2) fails the condition: not mapped");
  t.equal(server(tcp(lab.host, "127.0.0.1", 8080)), "g", "the host passes it");
  t.equal(server(tcp(lab.outside, HOST_IP, 9090)), "p", "another network's mapping is not gated");
  t.equal(tcp(lab.outside, HOST_IP, 7070, 1), "", "iptables syntax: ! -s 10.61.0.0/24 refuses the outside");
  t.equal(server(tcp(lab.host, "127.0.0.1", 7070)), "i", "and lets the host in");
  t.match(lab.ruleset(), /chain cond4-[0-9a-f]{8} \{\n\t\tip saddr != 10\.61\.0\.2 return\n\t\taccept\n\t\}/, "the conditions live in a chain of their own");
  lab.del(gated);
  lab.del(ipt);
  t.equal(elements(lab, "guard-any4"), "", "DEL removes the guard elements");
});

t.test("concurrent first ADDs create the chains once", async (t) => {
  const lab = makeLab(t, "tpm-x");
  const netns = makeNetns(t, "tpm-x-c").path;
  const run = (i: number): Promise<{ status: number | null; out: string }> =>
    new Promise((resolve) => {
      const conf = {
        cniVersion: "1.0.0",
        name: "tpm-x-net",
        type: "portmap",
        dataDir: lab.dataDir,
        runtimeConfig: { portMappings: [{ hostPort: 10000 + i, containerPort: 80, protocol: "tcp" }] },
        prevResult: { cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: netns }], ips: [{ address: `10.62.0.${10 + i}/24`, interface: 0 }] },
      };
      const env = { PATH: process.env.PATH ?? "", CNI_COMMAND: "ADD", CNI_CONTAINERID: `tpm-x-${i}`, CNI_NETNS: netns, CNI_IFNAME: "eth0", CNI_PATH: BIN };
      const child = spawn("ip", ["netns", "exec", lab.host, join(BIN, "portmap")], { env });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.on("close", (status) => resolve({ status, out }));
      child.stdin.end(JSON.stringify(conf));
    });
  const results = await Promise.all([0, 1, 2, 3, 4, 5].map(run));
  t.same(results.map((r) => r.status), [0, 0, 0, 0, 0, 0], "all six ADDs succeed");
  const rules = lab.ruleset().split("\n").filter((l) => /jump hostports|masquerade|dnat|vmap/.test(l));
  t.equal(rules.length, 12, "each fixed rule exactly once (8 in hostports, 2 jumps, 2 masquerades)");
  t.equal(elements(lab, "any4").split(",").length, 6, "six mappings");
});

t.test("bad requests: code 7, nothing made", async (t) => {
  const lab = makeLab(t, "tpm-e");
  const pod = makeNetns(t, "tpm-e-c").path;
  const prevResult = { cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: pod }], ips: [{ address: "10.62.0.5/24", interface: 0 }] };
  const add = (conf: object) => {
    const full = { cniVersion: "1.0.0", name: "tpm-e-net", type: "portmap", dataDir: lab.dataDir, prevResult, ...conf };
    const out = execPlugin(lab.runtime, join(BIN, "portmap"), { CNI_COMMAND: "ADD", CNI_CONTAINERID: "tpm-e", CNI_NETNS: pod, CNI_IFNAME: "eth0", CNI_PATH: BIN }, JSON.stringify(full));
    return { status: out.status, json: JSON.parse(out.stdout.toString() || "{}") };
  };
  const cases: [string, object, RegExp][] = [
    ["no prevResult", { prevResult: undefined, runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80 }] } }, /must be called as chained plugin/],
    ["host port 0", { runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } }, /invalid host port number/],
    ["host port 70000", { runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] } }, /invalid host port number/],
    ["protocol icmp", { runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: "icmp" }] } }, /invalid "protocol"/],
    ["bad hostIP", { runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, hostIP: "10.1" }] } }, /invalid "hostIP"/],
    ["the same mapping twice", { runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80 }, { hostPort: 80, containerPort: 81 }] } }, /duplicate port mapping: 80\/tcp/],
    ["markMasqBit 32", { markMasqBit: 32, runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80 }] } }, /markMasqBit/],
    ["unknown condition", { conditionsV4: ["tcp dport 22"], runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80 }] } }, /unsupported condition at "tcp dport 22"/],
    ["nftables backend with iptables options", { backend: "nftables", externalSetMarkChain: "KUBE-MARK-MASQ" }, /nftables backend was requested but the configuration contains iptables-specific options \[externalSetMarkChain\]/],
  ];
  for (const [what, conf, msg] of cases) {
    const r = add(conf);
    t.equal(r.status, 1, `${what}: fails`);
    t.equal(r.json.code, 7, `${what}: code 7`);
    t.match(r.json.msg, msg, `${what}: ${r.json.msg}`);
  }
  t.equal(lab.ruleset(), "", "no table was made");
  const none = add({});
  t.equal(none.status, 0, "no portMappings: success");
  t.same(none.json, prevResult, "prevResult passes through");
  t.equal(lab.ruleset(), "", "and still nothing is made");
});
