// tuning through the built executable: sysctls and interface attributes applied in the container
// netns, the result updated, CHECK, DEL restoring the originals, renaming, args/runtimeConfig.
import { readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { inNs, ipJson, isRoot } from "../helpers/netns.ts";
import { attributes, hasLink, link, sysctl, tuningLab } from "../helpers/tuning-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const TUNED = {
  mac: "c2:11:22:33:44:55",
  mtu: 1400,
  promisc: true,
  allmulti: true,
  txQLen: 321,
  sysctl: { "net.ipv4.conf.IFNAME.arp_filter": "1", "net/core/somaxconn": "517", "net.ipv4.tcp_rmem": "4096 87380 1234567" },
};

t.test("ADD applies sysctls and attributes in the container; CHECK passes; DEL restores the attributes", async (t) => {
  const { container, config, run, dataDir } = tuningLab(t);
  const ctr = container();
  const before = attributes(ctr, "eth0");
  const rootSomaxconn = readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim();

  const added = run("ADD", ctr, config(ctr, TUNED));
  t.equal(added.status, 0, added.stdout);
  t.same(attributes(ctr, "eth0"), { address: TUNED.mac, mtu: 1400, promisc: true, allmulti: true, txqlen: 321 }, "ip -d link shows every attribute");
  t.equal(sysctl(ctr, "net/ipv4/conf/eth0/arp_filter"), "1", "IFNAME became the interface name");
  t.equal(sysctl(ctr, "net/core/somaxconn"), "517", "a slash-form key");
  t.equal(sysctl(ctr, "net/ipv4/tcp_rmem"), "4096\t87380\t1234567", "a multi-value sysctl");
  t.equal(readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim(), rootSomaxconn, "the root namespace's somaxconn is untouched");

  const iface = added.json.interfaces[1];
  t.same(iface, { name: "eth0", mac: TUNED.mac, mtu: 1400, sandbox: ctr.path }, "the result carries the new MAC and MTU");
  t.same(added.json.interfaces[0], { name: "ttu-br" }, "other interfaces pass through");
  t.same(added.json.ips, [{ address: "10.66.0.2/24", gateway: "10.66.0.1", interface: 1 }], "ips pass through");

  const file = join(dataDir, `${ctr.name}_eth0.json`);
  t.equal(statSync(file).mode & 0o777, 0o600, "the saved originals are 0600");
  t.same(JSON.parse(readFileSync(file, "utf8")), { mtu: before.mtu, mac: before.address, promisc: false, allmulti: false, txQLen: before.txqlen });

  t.equal(run("CHECK", ctr, config(ctr, { ...TUNED, prevResult: added.json })).status, 0, "CHECK right after ADD passes");

  const del = run("DEL", ctr, config(ctr, { ...TUNED, prevResult: added.json }));
  t.equal(del.status, 0, del.stdout);
  t.equal(del.stdout, "", "DEL prints nothing");
  t.same(attributes(ctr, "eth0"), before, "DEL restored MAC, MTU, promisc, allmulti and txqlen");
  t.notOk(existsSync(file), "and removed the saved file");
  t.equal(sysctl(ctr, "net/core/somaxconn"), "517", "sysctls stay (as with the reference): the namespace goes with the container");
  t.equal(run("DEL", ctr, config(ctr, TUNED)).status, 0, "DEL again succeeds");
  t.equal(ipJson<unknown[]>(ctr.name, ["route", "show", "default"]).length, 1, "the default route survived it all");
});

t.test("CHECK reports every value that drifted", async (t) => {
  const { container, config, run } = tuningLab(t);
  const ctr = container();
  const conf = config(ctr, TUNED);
  t.equal(run("ADD", ctr, conf).status, 0);
  inNs(ctr.name, "ip", ["link", "set", "eth0", "mtu", "1500", "promisc", "off"]);
  inNs(ctr.name, "sh", ["-c", "echo 0 > /proc/sys/net/ipv4/conf/eth0/arp_filter"]);
  const check = run("CHECK", ctr, conf);
  t.equal(check.json?.code, 7);
  t.match(check.json?.msg, 'sysctl "net.ipv4.conf.IFNAME.arp_filter" is "0", configured "1"');
  t.match(check.json?.msg, 'the MTU of "eth0" is 1500, configured 1400');
  t.match(check.json?.msg, 'the promiscuous mode of "eth0" is false, configured true');
  t.match(run("CHECK", ctr, { ...conf, prevResult: undefined }).json, { code: 7, msg: "required prevResult missing" });
  inNs(ctr.name, "ip", ["link", "del", "eth0"]);
  t.match(run("CHECK", ctr, conf).json, { code: 7, msg: /container interface "eth0" not found/ });
});

t.test("ifname renames the interface (routes kept), CHECK finds it, DEL renames it back", async (t) => {
  const { container, config, run, dataDir } = tuningLab(t);
  const ctr = container();
  const conf = config(ctr, { ifname: "net1", mtu: 1300, sysctl: { "net.ipv4.conf.IFNAME.arp_ignore": "2" } });
  const added = run("ADD", ctr, conf);
  t.equal(added.status, 0, added.stdout);
  t.notOk(hasLink(ctr, "eth0"), "eth0 is gone");
  t.equal(link(ctr, "net1").mtu, 1300, "net1 has the MTU");
  t.ok(link(ctr, "net1").flags.includes("UP"), "and is still up");
  t.equal(sysctl(ctr, "net/ipv4/conf/net1/arp_ignore"), "2", "the sysctl followed the interface");
  t.match(ipJson(ctr.name, ["route", "show", "default"]), [{ dev: "net1", gateway: "10.66.0.1" }], "the default route survived the rename");
  t.same(added.json.interfaces[1].name, "net1", "the result names the interface by its new name");
  t.match(JSON.parse(readFileSync(join(dataDir, `${ctr.name}_eth0.json`), "utf8")), { ifname: "eth0", renamedTo: "net1", mtu: 1500 });
  t.equal(run("CHECK", ctr, { ...conf, prevResult: added.json }).status, 0, "CHECK finds net1 (and IFNAME means net1)");

  t.equal(run("DEL", ctr, conf).status, 0);
  t.ok(hasLink(ctr, "eth0"), "DEL renamed it back to eth0");
  t.equal(link(ctr, "eth0").mtu, 1500, "and restored the MTU");

  inNs(ctr.name, "ip", ["link", "add", "net1", "type", "veth", "peer", "name", "ttu-x"]);
  const taken = run("ADD", ctr, conf);
  t.match(taken.json, { code: 7, msg: 'cannot rename "eth0" to "net1": the container already has a link of that name' });
  t.equal(link(ctr, "eth0").mtu, 1500, "nothing changed");
});

t.test("interface names with dots: IFNAME, slash-form keys and sysctl(8)'s dotted form", async (t) => {
  const { container, config, run } = tuningLab(t);
  const ctr = container("e0.100");
  const conf = config(
    ctr,
    { sysctl: { "net.ipv4.conf.IFNAME.arp_filter": "1", "net/ipv4/conf/e0.100/arp_ignore": "1", "net.ipv4.conf.e0/100.arp_announce": "2" } },
    "e0.100",
  );
  const added = run("ADD", ctr, conf, { ifname: "e0.100" });
  t.equal(added.status, 0, added.stdout);
  t.equal(sysctl(ctr, "net/ipv4/conf/e0.100/arp_filter"), "1");
  t.equal(sysctl(ctr, "net/ipv4/conf/e0.100/arp_ignore"), "1");
  t.equal(sysctl(ctr, "net/ipv4/conf/e0.100/arp_announce"), "2");
  t.equal(run("CHECK", ctr, conf, { ifname: "e0.100" }).status, 0);
});

t.test("where the MAC comes from: args.cni > runtimeConfig > CNI_ARGS > mac; args.cni overrides", async (t) => {
  const { container, config, run } = tuningLab(t);
  const cases: Array<[string, Record<string, unknown>, string | undefined, string]> = [
    ["mac only", { mac: "c2:00:00:00:00:01" }, undefined, "c2:00:00:00:00:01"],
    ["CNI_ARGS over mac", { mac: "c2:00:00:00:00:01" }, "IgnoreUnknown=1;MAC=c2:00:00:00:00:02", "c2:00:00:00:00:02"],
    ["runtimeConfig over CNI_ARGS", { runtimeConfig: { mac: "c2:00:00:00:00:03" } }, "MAC=c2:00:00:00:00:02", "c2:00:00:00:00:03"],
    ["args.cni over runtimeConfig", { runtimeConfig: { mac: "c2:00:00:00:00:03" }, args: { cni: { mac: "C2:00:00:00:00:04" } } }, undefined, "c2:00:00:00:00:04"],
  ];
  for (const [what, extra, args, want] of cases) {
    const ctr = container();
    const added = run("ADD", ctr, config(ctr, extra), { args });
    t.equal(added.status, 0, `${what}: ${added.stdout}`);
    t.equal(link(ctr, "eth0").address, want, what);
    t.equal(added.json.interfaces[1].mac, want, `${what}: the result has it (lower case)`);
  }
  const ctr = container();
  const conf = config(ctr, { mtu: 1400, sysctl: { "net.core.somaxconn": "100" }, args: { cni: { mtu: 1300, txQLen: 0, promisc: true, sysctl: { "net.core.somaxconn": "200" } } } });
  t.equal(run("ADD", ctr, conf).status, 0);
  t.match(attributes(ctr, "eth0"), { mtu: 1300, txqlen: 0, promisc: true }, "args.cni mtu/txQLen/promisc win (txQLen 0 is a value)");
  t.equal(sysctl(ctr, "net/core/somaxconn"), "200", "args.cni.sysctl overrides the same key");
  t.match(run("ADD", ctr, config(ctr), { args: "K8S_POD_NAME=x" }).json, { code: 4, msg: /CNI_ARGS: unknown keys "K8S_POD_NAME"/ });
});

t.test("promisc false turns it off and DEL turns it back on; absent keys are left alone", async (t) => {
  const { container, config, run } = tuningLab(t);
  const ctr = container();
  inNs(ctr.name, "ip", ["link", "set", "eth0", "promisc", "on", "allmulticast", "on"]);
  const conf = config(ctr, { promisc: false });
  t.equal(run("ADD", ctr, conf).status, 0);
  t.match(attributes(ctr, "eth0"), { promisc: false, allmulti: true });
  t.equal(run("CHECK", ctr, conf).status, 0);
  t.equal(run("DEL", ctr, conf).status, 0);
  t.match(attributes(ctr, "eth0"), { promisc: true, allmulti: true });
});
