import t, { type Test } from "tap";
import { CniError } from "../../lib/cni/errors.ts";
import { formatIp } from "../../lib/ip/address.ts";
import { renderExprs } from "../../lib/nft/index.ts";
import { conditionsSyntax, parseConditions } from "../../plugins/portmap/conditions.ts";
import { DEFAULT_DATA_DIR, parsePortmapConfig } from "../../plugins/portmap/config.ts";

const base = { cniVersion: "1.0.0", name: "net1", type: "portmap" };
const parse = (extra: Record<string, unknown>) => parsePortmapConfig({ ...base, ...extra });
const mappings = (portMappings: unknown) => parse({ runtimeConfig: { portMappings } }).mappings;

function refused(t: Test, fn: () => unknown, msg: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (e) {
    t.ok(e instanceof CniError && e.code === 7, `${what}: code 7`);
    t.match((e as Error).message, msg, what);
  }
}

t.test("defaults", async (t) => {
  const cfg = parse({});
  t.same(cfg, { network: "net1", mappings: [], snat: true, masqAll: false, conditions: {}, dataDir: DEFAULT_DATA_DIR });
});

t.test("portMappings: ports, protocol (any case, tcp when absent), hostIP", async (t) => {
  const got = mappings([
    { hostPort: 8080, containerPort: 80, protocol: "tcp" },
    { hostPort: 53, containerPort: 53, protocol: "UDP", hostIP: "10.0.0.1" },
    { hostPort: 9, containerPort: 9 },
    { hostPort: 38412, containerPort: 38412, protocol: "sctp", hostIP: "::" },
    { hostPort: 1, containerPort: 65535, protocol: "", hostIP: "" },
  ]);
  t.same(
    got.map((m) => ({ ...m, hostIP: m.hostIP && formatIp(m.hostIP) })),
    [
      { hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: undefined },
      { hostPort: 53, containerPort: 53, protocol: "udp", hostIP: "10.0.0.1" },
      { hostPort: 9, containerPort: 9, protocol: "tcp", hostIP: undefined },
      { hostPort: 38412, containerPort: 38412, protocol: "sctp", hostIP: "::" },
      { hostPort: 1, containerPort: 65535, protocol: "tcp", hostIP: undefined },
    ],
  );
  t.same(mappings(null), [], "null is none");
});

t.test("bad portMappings", async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ hostPort: 8080 }, /invalid container port number in "runtimeConfig.portMappings\[0\]": undefined/],
    [{ hostPort: 0, containerPort: 80 }, /invalid host port number/],
    [{ hostPort: 65536, containerPort: 80 }, /invalid host port number/],
    [{ hostPort: "80", containerPort: 80 }, /invalid host port number/],
    [{ hostPort: 80.5, containerPort: 80 }, /invalid host port number/],
    [{ hostPort: 80, containerPort: 80, protocol: "icmp" }, /invalid "protocol"/],
    [{ hostPort: 80, containerPort: 80, protocol: 6 }, /invalid "protocol"/],
    [{ hostPort: 80, containerPort: 80, hostIP: "localhost" }, /"localhost" is not an IP address/],
    [{ hostPort: 80, containerPort: 80, hostIP: 1 }, /invalid "hostIP": must be a string/],
    ["8080:80", /must be an object/],
  ];
  for (const [entry, msg] of cases) refused(t, () => mappings([entry]), msg, JSON.stringify(entry));
  refused(t, () => mappings({ hostPort: 1 }), /must be a list/, "not a list");
});

t.test("reference keys: backend, markMasqBit, externalSetMarkChain, snat, masqAll", async (t) => {
  t.equal(parse({ snat: false }).snat, false);
  t.equal(parse({ masqAll: true }).masqAll, true);
  t.equal(parse({ backend: "iptables", markMasqBit: 13 }).snat, true, "accepted (no effect)");
  t.equal(parse({ backend: "nftables" }).snat, true);
  t.equal(parse({ externalSetMarkChain: "KUBE-MARK-MASQ" }).snat, true, "accepted without a backend");
  t.equal(parse({ markMasqBit: 0 }).snat, true, "0 is a valid bit");
  refused(t, () => parse({ backend: "ebpf" }), /unrecognized backend "ebpf"/, "backend");
  refused(t, () => parse({ markMasqBit: 13, externalSetMarkChain: "X" }), /cannot specify "externalSetMarkChain" and "markMasqBit"/, "both");
  refused(t, () => parse({ markMasqBit: -1 }), /markMasqBit/, "markMasqBit -1");
  refused(t, () => parse({ snat: "yes" }), /invalid "snat"/, "snat type");
  refused(t, () => parse({ dataDir: "run/pm" }), /invalid "dataDir": "run\/pm" is not an absolute path/, "relative dataDir");
  refused(t, () => parse({ backend: "nftables", externalSetMarkChain: "X" }), /nftables backend was requested but the configuration contains iptables-specific options \[externalSetMarkChain\]/, "nft + iptables key");
  refused(t, () => parse({ backend: "iptables", conditionsV4: ["ip saddr 10.0.0.0/8"] }), /iptables backend was requested but the configuration contains nftables-specific options \[conditionsV4\]/, "iptables + nft conditions");
  refused(t, () => parse({ backend: "nftables", conditionsV6: ["-s", "fd00::/8"] }), /\[conditionsV6\]/, "nft + iptables conditions");
  refused(t, () => parse({ conditionsV4: "ip saddr 10.0.0.0/8" }), /invalid "conditionsV4": must be a list of strings/, "conditions type");
});

t.test("conditions: nft and iptables syntax, as nft expressions in a chain of their own", async (t) => {
  t.equal(conditionsSyntax(undefined), undefined);
  t.equal(conditionsSyntax([""]), undefined);
  t.equal(conditionsSyntax(["-s", "1.2.3.4"]), "iptables");
  t.equal(conditionsSyntax(["!", "-s", "1.2.3.4"]), "iptables");
  t.equal(conditionsSyntax(["ip saddr 1.2.3.4"]), "nftables");
  const text = (list: string[], family: 4 | 6 = 4) => renderExprs("inet", parseConditions(list, family, "k")!.exprs);
  t.equal(text(["ip saddr 10.0.0.0/8", 'iifname "eth0"']), 'meta nfproto ipv4 ip saddr 10.0.0.0/8 iifname "eth0"');
  t.equal(text(["ip daddr != 10.1.2.3 meta oifname != br0"]), 'meta nfproto ipv4 ip daddr != 10.1.2.3 oifname != "br0"');
  t.equal(text(["ip6 saddr fd00::/8"], 6), "meta nfproto ipv6 ip6 saddr fd00::/8");
  t.equal(text(["!", "-s", "10.0.0.0/8", "-i", "eth+"]), 'meta nfproto ipv4 ip saddr != 10.0.0.0/8 iifname "eth*"');
  t.equal(text(["--destination", "10.9.0.1", "!", "--out-interface", "br0"]), 'meta nfproto ipv4 ip daddr 10.9.0.1 oifname != "br0"');
  t.equal(text(["-d fd00::1"], 6), "meta nfproto ipv6 ip6 daddr fd00::1");
  const a = parseConditions(["ip saddr 10.0.0.0/8"], 4, "k")!;
  t.match(a.chain, /^cond4-[0-9a-f]{8}$/);
  t.equal(parseConditions(["ip saddr  10.0.0.0/8"], 4, "k")!.chain, a.chain, "the chain name depends on the conditions, not their spacing");
  t.equal(parseConditions(["-s", "10.0.0.0/8"], 4, "k")!.chain, a.chain, "nor their syntax");
  t.not(parseConditions(["ip saddr 10.0.0.0/9"], 4, "k")!.chain, a.chain);
  t.not(parseConditions(["ip6 saddr fd00::/8"], 6, "k")!.chain.slice(6), parseConditions(["ip saddr 10.0.0.0/8"], 4, "k")!.chain.slice(6));

  refused(t, () => parseConditions(["tcp dport 22"], 4, "conditionsV4"), /invalid "conditionsV4": unsupported condition at "tcp dport 22"/, "tcp dport");
  refused(t, () => parseConditions(["ip6 saddr fd00::/8"], 4, "conditionsV4"), /"ip6" matches do not belong in conditionsV4/, "ip6 in V4");
  refused(t, () => parseConditions(["ip saddr"], 4, "conditionsV4"), /a value is missing/, "no value");
  refused(t, () => parseConditions(["ip saddr 10.0.0.0/0"], 4, "conditionsV4"), /a \/0 prefix matches every address/, "/0");
  refused(t, () => parseConditions(["ip saddr fd00::1"], 4, "conditionsV4"), /not an IPv4 address/, "v6 address in v4");
  refused(t, () => parseConditions(["ip saddr 10.0.0.300"], 4, "conditionsV4"), /invalid address or prefix/, "bad address");
  refused(t, () => parseConditions(["-p", "tcp"], 4, "conditionsV4"), /unsupported condition at "-p tcp"/, "iptables -p");
  refused(t, () => parseConditions(["-m", "comment"], 4, "conditionsV4"), /unsupported condition at "-m comment"/, "iptables -m");
  refused(t, () => parseConditions(["iifname ba/d"], 4, "conditionsV4"), /invalid interface name/, "bad ifname");
});

t.test("port mappings with Go struct field names (containerd's go-cni has no JSON tags)", async (t) => {
  const got = mappings([{ HostPort: 8080, ContainerPort: 80, Protocol: "UDP", HostIP: "10.0.0.1" }]);
  t.match(got, [{ hostPort: 8080, containerPort: 80, protocol: "udp" }]);
  t.equal(got[0]?.hostIP && formatIp(got[0].hostIP), "10.0.0.1");
});
