// The tuning plugin's pure parts: sysctl keys to /proc/sys paths (the path-trick rules) and the
// config reader (priorities, validation).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { dottedSysctlKey, netSysctlPath, parseNetSysctlKey, SysctlKeyError } from "../../lib/netns/sysctl-path.ts";
import { parseTuningConfig } from "../../plugins/tuning/config.ts";
import { caught } from "../helpers/assert.ts";

t.test("sysctl keys: both forms, IFNAME, dotted names", async (t) => {
  const path = (key: string, ifname = "eth0") => netSysctlPath(parseNetSysctlKey(key), ifname);
  t.equal(path("net.core.somaxconn"), "net/core/somaxconn");
  t.equal(path("net/core/somaxconn"), "net/core/somaxconn");
  t.equal(path("net.ipv4.conf.IFNAME.arp_filter"), "net/ipv4/conf/eth0/arp_filter");
  t.equal(path("net.ipv4.conf.IFNAME.arp_filter", "eth0.100"), "net/ipv4/conf/eth0.100/arp_filter", "an ifname with a dot stays one component");
  t.equal(path("net/ipv4/conf/eth0.100/rp_filter"), "net/ipv4/conf/eth0.100/rp_filter", "slash form keeps dots");
  t.equal(path("net.ipv4.conf.eth0/100.rp_filter"), "net/ipv4/conf/eth0.100/rp_filter", "dotted form: / stands for a dot (sysctl(8))");
  t.equal(path("net.ipv4.conf.IFNAMEx.rp_filter"), "net/ipv4/conf/IFNAMEx/rp_filter", "only a whole IFNAME component is replaced");
  t.equal(dottedSysctlKey(parseNetSysctlKey("net/ipv4/conf/eth0.100/rp_filter")), "net.ipv4.conf.eth0/100.rp_filter");
  t.equal(dottedSysctlKey(parseNetSysctlKey("net.ipv4.conf.IFNAME.rp_filter")), "net.ipv4.conf.IFNAME.rp_filter");

  for (const key of [
    "kernel.hostname",
    "kernel/hostname",
    "net",
    "net/",
    "networking.x",
    "",
    ".net.core",
    "/net/core/somaxconn",
    "net/../kernel/hostname",
    "net/core/../../kernel/hostname",
    "net.ipv4.conf.//.x",
    "net.ipv4.conf./.x",
    "net/./core",
    "net..core",
    "net.core.",
    "net/core//somaxconn",
    "net/core/x\0y",
  ]) {
    t.type(caught(() => parseNetSysctlKey(key)), SysctlKeyError, `refused: ${JSON.stringify(key)}`);
  }
  t.type(caught(() => netSysctlPath(parseNetSysctlKey("net.ipv4.conf.IFNAME.x"), "..")), SysctlKeyError, "an ifname of .. cannot smuggle a traversal in");
  t.type(caught(() => netSysctlPath(parseNetSysctlKey("net.ipv4.conf.IFNAME.x"), "a/b")), SysctlKeyError, "nor one with a slash");
});

t.test("config: priorities, overrides, validation", async (t) => {
  const noList = "/nonexistent/allowlist.conf";
  const parse = (config: Record<string, unknown>, args: Array<[string, string]> = []) => parseTuningConfig(config, new Map(args), noList);

  t.same(parse({}), { dataDir: "/run/cni/tuning", sysctls: [], link: {} }, "defaults: the reference's dataDir, nothing to change");
  t.same(parse({ mac: "C2:00:00:00:00:01", mtu: 1400, promisc: false, allmulti: true, txQLen: 0, ifname: "net1" }).link, {
    mac: "c2:00:00:00:00:01",
    mtu: 1400,
    promisc: false,
    allmulti: true,
    txQLen: 0,
    ifname: "net1",
  });
  t.same(parse({ mtu: 0 }).link, {}, "mtu 0 is unset (Go's zero value)");
  const macs = { mac: "c2:00:00:00:00:01", runtimeConfig: { mac: "c2:00:00:00:00:03" }, args: { cni: { mac: "c2:00:00:00:00:04" } } };
  t.equal(parse(macs, [["MAC", "c2:00:00:00:00:02"]]).link.mac, "c2:00:00:00:00:04", "args.cni.mac first");
  t.equal(parse({ ...macs, args: {} }, [["MAC", "c2:00:00:00:00:02"]]).link.mac, "c2:00:00:00:00:03", "then runtimeConfig.mac");
  t.equal(parse({ mac: macs.mac }, [["MAC", "c2:00:00:00:00:02"]]).link.mac, "c2:00:00:00:00:02", "then CNI_ARGS MAC");

  const merged = parse({ mtu: 1400, sysctl: { "net.core.somaxconn": "1", "net.ipv4.ip_forward": "1" }, args: { cni: { mtu: 1300, sysctl: { "net/core/somaxconn": "2" } } } });
  t.equal(merged.link.mtu, 1300, "args.cni.mtu overrides");
  t.same(
    merged.sysctls.map((s) => [s.key, s.value]),
    [
      ["net/core/somaxconn", "2"],
      ["net.ipv4.ip_forward", "1"],
    ],
    "args.cni.sysctl overrides the same sysctl, however spelled",
  );

  for (const [config, code] of [
    [{ sysctl: { "kernel.x": "1" } }, 7],
    [{ args: { cni: { sysctl: { "net/../x": "1" } } } }, 7],
    [{ sysctl: { "net.core.somaxconn": "1", "net/core/somaxconn": "2" } }, 7],
    [{ sysctl: { "net.core.somaxconn": 1 } }, 7],
    [{ mac: "ff:ff:ff:ff:ff:ff" }, 7],
    [{ mtu: 65536 }, 7],
    [{ txQLen: 2 ** 32 }, 7],
    [{ ifname: "" }, undefined],
    [{ ifname: "x y" }, 7],
    [{ dataDir: "tuning" }, 7],
    [{ dataDir: 5 }, 7],
  ] as Array<[Record<string, unknown>, number | undefined]>) {
    if (code === undefined) {
      t.same(parse(config).link, {}, `${JSON.stringify(config)} reads as absent`);
      continue;
    }
    t.match(caught(() => parse(config)), { code }, `${JSON.stringify(config)}: code ${code}`);
  }
  t.match(caught(() => parse({}, [["MAC", "x"]])), { code: 4 }, "a bad CNI_ARGS MAC is an environment error");
  t.match(caught(() => parse({}, [["FOO", "x"]])), { code: 4, message: /unknown keys "FOO"/ });
  t.same(parse({}, [["IgnoreUnknown", "1"], ["FOO", "x"]]).link, {});
});

t.test("allowlist: dotted form, unanchored patterns, bad patterns", async (t) => {
  const dir = t.testdir({});
  const list = join(dir, "allowlist.conf");
  writeFileSync(list, "^net\\.core\\.somaxconn$\nconf\\.IFNAME\\.\n");
  const parse = (sysctl: Record<string, string>) => parseTuningConfig({ sysctl }, new Map(), list);
  t.equal(parse({ "net/core/somaxconn": "1", "net.ipv4.conf.IFNAME.arp_filter": "1" }).sysctls.length, 2);
  t.match(caught(() => parse({ "net.ipv4.ip_forward": "1" })), { code: 7, message: /"net.ipv4.ip_forward" is not allowed/ });
  writeFileSync(list, "[\n");
  t.match(caught(() => parse({ "net.core.somaxconn": "1" })), { code: 7, message: /invalid pattern/ });
  t.same(parseTuningConfig({}, new Map(), list).sysctls, [], "no sysctls: the allowlist is not read");
});
