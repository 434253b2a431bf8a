// `tscni add|check|del|gc|status` (cnitool's verbs) through the built binary on a hand-written
// conflist, inside a throw-away host netns, against the real plugins in dist/bin.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import t, { type Test } from "tap";
import { inNs, ipJson, isRoot, sh } from "../helpers/netns.ts";
import { cliLab } from "../helpers/tscni.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const cnitoolId = (netns: string) => `cnitool-${createHash("sha512").update(netns).digest("hex").slice(0, 20)}`;

function lab(t: Test, cniVersion = "1.1.0") {
  const l = cliLab(t, "tcli");
  const conflist = {
    cniVersion,
    name: "tool",
    plugins: [
      {
        type: "bridge",
        bridge: "tcli-br0",
        isGateway: true,
        capabilities: { ips: true },
        ipam: { type: "host-local", dataDir: join(l.cacheDir, "leases"), ranges: [[{ subnet: "10.71.0.0/24" }]] },
      },
    ],
  };
  writeFileSync(join(l.confDir, "10-tool.conflist"), JSON.stringify(conflist));
  const results = () => (existsSync(join(l.cacheDir, "results")) ? readdirSync(join(l.cacheDir, "results")) : []);
  return { ...l, results };
}

const addresses = (ns: string, dev = "eth0") =>
  ipJson<Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>>(ns, ["addr", "show", "dev", dev])
    .flatMap((l) => l.addr_info)
    .filter((a) => a.scope === "global")
    .map((a) => `${a.local}/${a.prefixlen}`);

t.test("add prints the result, caches it as libcni does; check; del undoes it", async (t) => {
  const l = lab(t);
  const c = l.container();
  const result = JSON.parse(l.ok(["add", "tool", c.path]));
  t.match(result, { cniVersion: "1.1.0", ips: [{ address: "10.71.0.2/24", gateway: "10.71.0.1" }] });
  t.strictSame(addresses(c.name), ["10.71.0.2/24"]);
  const id = cnitoolId(c.path);
  t.strictSame(l.results(), [`tool-${id}-eth0`], "cache file named <network>-<cnitool id>-<ifname>");
  const entry = JSON.parse(readFileSync(join(l.cacheDir, "results", `tool-${id}-eth0`), "utf8"));
  t.match(entry, { kind: "cniCacheV1", containerId: id, ifName: "eth0", networkName: "tool", netns: c.path, result: { ips: [{ address: "10.71.0.2/24" }] } });
  t.equal(Buffer.from(entry.config, "base64").toString(), readFileSync(join(l.confDir, "10-tool.conflist"), "utf8"), "config: the conflist bytes");

  t.equal(l.run(["check", "tool", c.path]).status, 0);
  inNs(c.name, "ip", ["addr", "flush", "dev", "eth0"]);
  const broken = l.run(["check", "tool", c.path]);
  t.equal(broken.status, 1, "CHECK notices the missing address");
  t.match(broken.stderr, /^tscni: plugin "bridge" failed on CHECK/);

  t.equal(l.ok(["del", "tool", c.path]), "");
  t.notOk(ipJson<Array<{ ifname: string }>>(c.name, ["link"]).some((x) => x.ifname === "eth0"));
  t.strictSame(l.results(), []);
  t.equal(l.run(["del", "tool", c.path]).status, 0, "DEL again succeeds");
});

t.test("CNI_IFNAME / -i, CNI_ARGS and CAP_ARGS reach the plugins", async (t) => {
  const l = lab(t);
  const c = l.container();
  l.ok(["add", "tool", c.path], { CNI_IFNAME: "net1", CAP_ARGS: '{"ips":["10.71.0.40"]}' });
  t.strictSame(addresses(c.name, "net1"), ["10.71.0.40/24"], "runtimeConfig.ips from CAP_ARGS");
  l.ok(["add", "tool", c.path, "-i", "net2"], { CNI_ARGS: "IgnoreUnknown=1;IP=10.71.0.41" });
  t.strictSame(addresses(c.name, "net2"), ["10.71.0.41/24"], "CNI_ARGS IP=");
  const entry = JSON.parse(readFileSync(join(l.cacheDir, "results", `tool-${cnitoolId(c.path)}-net2`), "utf8"));
  t.strictSame(entry.cniArgs, [["IgnoreUnknown", "1"], ["IP", "10.71.0.41"]]);
  const bad = l.run(["add", "tool", c.path], { CNI_ARGS: "IP" });
  t.equal(bad.status, 1);
  t.match(bad.stderr, 'tscni: invalid CNI_ARGS pair "IP"');
  t.equal(l.run(["del", "tool", c.path], { CNI_IFNAME: "net1" }).status, 0);
  t.equal(l.run(["del", "tool", c.path, "--ifname", "net2"]).status, 0);
  t.strictSame(l.results(), []);
});

t.test("gc DELs attachments whose netns is gone; status asks the plugins", async (t) => {
  const l = lab(t);
  const keep = l.container();
  const gone = l.container();
  l.ok(["add", "tool", keep.path]);
  l.ok(["add", "tool", gone.path]);
  const hostVeths = () => ipJson<Array<{ ifname: string; master?: string }>>(l.host.name, ["link"]).filter((x) => x.master === "tcli-br0").length;
  t.equal(hostVeths(), 2);
  sh("ip", ["netns", "del", gone.name]);
  t.equal(l.run(["gc", "tool"]).status, 0);
  t.strictSame(l.results(), [`tool-${cnitoolId(keep.path)}-eth0`], "the attachment of the deleted netns is gone from the cache");
  t.equal(hostVeths(), 1, "and its host veth");
  t.strictSame(addresses(keep.name), ["10.71.0.2/24"]);
  t.equal(l.run(["status", "tool"]).status, 0);
  t.equal(l.run(["gc", "tool", "--all"]).status, 0);
  t.strictSame(l.results(), []);
  t.equal(hostVeths(), 0);
  t.match(l.run(["status", "nope"]).stderr, 'no net configuration with name "nope"');
});

t.test("the netns path is cleaned and made absolute like Go's filepath.Abs", async (t) => {
  const l = lab(t, "1.0.0");
  const c = l.container();
  l.ok(["add", "tool", `/run/netns/../netns/${c.name}`]);
  t.strictSame(l.results(), [`tool-${cnitoolId(c.path)}-eth0`]);
  l.ok(["del", "tool", relative(process.cwd(), c.path)]);
  t.strictSame(l.results(), [], "a relative path names the same attachment");
});
