// macvlan through the built executable: a throw-away "host" netns holds a veth pair whose end
// tmv-m0 is the master; containers are further netns. Traffic, modes, MACs, MTU, chaining.
import { join } from "node:path";
import t, { type Test } from "tap";
import { macvlanLab } from "../helpers/macvlan-lab.ts";
import { inNs, ipJson, isRoot, pings, sh } from "../helpers/netns.ts";

const lab = (t: Test) => macvlanLab(t, { ranges: [[{ subnet: "10.77.0.0/24" }], [{ subnet: "fd00:77::/64" }]] }, { peerUp: true });

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

interface LinkJson {
  ifname: string;
  address: string;
  mtu: number;
  operstate: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: { mode?: string; bcqueuelen?: number } };
}

interface AddrJson {
  ifname: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number; tentative?: boolean; nodad?: boolean; scope: string }>;
}


const link = (ns: string, name = "eth0"): LinkJson | undefined => ipJson<LinkJson[]>(ns, ["-d", "link", "show", "dev", name])[0];
const links = (ns: string): string[] => ipJson<LinkJson[]>(ns, ["link", "show"]).map((l) => l.ifname);
const addrs = (ns: string) => ipJson<AddrJson[]>(ns, ["addr", "show", "dev", "eth0"])[0]?.addr_info ?? [];

t.test("bridge mode: two containers on one master talk over IPv4 and IPv6, announced, without DAD", async (t) => {
  const { network, add, run, leases, container } = lab(t);
  const c1 = container();
  const c2 = container();
  const r2 = add(c2, network());
  // With arp_accept, c2 learns c1 from the gratuitous ARP that c1's link sends when it comes up.
  inNs(c2.name, "sysctl", ["-qw", "net.ipv4.conf.all.arp_accept=1"]);
  const started = Date.now();
  const r1 = add(c1, network());
  t.ok(Date.now() - started < 3000, "ADD does not wait for IPv6 DAD");

  t.match(r1, {
    cniVersion: "1.1.0",
    interfaces: [{ name: "eth0", mac: /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, sandbox: c1.path }],
    ips: [
      { address: "10.77.0.3/24", gateway: "10.77.0.1", interface: 0 },
      { address: "fd00:77::3/64", gateway: "fd00:77::1", interface: 0 },
    ],
  });
  const eth0 = link(c1.name);
  t.equal(eth0?.linkinfo?.info_kind, "macvlan");
  t.equal(eth0?.linkinfo?.info_data?.mode, "bridge");
  t.equal(eth0?.address, r1.interfaces[0].mac, "result MAC is the link's");
  t.not(eth0?.link_netnsid, undefined, "its master is in another netns");
  t.equal(eth0?.operstate, "UP");
  t.same(links(c1.name).sort(), ["eth0", "lo"], "the temporary name is gone");
  const v6 = addrs(c1.name).filter((a) => a.family === "inet6");
  t.ok(v6.length >= 1 && v6.every((a) => !a.tentative), "no IPv6 address is tentative (global nor link-local)");
  t.equal(inNs(c1.name, "sysctl", ["-n", "net.ipv4.conf.eth0.arp_notify"]).trim(), "1");
  t.equal(inNs(c1.name, "sysctl", ["-n", "net.ipv6.conf.eth0.ndisc_notify"]).trim(), "1");

  let learned = false;
  for (let i = 0; i < 20 && !learned; i++) {
    learned = inNs(c2.name, "ip", ["neigh", "show", "10.77.0.3"]).includes(r1.interfaces[0].mac);
    if (!learned) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(learned, "c2 learned c1's MAC from its gratuitous ARP, before any traffic");

  t.ok(pings(c1.name, "10.77.0.2"), "c1 → c2 over IPv4");
  t.ok(pings(c2.name, "10.77.0.3"), "c2 → c1 over IPv4");
  t.ok(pings(c1.name, "fd00:77::2"), "c1 → c2 over IPv6");
  t.equal(r2.ips[0].address, "10.77.0.2/24");
  t.same(leases(), ["10.77.0.2", "10.77.0.3", "fd00:77::2", "fd00:77::3"]);

  const del = run("DEL", c1, network());
  t.equal(del.status, 0, del.stdout);
  t.same(links(c1.name), ["lo"], "DEL removed the macvlan");
  t.same(leases(), ["10.77.0.2", "fd00:77::2"], "DEL released c1's leases only");
  t.equal(run("DEL", c1, network()).status, 0, "a second DEL succeeds");
  sh("ip", ["netns", "del", c2.name]);
  t.equal(run("DEL", c2, network()).status, 0, "DEL with the netns gone succeeds");
  t.same(leases(), [], "and still releases the lease");
});

t.test("private mode isolates containers on the same master", async (t) => {
  const { network, add, container } = lab(t);
  const c1 = container();
  const c2 = container();
  add(c1, network({ mode: "private" }));
  add(c2, network({ mode: "private" }));
  t.equal(link(c1.name)?.linkinfo?.info_data?.mode, "private");
  t.notOk(pings(c1.name, "10.77.0.3"), "c1 cannot reach c2");
  t.notOk(pings(c2.name, "10.77.0.2"), "c2 cannot reach c1");
});

t.test("vepa mode sends traffic out through the master: containers meet only via a hairpin bridge", async (t) => {
  const { host, network, add, container } = lab(t);
  const c1 = container();
  const c2 = container();
  add(c1, network({ mode: "vepa" }));
  add(c2, network({ mode: "vepa" }));
  t.equal(link(c1.name)?.linkinfo?.info_data?.mode, "vepa");
  inNs(host.name, "ip", ["link", "add", "tmv-br", "type", "bridge"]);
  inNs(host.name, "ip", ["link", "set", "tmv-br", "up"]);
  inNs(host.name, "ip", ["link", "set", "tmv-p0", "master", "tmv-br"]);
  t.notOk(pings(c1.name, "10.77.0.3"), "no hairpin on the switch port: no path");
  inNs(host.name, "ip", ["link", "set", "tmv-p0", "type", "bridge_slave", "hairpin", "on"]);
  t.ok(pings(c1.name, "10.77.0.3"), "with hairpin the external switch reflects the frames");
});

t.test("MAC: runtimeConfig wins over args, CNI_ARGS and the config key", async (t) => {
  const { network, add, container } = lab(t);
  const c1 = container();
  const r1 = add(c1, network({ mac: "02:00:00:00:00:01", runtimeConfig: { mac: "02:00:00:00:00:04" }, args: { cni: { mac: "02:00:00:00:00:03" } } }), {
    args: "MAC=02:00:00:00:00:02",
  });
  t.equal(link(c1.name)?.address, "02:00:00:00:00:04");
  t.equal(r1.interfaces[0].mac, "02:00:00:00:00:04");
  const c2 = container();
  add(c2, network({ mac: "02:00:00:00:00:01" }), { args: "IgnoreUnknown=1;K8S_POD_NAME=x;MAC=02:00:00:00:00:02" });
  t.equal(link(c2.name)?.address, "02:00:00:00:00:02", "CNI_ARGS MAC over the config key");
  const c3 = container();
  add(c3, network({ mac: "02:00:00:00:00:01" }));
  t.equal(link(c3.name)?.address, "02:00:00:00:00:01", "the config key");
});

t.test("without ipam: L2 only, link up, no addresses", async (t) => {
  const { network, add, container } = lab(t);
  const c1 = container();
  const result = add(c1, network({ ipam: {}, dns: { nameservers: ["10.77.0.53"] } }));
  t.same(Object.keys(result).sort(), ["cniVersion", "dns", "interfaces"]);
  t.same(result.dns, { nameservers: ["10.77.0.53"] });
  t.equal(link(c1.name)?.operstate, "UP");
  t.same(
    addrs(c1.name).filter((a) => a.scope !== "link"),
    [],
    "no addresses but link-local",
  );
});

t.test("mtu and bcqueuelen reach the link", async (t) => {
  const { host, network, add, container } = lab(t);
  inNs(host.name, "ip", ["link", "set", "tmv-m0", "mtu", "9000"]);
  const c1 = container();
  const result = add(c1, network({ mtu: 8000, bcqueuelen: 200 }));
  const l = link(c1.name);
  t.equal(l?.mtu, 8000);
  t.equal(l?.linkinfo?.info_data?.bcqueuelen, 200);
  t.equal(result.interfaces[0].mtu, 8000, "1.1.0 results report the MTU");
});

t.test("master defaults to the link of the host's default route", async (t) => {
  const { host, network, add, container } = lab(t);
  inNs(host.name, "ip", ["link", "add", "tmv-m1", "type", "veth", "peer", "name", "tmv-p1"]);
  inNs(host.name, "ip", ["link", "set", "tmv-m1", "up"]);
  inNs(host.name, "ip", ["addr", "add", "10.76.0.1/24", "dev", "tmv-m1"]);
  inNs(host.name, "ip", ["route", "add", "default", "via", "10.76.0.254", "dev", "tmv-m1"]);
  const c1 = container();
  const config: Record<string, unknown> = network();
  delete config.master;
  add(c1, config);
  const m1 = ipJson<Array<{ ifindex: number }>>(host.name, ["link", "show", "tmv-m1"])[0];
  const eth0 = ipJson<Array<{ link_index?: number }>>(c1.name, ["link", "show", "eth0"])[0];
  t.equal(eth0?.link_index, m1?.ifindex, "eth0 sits on tmv-m1");
});

t.test("linkInContainer: the master is a link of the container", async (t) => {
  const { network, add, run, container } = lab(t);
  const c1 = container();
  inNs(c1.name, "ip", ["link", "add", "tmv-cm0", "type", "veth", "peer", "name", "tmv-cp0"]);
  inNs(c1.name, "ip", ["link", "set", "tmv-cm0", "up"]);
  const config = network({ master: "tmv-cm0", linkInContainer: true });
  add(c1, config);
  const eth0 = link(c1.name);
  t.equal(eth0?.linkinfo?.info_kind, "macvlan");
  t.equal(eth0?.link_netnsid, undefined, "its master is in the same netns");
  t.equal(run("DEL", c1, config).status, 0);
  t.same(links(c1.name).sort(), ["lo", "tmv-cm0", "tmv-cp0"]);
});

t.test("chained: prevResult's interfaces, IPs and routes are kept, ours appended", async (t) => {
  const { network, add, container } = lab(t);
  const c1 = container();
  const prevResult = {
    cniVersion: "1.1.0",
    interfaces: [{ name: "tap0", sandbox: c1.path }],
    ips: [{ address: "10.70.0.5/24", interface: 0 }],
    routes: [{ dst: "10.71.0.0/16" }],
  };
  const result = add(c1, network({ prevResult }));
  t.same(
    result.interfaces.map((i: { name: string }) => i.name),
    ["tap0", "eth0"],
  );
  t.same(result.ips[0], prevResult.ips[0]);
  t.match(result.ips.slice(1), [{ address: "10.77.0.2/24", interface: 1 }, { address: "fd00:77::2/64", interface: 1 }]);
  t.same(result.routes, prevResult.routes, "prevResult routes kept; they are not applied to our link");
  t.notOk(inNs(c1.name, "ip", ["route"]).includes("10.71.0.0/16"));
});

t.test("dns: IPAM's passes through, the config's wins", async (t) => {
  const { network, add, container } = lab(t);
  const resolv = join(t.testdir({ "resolv.conf": "nameserver 10.77.0.53\nsearch example.test\n" }), "resolv.conf");
  const ipam = { ...network().ipam, resolvConf: resolv };
  const r1 = add(container(), network({ ipam }));
  t.same(r1.dns, { nameservers: ["10.77.0.53"], search: ["example.test"] }, "IPAM dns");
  const r2 = add(container(), network({ ipam, dns: { nameservers: ["10.77.0.54"] } }));
  t.same(r2.dns, { nameservers: ["10.77.0.54"] }, "config dns");
});
