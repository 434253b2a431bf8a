import t from "tap";
import { CniError } from "../../lib/cni/errors.ts";
import type { Result } from "../../lib/cni/result.ts";
import { formatIp, formatPrefix } from "../../lib/ip/address.ts";
import { parsePortmapConfig } from "../../plugins/portmap/config.ts";
import { containerIps, describeKey, planElements, udpFlows } from "../../plugins/portmap/plan.ts";

const config = (portMappings: unknown[], extra: Record<string, unknown> = {}) =>
  parsePortmapConfig({ cniVersion: "1.0.0", name: "n", type: "portmap", runtimeConfig: { portMappings }, ...extra });

const dual: Result = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "cni0" }, { name: "veth1" }, { name: "eth0", sandbox: "/run/netns/x" }],
  ips: [
    { address: "10.88.0.5/16", interface: 2, gateway: "10.88.0.1" },
    { address: "fd00:88::5/64", interface: 2 },
  ],
};

t.test("container addresses: the reference's rule", async (t) => {
  const ips = containerIps(dual, "eth0");
  t.same([formatPrefix(ips[4]!), formatPrefix(ips[6]!)], ["10.88.0.5/16", "fd00:88::5/64"]);
  const mixed: Result = {
    cniVersion: "1.1.0",
    interfaces: [{ name: "cni0" }, { name: "eth0", sandbox: "/run/netns/x" }, { name: "eth1", sandbox: "/run/netns/x" }],
    ips: [
      { address: "10.1.0.1/24", interface: 0 }, // the bridge: no sandbox
      { address: "10.2.0.2/24", interface: 2 }, // another interface
      { address: "10.3.0.3/24", interface: 1 },
      { address: "10.4.0.4/24", interface: 1 }, // the first one counts
      { address: "fd00::9/64" }, // no index: accepted
    ],
  };
  const m = containerIps(mixed, "eth0");
  t.same([formatPrefix(m[4]!), formatPrefix(m[6]!)], ["10.3.0.3/24", "fd00::9/64"]);
  t.same(containerIps({ cniVersion: "1.1.0" }, "eth0"), {}, "no ips");
});

t.test("elements: a DNAT element per mapping and family, hairpin pairs", async (t) => {
  const cfg = config([
    { hostPort: 8080, containerPort: 80, protocol: "tcp" },
    { hostPort: 53, containerPort: 5353, protocol: "udp", hostIP: "192.168.1.10" },
    { hostPort: 443, containerPort: 443, hostIP: "fd00::1" },
    { hostPort: 9000, containerPort: 9000, hostIP: "0.0.0.0" },
  ]);
  t.same(planElements(cfg, containerIps(dual, "eth0")), [
    { set: "any4", key: ["tcp", 8080], value: ["10.88.0.5", 80] },
    { set: "hostip4", key: ["192.168.1.10", "udp", 53], value: ["10.88.0.5", 5353] },
    { set: "any4", key: ["tcp", 9000], value: ["10.88.0.5", 9000] },
    { set: "hairpin4", key: ["10.88.0.0/16", "10.88.0.5"] },
    { set: "hairpin4", key: ["127.0.0.0/8", "10.88.0.5"] },
    { set: "any6", key: ["tcp", 8080], value: ["fd00:88::5", 80] },
    { set: "hostip6", key: ["fd00::1", "tcp", 443], value: ["fd00:88::5", 443] },
    { set: "hairpin6", key: ["fd00:88::/64", "fd00:88::5"] },
  ]);
});

t.test("snat: false has no hairpin pairs; masqAll pairs any source", async (t) => {
  const ips = containerIps(dual, "eth0");
  const m = [{ hostPort: 8080, containerPort: 80 }];
  t.same(planElements(config(m, { snat: false }), ips).map((e) => e.set), ["any4", "any6"]);
  t.same(
    planElements(config(m, { masqAll: true }), ips).filter((e) => e.set.startsWith("hairpin")),
    [
      { set: "hairpin4", key: ["0.0.0.0/0", "10.88.0.5"] },
      { set: "hairpin6", key: ["::/0", "fd00:88::5"] },
    ],
  );
  t.same(planElements(config([{ hostPort: 1, containerPort: 1, hostIP: "fd00::1" }]), { 4: ips[4] }), [], "no mapping for the family: no hairpin either");
});

t.test("conditions add a guard element per mapping", async (t) => {
  const cfg = config([{ hostPort: 8080, containerPort: 80 }], { conditionsV4: ["ip saddr 10.0.0.0/8"] });
  const els = planElements(cfg, { 4: containerIps(dual, "eth0")[4] });
  t.same(els.slice(0, 2), [
    { set: "any4", key: ["tcp", 8080], value: ["10.88.0.5", 80] },
    { set: "guard-any4", key: ["tcp", 8080], value: { jump: cfg.conditions[4]!.chain } },
  ]);
});

t.test("the same host port twice in a request is refused", async (t) => {
  const ips = containerIps(dual, "eth0");
  t.throws(() => planElements(config([{ hostPort: 80, containerPort: 80 }, { hostPort: 80, containerPort: 81 }]), ips), new CniError(7, 'duplicate port mapping: 80/tcp appears twice in "runtimeConfig.portMappings"'));
  t.throws(() => planElements(config([{ hostPort: 80, containerPort: 80, hostIP: "fd00::1" }, { hostPort: 80, containerPort: 81, hostIP: "fd00::1" }]), ips), { message: /\[fd00::1\]:80\/tcp/ });
  t.equal(planElements(config([{ hostPort: 80, containerPort: 80 }, { hostPort: 80, containerPort: 80, protocol: "udp" }, { hostPort: 80, containerPort: 80, hostIP: "10.0.0.1" }]), ips).length, 8, "other protocol or address: fine (5 IPv4 elements with the hairpin pairs, 3 IPv6)");
});

t.test("describeKey and the UDP flows to flush", async (t) => {
  t.equal(describeKey(4, ["tcp", 80]), "80/tcp");
  t.equal(describeKey(6, ["tcp", 80]), "80/tcp (IPv6)");
  t.equal(describeKey(4, ["10.0.0.1", "udp", 53]), "10.0.0.1:53/udp");
  t.equal(describeKey(6, ["fd00::1", "udp", 53]), "[fd00::1]:53/udp");
  const els = planElements(
    config([
      { hostPort: 53, containerPort: 53, protocol: "udp" },
      { hostPort: 54, containerPort: 54, protocol: "udp", hostIP: "10.0.0.1" },
      { hostPort: 80, containerPort: 80 },
    ]),
    containerIps(dual, "eth0"),
  );
  t.same(
    udpFlows(els).map((f) => ({ ...f, daddr: f.daddr && formatIp(f.daddr) })),
    [
      { family: 4, protocol: 17, dport: 53, daddr: undefined },
      { family: 4, protocol: 17, dport: 54, daddr: "10.0.0.1" },
      { family: 6, protocol: 17, dport: 53, daddr: undefined },
    ],
  );
});
