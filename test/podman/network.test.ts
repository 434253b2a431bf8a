// podman drives the plugins: `podman network create` (the CNI backend writes bridge → portmap →
// firewall → tuning), containers on it with their addresses, `--ip`/`--mac-address`, traffic between
// them, `podman restart` (DEL then ADD of the same container), `podman rm -f` and `podman network rm`
// leaving nothing behind. Against the Go reference in /usr/lib/cni and ours in dist/bin.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { isRoot } from "../helpers/netns.ts";
import { inNetns, ipv4Addresses, ipv4Routes, rulesMentioning, tcpFetch } from "../cri/observe.ts";
import { cachedResults, containerNetns, hostVeths, leases, leasesOf, leftovers, NOTHING_LEFT, ruleset, vethOf } from "./observe.ts";
import { type Container, type Podman, TCP_PORT } from "./podman.ts";
import { pluginDirs, startPodman } from "./scenario.ts";

if (!isRoot()) {
  t.fail("podman tests need root (CI runs as root)");
  process.exit(1);
}

const NETWORK = "tpod-net";
const PREFIX = "10.236.0";
const inSubnet = new RegExp(`^${PREFIX.replaceAll(".", "\\.")}\\.\\d+$`);
const STATIC_IP = `${PREFIX}.50`;
const STATIC_MAC = "02:00:0a:ec:00:32";

/** `podman exec <from> busybox ping` (one echo, 2 s): the summary line says whether it came back. */
function pings(pm: Podman, from: Container, to: string): boolean {
  return /1 packets received/.test(pm.podman(["exec", from.name, "busybox", "ping", "-c", "1", "-W", "2", to], { allowFail: true }));
}

const macOf = (c: Container): string | undefined =>
  (JSON.parse(inNetns(containerNetns(c), "ip", ["-j", "link", "show", "dev", "eth0"])) as { address?: string }[])[0]?.address;

for (const { label, binDir } of pluginDirs()) {
  t.test(`${label}: podman network create, containers on it, rm -f (${binDir})`, async (t) => {
    const pm = await startPodman(t, binDir);
    if (!pm) return;
    pm.podman(["network", "create", "--subnet", `${PREFIX}.0/24`, NETWORK]);
    const conflistPath = join(pm.confDir, `${NETWORK}.conflist`);
    const conflist = JSON.parse(readFileSync(conflistPath, "utf8")) as { cniVersion: string; plugins: { type: string; bridge?: string }[] };
    const bridge = conflist.plugins[0]?.bridge ?? "";

    t.test("network create writes podman's conflist into the private config dir, and podman lists it", async (t) => {
      t.equal(conflist.cniVersion, "0.4.0");
      t.same(conflist.plugins.map((p) => p.type), ["bridge", "portmap", "firewall", "tuning"]);
      t.ok(pm.podman(["network", "ls", "--format", "{{.Name}}"]).split("\n").includes(NETWORK));
    });

    const a = await pm.run("a", { network: NETWORK });
    const b = await pm.run("b", { network: NETWORK });
    const c = await pm.run("c", { network: NETWORK, ip: STATIC_IP, mac: STATIC_MAC, serve: false });

    t.test("each container's eth0 holds the IP podman reports, leased to it by host-local", async (t) => {
      t.not(a.ip, b.ip);
      for (const x of [a, b]) {
        t.match(x.ip, inSubnet, `${x.name}'s IP is in the subnet`);
        t.same(ipv4Addresses(containerNetns(x), "eth0"), [`${x.ip}/24`], `${x.name}'s eth0`);
        t.match(leases(pm, NETWORK).get(x.ip), x.id, `${x.name}'s lease names its container id`);
        t.ok(vethOf(pm, x), `${x.name}'s eth0 peer is a veth in the host netns`);
      }
      t.ok(
        ipv4Routes(containerNetns(a)).some((r) => r.dst === "default" && r.gateway === `${PREFIX}.1`),
        "default route via the bridge's gateway address",
      );
      t.ok(cachedResults(pm).includes(`${NETWORK}-${a.id}-eth0`), "libcni cached the ADD result");
      t.match(a.netnsPath, /^\/run\/netns\//);
      t.ok(existsSync(pm.pathInMountNs(a.netnsPath)), "podman's netns mount for a");
      t.not(rulesMentioning(ruleset(pm), a).length, 0, "rules name a");
    });

    t.test("--ip reaches host-local (ips capability), --mac-address reaches tuning (CNI_ARGS MAC)", async (t) => {
      t.equal(c.ip, STATIC_IP);
      t.same(ipv4Addresses(containerNetns(c), "eth0"), [`${STATIC_IP}/24`]);
      t.equal(macOf(c), STATIC_MAC, "eth0's MAC");
      t.equal(c.mac, STATIC_MAC, "the MAC podman reports");
    });

    t.test("the containers ping each other and reach each other over TCP", async (t) => {
      t.ok(pings(pm, a, b.ip), "a pings b");
      t.ok(pings(pm, b, a.ip), "b pings a");
      t.ok(pings(pm, c, a.ip), "c pings a");
      t.equal(tcpFetch(containerNetns(a), b.ip, TCP_PORT), b.token);
      t.equal(tcpFetch(containerNetns(c), a.ip, TCP_PORT), a.token);
    });

    t.test(`the rules are ${label === "ours" ? "ours" : "the Go plugins'"} (cni_plugin_dirs is the only plugin directory)`, async (t) => {
      if (label === "ours") t.match(ruleset(pm), /comment "tscni /);
      else if (label === "reference") t.match(ruleset(pm), /chain CNI-FORWARD/);
      else t.pass("custom directory: not checked");
    });

    t.test("podman restart (DEL, then ADD with the same container id): one lease, reachable again", async (t) => {
      const b2 = await pm.restart(b);
      t.equal(b2.id, b.id);
      t.same(ipv4Addresses(containerNetns(b2), "eth0"), [`${b2.ip}/24`]);
      t.same(leasesOf(pm, b2), [`${NETWORK}/${b2.ip}`], "one lease names b");
      if (b2.ip !== b.ip) t.same(ruleset(pm).split("\n").filter((l) => new RegExp(`${b.ip.replaceAll(".", "\\.")}(?!\\d)`).test(l)), [], "no rule names b's old IP");
      t.ok(pings(pm, a, b2.ip), "a pings b at its address after the restart");
      Object.assign(b, b2);
    });

    t.test("podman rm -f of one container leaves nothing of it; the others keep working", async (t) => {
      const keep = [vethOf(pm, b), vethOf(pm, c)];
      pm.remove("a");
      t.same(leftovers(pm, a, keep), NOTHING_LEFT);
      t.ok(pings(pm, b, c.ip), "b still pings c");
      t.ok(leases(pm, NETWORK).has(b.ip), "b keeps its lease");
    });

    t.test("podman rm -f of the others and network rm: no veth, rule, lease, cached result; bridge and conflist gone", async (t) => {
      pm.remove("b");
      pm.remove("c");
      t.same(leftovers(pm, b, []), NOTHING_LEFT, "b");
      t.same(leftovers(pm, c, []), NOTHING_LEFT, "c");
      t.same(hostVeths(pm), []);
      t.same([...leases(pm, NETWORK).keys()], [], "no lease in the network's dataDir");
      pm.podman(["network", "rm", NETWORK]);
      t.notOk(existsSync(conflistPath), "conflist removed");
      t.equal(inNetns(pm.hostNs.path, "ip", ["link", "show", "dev", bridge], { allowFail: true }), "", `bridge ${bridge} removed`);
    });
  });
}
