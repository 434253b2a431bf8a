// tuning refusing bad input (code 7, nothing changed), rolling back an ADD that fails halfway, and
// DEL when things are gone.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { inNs, isRoot, sh } from "../helpers/netns.ts";
import { attributes, link, sysctl, tuningLab, type Netns } from "../helpers/tuning-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const rootSysctls = () => ["net/core/somaxconn", "net/ipv4/ip_forward", "kernel/hostname"].map((p) => readFileSync(`/proc/sys/${p}`, "utf8"));

/** What a refused ADD must not have changed: the link, the sysctls it would have touched, the saved files. */
function snapshot(ctr: Netns, dataDir: string) {
  return {
    link: attributes(ctr, "eth0"),
    somaxconn: sysctl(ctr, "net/core/somaxconn"),
    arpFilter: sysctl(ctr, "net/ipv4/conf/eth0/arp_filter"),
    saved: readdirSync(dataDir),
  };
}

t.test("path tricks and non-net sysctls are refused before anything changes", async (t) => {
  const { container, config, run, dataDir, host } = tuningLab(t);
  const ctr = container();
  const before = snapshot(ctr, dataDir);
  const root = rootSysctls();
  const hostSomaxconn = sysctl(host, "net/core/somaxconn");
  const keys: Array<[string, RegExp]> = [
    ["kernel.hostname", /only sysctls under net\//],
    ["kernel/hostname", /only sysctls under net\//],
    ["net/../kernel/hostname", /path component "\.\." is not allowed/],
    ["net/ipv4/../../kernel/hostname", /path component "\.\." is not allowed/],
    ["net.ipv4.conf.//.forwarding", /path component "\.\." is not allowed/],
    ["net/./core/somaxconn", /path component "\." is not allowed/],
    ["/net/core/somaxconn", /empty path component/],
    ["/proc/sys/net/core/somaxconn", /empty path component/],
    ["net..core.somaxconn", /empty path component/],
    ["net.core.somaxconn.", /empty path component/],
    ["net", /only sysctls under net\//],
    ["netfilter.x", /only sysctls under net\//],
    ["net.core.nope", /unknown sysctl "net.core.nope": \/proc\/sys\/net\/core\/nope does not exist/],
    ["net.ipv4", /is a directory of sysctls/],
    ["net.ipv4.conf.IFNAME/../../../kernel.x", /only sysctls under net|path component/],
  ];
  for (const [key, msg] of keys) {
    const reply = run("ADD", ctr, config(ctr, { mac: "c2:00:00:00:00:09", mtu: 1300, sysctl: { "net.core.somaxconn": "99", [key]: "1" } }));
    t.equal(reply.json?.code, 7, `"${key}" is refused with code 7`);
    t.match(reply.json?.msg, msg, `"${key}": ${reply.json?.msg}`);
  }
  t.same(snapshot(ctr, dataDir), before, "nothing changed in the container, no saved file");
  t.same(rootSysctls(), root, "the root namespace's sysctls are untouched");
  t.equal(sysctl(host, "net/core/somaxconn"), hostSomaxconn, "the plugin's own (host) namespace is untouched");

  const twice = run("ADD", ctr, config(ctr, { sysctl: { "net.core.somaxconn": "1", "net/core/somaxconn": "2" } }));
  t.match(twice.json, { code: 7, msg: '"sysctl" sets the same sysctl twice: "net.core.somaxconn" and "net/core/somaxconn"' });
  t.match(run("ADD", ctr, config(ctr, { sysctl: { "net.core.somaxconn": 5 } })).json, { code: 7, msg: /the value must be a string/ });
  t.match(run("ADD", ctr, config(ctr, { sysctl: ["net.core.somaxconn"] })).json, { code: 7, msg: /invalid "sysctl"/ });
});

t.test("bad attribute values are refused before anything changes", async (t) => {
  const { container, config, run, dataDir } = tuningLab(t);
  const ctr = container();
  const before = snapshot(ctr, dataDir);
  const good = { sysctl: { "net.core.somaxconn": "99", "net.ipv4.conf.IFNAME.arp_filter": "1" }, promisc: true };
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ mac: "c2:11:22:33:44" }, /invalid mac "c2:11:22:33:44"/],
    [{ mac: "01:00:5e:00:00:01" }, /invalid mac "01:00:5e:00:00:01"/],
    [{ mac: "00:00:00:00:00:00" }, /invalid mac/],
    [{ runtimeConfig: { mac: "zz:11:22:33:44:55" } }, /invalid runtimeConfig.mac/],
    [{ args: { cni: { mac: "nope" } } }, /invalid args.cni.mac/],
    [{ mtu: 70000 }, /invalid "mtu"/],
    [{ mtu: 67 }, /invalid "mtu" 67: "eth0" accepts 68 to 65535/],
    [{ mtu: -1 }, /invalid "mtu"/],
    [{ mtu: "1400" }, /invalid "mtu"/],
    [{ txQLen: -1 }, /invalid "txQLen"/],
    [{ txQLen: 1.5 }, /invalid "txQLen"/],
    [{ promisc: "yes" }, /invalid "promisc"/],
    [{ allmulti: 1 }, /invalid "allmulti"/],
    [{ ifname: "a/b" }, /invalid "ifname" "a\/b"/],
    [{ ifname: "much-too-long-name" }, /invalid "ifname".*too long/],
    [{ ifname: ".." }, /invalid "ifname"/],
    [{ ifname: "eth%d" }, /"%" is not allowed/],
    [{ dataDir: "relative/dir" }, /invalid "dataDir": must be an absolute path/],
  ];
  for (const [extra, msg] of cases) {
    const reply = run("ADD", ctr, config(ctr, { ...good, ...extra }));
    t.equal(reply.json?.code, 7, `${JSON.stringify(extra)} is refused with code 7`);
    t.match(reply.json?.msg, msg, `${JSON.stringify(extra)}: ${reply.json?.msg}`);
  }
  t.match(run("ADD", ctr, config(ctr, { mac: "01:00:5e:00:00:01" })).json, { details: /must be unicast/ }, "a multicast MAC: the details say why");
  t.match(run("ADD", ctr, config(ctr, good), { args: "MAC=nope" }).json, { code: 4, msg: /invalid CNI_ARGS MAC "nope"/ });
  t.match(run("ADD", ctr, config(ctr, { ...good, prevResult: undefined })).json, { code: 7, msg: "required prevResult missing" });
  t.match(run("ADD", ctr, config(ctr, good), { ifname: "eth1" }).json, { code: 7, msg: /container interface "eth1" not found/ });
  t.same(snapshot(ctr, dataDir), before, "nothing changed in the container, no saved file");
});

t.test("an ADD that fails halfway restores what it had already changed", async (t) => {
  const { container, config, run, dataDir } = tuningLab(t);
  const ctr = container();
  const before = snapshot(ctr, dataDir);
  // Sysctls are written in config order; the kernel refuses the second value.
  const badValue = run("ADD", ctr, config(ctr, { mtu: 1300, sysctl: { "net.core.somaxconn": "99", "net.ipv4.conf.IFNAME.arp_filter": "x" } }));
  t.match(badValue.json, { code: 7, msg: /failed to set sysctl "net.ipv4.conf.IFNAME.arp_filter" to "x": .*EINVAL/ });
  t.same(snapshot(ctr, dataDir), before, "somaxconn written back, MTU never changed, no saved file");

  // An ifb device refuses a MAC change while up (EOPNOTSUPP): MTU and promisc are set by then.
  inNs(ctr.name, "ip", ["link", "add", "ttu-ifb", "type", "ifb"]);
  inNs(ctr.name, "ip", ["link", "set", "ttu-ifb", "up"]);
  const ifbBefore = attributes(ctr, "ttu-ifb");
  const conf = config(ctr, { mtu: 1300, promisc: true, txQLen: 7, mac: "c2:00:00:00:00:07", sysctl: { "net.core.somaxconn": "98" } });
  const failed = run("ADD", ctr, conf, { ifname: "ttu-ifb" });
  t.match(failed.json, { code: 999, msg: /set the MAC address of "ttu-ifb" to c2:00:00:00:00:07: EOPNOTSUPP/ });
  t.same(attributes(ctr, "ttu-ifb"), ifbBefore, "MTU and promisc restored");
  t.same(snapshot(ctr, dataDir), before, "somaxconn restored, no saved file");
  t.equal(run("DEL", ctr, conf, { ifname: "ttu-ifb" }).status, 0, "the runtime's DEL after the failed ADD succeeds");
});

t.test("DEL: nothing saved, netns gone, interface gone, unreadable file, CNI_NETNS empty", async (t) => {
  const { container, config, run, dataDir } = tuningLab(t);
  const tuned = { mtu: 1300, mac: "c2:00:00:00:00:05" };

  const fresh = container();
  t.equal(run("DEL", fresh, config(fresh, tuned)).status, 0, "DEL without a preceding ADD succeeds");

  const gone = container();
  const conf = config(gone, tuned);
  t.equal(run("ADD", gone, conf).status, 0);
  const file = join(dataDir, `${gone.name}_eth0.json`);
  t.ok(existsSync(file));
  sh("ip", ["netns", "del", gone.name]);
  const del = run("DEL", gone, conf);
  t.equal(del.status, 0, `DEL with the netns gone succeeds ${del.stdout}`);
  t.notOk(existsSync(file), "and drops the saved file");

  const noLink = container();
  const noLinkConf = config(noLink, tuned);
  t.equal(run("ADD", noLink, noLinkConf).status, 0);
  inNs(noLink.name, "ip", ["link", "del", "eth0"]);
  t.equal(run("DEL", noLink, noLinkConf).status, 0, "DEL with the interface gone succeeds");
  t.notOk(existsSync(join(dataDir, `${noLink.name}_eth0.json`)));

  const corrupt = container();
  const corruptFile = join(dataDir, `${corrupt.name}_eth0.json`);
  writeFileSync(corruptFile, "{not json");
  const reply = run("DEL", corrupt, config(corrupt, tuned));
  t.equal(reply.status, 0, "DEL with an unreadable saved file succeeds");
  t.match(reply.stderr, /unreadable saved settings .*removing it/, "and says so on stderr");
  t.notOk(existsSync(corruptFile));

  const empty = container();
  const emptyConf = config(empty, tuned);
  t.equal(run("ADD", empty, emptyConf).status, 0);
  t.equal(run("DEL", empty, emptyConf, { netns: "" }).status, 0, "DEL with CNI_NETNS empty succeeds");
  t.equal(link(empty, "eth0").mtu, 1300, "(nothing to restore without a netns)");
});

t.test("the reference's sysctl allowlist (one regexp a line) restricts the keys", async (t) => {
  const { container, config, run, dataDir } = tuningLab(t);
  const ctr = container();
  const allowlist = join(dataDir, "..", `${ctr.name}-allowlist.conf`);
  writeFileSync(allowlist, "^net\\.core\\.somaxconn$\n  ^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]*$  \n\n");
  t.teardown(() => sh("rm", ["-f", allowlist]));
  const env = { TSCNI_TUNING_ALLOWLIST: allowlist };
  const ok = run("ADD", ctr, config(ctr, { sysctl: { "net/core/somaxconn": "91", "net.ipv4.conf.IFNAME.arp_filter": "1" } }), { env });
  t.equal(ok.status, 0, `allowed keys (slash form matched in its dotted form): ${ok.stdout}`);
  t.equal(sysctl(ctr, "net/core/somaxconn"), "91");
  const refused = run("ADD", ctr, config(ctr, { sysctl: { "net.core.somaxconn": "92", "net.ipv4.ip_forward": "1" } }), { env });
  t.match(refused.json, { code: 7, msg: `sysctl "net.ipv4.ip_forward" is not allowed by ${allowlist}` });
  t.equal(sysctl(ctr, "net/core/somaxconn"), "91", "nothing changed");
  writeFileSync(allowlist, "(unclosed\n");
  t.match(run("ADD", ctr, config(ctr, { sysctl: { "net.core.somaxconn": "93" } }), { env }).json, { code: 7, msg: /invalid pattern in the sysctl allowlist/ });
});
