// `tscni network …` through the built binary, inside a throw-away host netns, against the real
// plugins in dist/bin: what it says matches what the kernel has, and traffic flows or not.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { inNs, ipJson, isRoot, pings } from "../helpers/netns.ts";
import { DIST_BIN } from "../helpers/plugin-exec.ts";
import { cliLab } from "../helpers/tscni.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

interface AddrJson {
  ifname: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string }>;
}

/** The global addresses of `ifname` in a netns, as `ip -j addr` reports them. */
const addressesIn = (ns: string, ifname = "eth0"): string[] =>
  ipJson<AddrJson[]>(ns, ["addr", "show", "dev", ifname])
    .flatMap((l) => l.addr_info)
    .filter((a) => a.scope === "global")
    .map((a) => `${a.local}/${a.prefixlen}`);

const linkExists = (ns: string, name: string) => ipJson<Array<{ ifname: string }>>(ns, ["link", "show"]).some((l) => l.ifname === name);

function network(t: Test) {
  const lab = cliLab(t, "tcli");
  const inspect = (name: string) => JSON.parse(lab.ok(["network", "inspect", name]))[0];
  return { ...lab, inspect };
}

t.test("bridge network: create → connect → traffic → inspect matches the kernel → disconnect → rm", async (t) => {
  const lab = network(t);
  const created = lab.ok(["network", "create", "web", "--subnet", "10.61.0.0/24"]);
  t.match(created, `created network "web" (bridge tscni0, 10.61.0.0/24 gateway 10.61.0.1): ${join(lab.confDir, "web.conflist")}`);
  const c1 = lab.container();
  const c2 = lab.container();

  const a = JSON.parse(lab.ok(["network", "connect", "web", c1.name, "--json"]));
  t.match(a, { netns: c1.path, ifName: "eth0", ips: ["10.61.0.2/24"] });
  t.equal(lab.ok(["network", "connect", "web", c2.path, "--ip", "10.61.0.77"]), `connected ${c2.path} to "web" as eth0: 10.61.0.77/24\n`);
  t.strictSame(addressesIn(c1.name), ["10.61.0.2/24"]);
  t.strictSame(addressesIn(c2.name), ["10.61.0.77/24"]);
  t.ok(pings(c1.name, "10.61.0.1"), "the container reaches the gateway on the bridge");
  t.ok(pings(c1.name, "10.61.0.77"), "and the other container");
  t.match(ipJson(c1.name, ["route", "show", "default"]), [{ dst: "default", gateway: "10.61.0.1", dev: "eth0" }]);
  t.match(ipJson(lab.host.name, ["addr", "show", "dev", "tscni0"]), [{ addr_info: [{ local: "10.61.0.1", prefixlen: 24 }] }]);

  const details = lab.inspect("web");
  t.equal(details.attachments.length, 2);
  for (const att of details.attachments) {
    const ns = att.netns === c1.path ? c1.name : c2.name;
    t.strictSame(att.ips, addressesIn(ns), `inspect shows the addresses ${ns} has`);
    t.equal(att.mac, ipJson<Array<{ address: string }>>(ns, ["link", "show", "eth0"])[0]!.address);
    t.equal(att.netnsPresent, true);
  }
  t.match(JSON.parse(lab.ok(["network", "ls", "--format", "json"])), [{ name: "web", driver: "bridge", subnets: ["10.61.0.0/24"], attachments: 2 }]);
  t.match(lab.ok(["network", "ls"]), /^NAME\s+DRIVER\s+SUBNETS\s+ATTACHED\s+PLUGINS\nweb\s+bridge\s+10\.61\.0\.0\/24\s+2\s/);

  t.equal(lab.ok(["network", "disconnect", "web", c1.name]), `disconnected ${c1.path} (eth0) from "web"\n`);
  t.notOk(linkExists(c1.name, "eth0"), "disconnect removed the interface");
  t.strictSame(lab.inspect("web").attachments.map((x: { netns: string }) => x.netns), [c2.path]);

  const refused = lab.run(["network", "rm", "web"]);
  t.equal(refused.status, 1);
  t.match(refused.stderr, `network "web" has 1 attachment(s): ${c2.path} (eth0); disconnect them or use --force`);
  t.ok(linkExists(c2.name, "eth0"));
  t.match(lab.ok(["network", "rm", "web", "--force"]), `disconnected ${c2.path} (eth0)\ndeleted bridge tscni0\nremoved network "web"`);
  t.notOk(linkExists(c2.name, "eth0"));
  t.notOk(linkExists(lab.host.name, "tscni0"), "the bridge went with the network");
  t.notOk(existsSync(join(lab.confDir, "web.conflist")));
  t.strictSame(readdirSync(join(lab.cacheDir, "results")), []);
  t.strictSame(readdirSync(join(lab.cacheDir, "networks", "web")).filter((f) => /^\d/.test(f)), [], "no lease left");
});

t.test("dual stack, and a second network on the same container is eth1", async (t) => {
  const lab = network(t);
  lab.ok(["network", "create", "dual", "--subnet", "10.62.0.0/24", "--subnet", "fd00:62::/64"]);
  lab.ok(["network", "create", "back", "--subnet", "10.63.0.0/24", "--internal"]);
  const c = lab.container();
  t.match(lab.ok(["network", "connect", "dual", c.name]), /as eth0: 10\.62\.0\.2\/24, fd00:62::2\/64/);
  t.match(lab.ok(["network", "connect", "back", c.name]), /as eth1: 10\.63\.0\.2\/24/);
  t.strictSame(lab.inspect("dual").attachments[0].ips, addressesIn(c.name, "eth0"));
  t.strictSame(lab.inspect("back").attachments[0].ips, addressesIn(c.name, "eth1"));
  t.ok(pings(c.name, "fd00:62::1"), "IPv6 gateway reachable");
  t.ok(pings(c.name, "10.63.0.1"), "the internal network's gateway is reachable");
  const routes = ipJson<Array<{ dst: string; dev: string }>>(c.name, ["route", "show", "default"]);
  t.strictSame(routes.map((r) => r.dev), ["eth0"], "--internal adds no default route");
  const back = JSON.parse(readFileSync(join(lab.confDir, "back.conflist"), "utf8"));
  t.match(back.plugins[0], { ipMasq: false, ipam: { routes: [] } });
  lab.ok(["network", "rm", "-f", "dual", "back"]);
  t.notOk(linkExists(c.name, "eth0") || linkExists(c.name, "eth1"));
});

t.test("--isolation: isolated networks cannot reach each other, plain ones can", async (t) => {
  const lab = network(t);
  const [c1, c2] = [lab.container(), lab.container()];
  lab.ok(["network", "create", "a", "--subnet", "10.64.1.0/24"]);
  lab.ok(["network", "create", "b", "--subnet", "10.64.2.0/24"]);
  lab.ok(["network", "connect", "a", c1.name]);
  lab.ok(["network", "connect", "b", c2.name]);
  t.ok(pings(c1.name, "10.64.2.2"), "routed between two plain networks");
  lab.ok(["network", "rm", "--force", "a", "b"]);

  lab.ok(["network", "create", "a", "--subnet", "10.64.1.0/24", "--isolation"]);
  lab.ok(["network", "create", "b", "--subnet", "10.64.2.0/24", "--isolation"]);
  t.match(JSON.parse(readFileSync(join(lab.confDir, "a.conflist"), "utf8")).plugins[0], { isolation: true });
  lab.ok(["network", "connect", "a", c1.name]);
  lab.ok(["network", "connect", "b", c2.name]);
  t.notOk(pings(c1.name, "10.64.2.2"), "isolated from the other network");
  t.ok(pings(c1.name, "10.64.1.1"), "its own gateway still answers");
  lab.ok(["network", "rm", "--force", "a", "b"]);
});

t.test("macvlan network on a parent link of the host", async (t) => {
  const lab = network(t);
  const outside = lab.container();
  // The parent is one end of a veth pair; the other end stands for the LAN (another netns with a router address).
  inNs(lab.host.name, "ip", ["link", "add", "tcli-par", "type", "veth", "peer", "name", "tcli-lan"]);
  inNs(lab.host.name, "ip", ["link", "set", "tcli-lan", "netns", outside.name]);
  inNs(lab.host.name, "ip", ["link", "set", "tcli-par", "up"]);
  inNs(outside.name, "ip", ["addr", "add", "10.65.0.1/24", "dev", "tcli-lan"]);
  inNs(outside.name, "ip", ["link", "set", "tcli-lan", "up"]);
  t.match(lab.ok(["network", "create", "lan", "-d", "macvlan", "-o", "parent=tcli-par", "--subnet", "10.65.0.0/24"]), '(macvlan tcli-par, 10.65.0.0/24 gateway 10.65.0.1)');
  const c = lab.container();
  t.match(lab.ok(["network", "connect", "lan", c.name]), "as eth0: 10.65.0.2/24");
  t.match(ipJson(c.name, ["-d", "link", "show", "eth0"]), [{ linkinfo: { info_kind: "macvlan" } }]);
  t.ok(pings(c.name, "10.65.0.1"), "reaches the LAN through the parent");
  t.strictSame(lab.inspect("lan").attachments[0].ips, addressesIn(c.name));
  lab.ok(["network", "disconnect", "lan", c.name]);
  t.notOk(linkExists(c.name, "eth0"));
  lab.ok(["network", "rm", "lan"]);
});

t.test("refusals: clear messages, exit 1, nothing changed", async (t) => {
  const lab = network(t);
  lab.ok(["network", "create", "web", "--subnet", "10.66.0.0/24"]);
  const c = lab.container();
  const cases: Array<[string[], string]> = [
    [["network", "create", "web"], `network "web" already exists (${join(lab.confDir, "web.conflist")})`],
    [["network", "create", "w2", "--subnet", "10.66.0.128/25"], 'subnet 10.66.0.128/25 overlaps 10.66.0.0/24 of network "web"'],
    [["network", "create", "w2", "--subnet", "10.66.1.7/24"], "host bits are set (did you mean 10.66.1.0/24?)"],
    [["network", "create", "w2", "--subnet", "10.66.1.0/24", "--gateway", "10.67.0.1"], "--gateway 10.67.0.1 is in none of the subnets (10.66.1.0/24)"],
    [["network", "connect", "nope", c.name], `no net configuration with name "nope" in ${lab.confDir}`],
    [["network", "connect", "web", "tcli-no-such-ns"], 'network namespace "tcli-no-such-ns" not found'],
    [["network", "connect", "web", c.name, "--ip", "10.99.0.5"], '--ip 10.99.0.5 is in none of the subnets of network "web" (10.66.0.0/24)'],
    [["network", "disconnect", "web", c.name], `${c.path} is not connected to network "web"`],
    [["network", "inspect", "nope"], 'no net configuration with name "nope"'],
    [["network", "rm", "nope"], 'no net configuration with name "nope"'],
  ];
  for (const [argv, msg] of cases) {
    const r = lab.run(argv);
    t.equal(r.status, 1, argv.join(" "));
    t.match(r.stderr, /^tscni: /, argv.join(" "));
    t.match(r.stderr, msg, argv.join(" "));
  }
  t.strictSame(readdirSync(lab.confDir), ["web.conflist"]);
  t.notOk(linkExists(c.name, "eth0"));
  const usage = lab.run(["network", "frob"]);
  t.equal(usage.status, 2);
  t.match(usage.stderr, "(see tscni network --help)");
  const help = lab.run(["network", "connect", "--help"]);
  t.equal(help.status, 0);
  t.match(help.stdout, "--publish");
});

t.test("a failed connect leaves nothing behind", async (t) => {
  const lab = network(t);
  // A bridge name that exists as a link of another kind: the bridge plugin fails after IPAM.
  inNs(lab.host.name, "ip", ["link", "add", "tcli-notbr", "type", "veth", "peer", "name", "tcli-notbr1"]);
  lab.ok(["network", "create", "bad", "-o", "bridge=tcli-notbr", "--subnet", "10.68.0.0/24"]);
  const c = lab.container();
  const r = lab.run(["network", "connect", "bad", c.name]);
  t.equal(r.status, 1);
  t.match(r.stderr, /tscni: plugin "bridge" failed on ADD \(code \d+\): .*tcli-notbr/);
  t.notOk(linkExists(c.name, "eth0"));
  t.strictSame(existsSync(join(lab.cacheDir, "results")) ? readdirSync(join(lab.cacheDir, "results")) : [], []);
  t.equal(lab.inspect("bad").attachments.length, 0);
});

const hasPortmap = existsSync(join(DIST_BIN, "portmap"));

// Runs by itself once the portmap plugin is built into dist/bin; a TODO until then.
t.test("published ports reach the container (-p)", { todo: !hasPortmap && "needs dist/bin/portmap" }, async (t) => {
  if (!hasPortmap) return;
  const lab = network(t);
  const created = lab.run(["network", "create", "pub", "--subnet", "10.69.0.0/24"]);
  t.notMatch(created.stderr, "no portmap", "portmap is chained");
  const c = lab.container();
  const out = lab.ok(["network", "connect", "pub", c.name, "-p", "8080:80", "-p", "90"]);
  const random = /0\.0\.0\.0:(\d+)->90\/tcp/.exec(out);
  t.match(out, "  0.0.0.0:8080->80/tcp\n");
  t.ok(random, "the free host port for -p 90 is printed");
  const [low, high] = inNs(lab.host.name, "cat", ["/proc/sys/net/ipv4/ip_local_port_range"]).trim().split(/\s+/).map(Number);
  const hostPort = Number(random![1]);
  t.ok(hostPort >= low! && hostPort <= high!, `${hostPort} is an ephemeral port`);
  for (const port of [80, 90]) {
    const server = `socat TCP-LISTEN:${port},fork,reuseaddr SYSTEM:'echo from-${port}'`;
    inNs(c.name, "sh", ["-c", `${server} >/dev/null 2>&1 & echo $! > /tmp/tcli-socat-${c.name}-${port}`]);
    t.teardown(() => void inNs(c.name, "sh", ["-c", `kill $(cat /tmp/tcli-socat-${c.name}-${port}); rm -f /tmp/tcli-socat-${c.name}-${port}`], { allowFail: true }));
  }
  inNs(c.name, "sh", ["-c", "for i in $(seq 50); do ss -ltn | grep -q ':90 ' && exit 0; sleep 0.1; done"], { allowFail: true });
  const fetch = (port: number) => inNs(lab.host.name, "socat", ["-T", "2", "-", `TCP:10.69.0.1:${port},connect-timeout=2`], { input: "", allowFail: true }).trim();
  t.equal(fetch(8080), "from-80", "host port 8080 reaches container port 80");
  t.equal(fetch(hostPort), "from-90", "the picked host port reaches container port 90");
  t.match(lab.inspect("pub").attachments[0].ports, [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }, { hostPort, containerPort: 90 }]);
  lab.ok(["network", "disconnect", "pub", c.name]);
  t.equal(fetch(8080), "", "nothing forwarded after disconnect");
});
