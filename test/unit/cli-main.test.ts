// The CLI in-process (runCli) with fake plugins: every command, its output, its exit status and
// what the plugins were sent. The live tests run the built binary against real plugins.
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import t, { type Test } from "tap";
import { containerIdOf } from "../../cli/container-id.ts";
import type { CliContext } from "../../cli/context.ts";
import { runCli } from "../../cli/main.ts";
import type { ExecRequest } from "../../lib/runtime/index.ts";

interface Call {
  type: string;
  command: string;
  env: Record<string, string>;
  conf: Record<string, any>;
}

/** A conf dir, cache dir, CNI_PATH of empty executables and an exec that plays the plugins. */
function lab(t: Test, plugins = ["bridge", "portmap", "loopback"]) {
  const dir = t.testdir({ "net.d": {}, cache: {}, bin: Object.fromEntries(plugins.map((p) => [p, ""])), ns: { a: "", b: "", c: "" } });
  for (const p of plugins) chmodSync(join(dir, "bin", p), 0o755);
  const calls: Call[] = [];
  let next = 2;
  const exec = ({ path, env, stdin }: ExecRequest) => {
    const type = basename(path);
    const conf = JSON.parse(stdin.toString()) as Record<string, any>;
    calls.push({ type, command: env.CNI_COMMAND!, env, conf });
    const reply = (status: number, json?: object) => ({ status, stdout: Buffer.from(json ? JSON.stringify(json) : "") });
    if (env.CNI_COMMAND !== "ADD") return reply(0);
    if (conf.name === "failnet") return reply(1, { cniVersion: conf.cniVersion, code: 11, msg: "boom", details: "on purpose" });
    if (type !== "bridge") return reply(0, conf.prevResult);
    const ip = conf.runtimeConfig?.ips?.[0] ?? `10.89.0.${next++}`;
    return reply(0, {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: "br0" }, { name: "veth1" }, { name: env.CNI_IFNAME, mac: "02:00:00:00:00:01", sandbox: env.CNI_NETNS }],
      ips: [{ address: `${ip}/24`, gateway: "10.89.0.1", interface: 2 }],
    });
  };
  const env = { NETCONFPATH: join(dir, "net.d"), CNI_CACHE_DIR: join(dir, "cache"), CNI_PATH: join(dir, "bin"), PATH: "/usr/bin" };
  const cli = async (argv: string[], extraEnv: Record<string, string> = {}) => {
    let out = "";
    let err = "";
    const ctx: CliContext = {
      io: { out: (s) => void (out += s), err: (s) => void (err += s) },
      env: { ...env, ...extraEnv },
      cwd: dir,
      exec,
      self: join(dir, "self"),
      plugins: ["bridge", "loopback"],
    };
    const status = await runCli(argv, ctx);
    return { status, out, err };
  };
  const ns = (name: string) => join(dir, "ns", name);
  const results = () => (existsSync(join(dir, "cache", "results")) ? readdirSync(join(dir, "cache", "results")).sort() : []);
  const conflist = (name: string, body: object) => writeFileSync(join(dir, "net.d", `${name}.conflist`), JSON.stringify(body));
  return { dir, calls, cli, ns, results, conflist };
}

t.test("help: every command has it, and it fits an 80-column terminal", async (t) => {
  const { cli } = lab(t);
  const top = await cli(["--help"]);
  t.equal(top.status, 0);
  for (const cmd of ["add", "check", "del", "gc", "status", "network", "install"]) t.match(top.out, `tscni ${cmd}`);
  t.match(top.out, "NETCONFPATH");
  const network = await cli(["network", "--help"]);
  for (const sub of ["create", "ls", "inspect", "rm", "connect", "disconnect"]) t.match(network.out, `tscni network ${sub}`);
  const pages = [top, network];
  for (const argv of [["add"], ["check"], ["del"], ["gc"], ["status"], ["install"], ...["create", "ls", "inspect", "rm", "connect", "disconnect"].map((s) => ["network", s])]) {
    const page = await cli([...argv, "--help"]);
    t.equal(page.status, 0, `${argv.join(" ")} --help`);
    t.match(page.out, `tscni ${argv.join(" ")}`);
    pages.push(page);
  }
  const wide = pages.flatMap((p) => p.out.split("\n")).filter((line) => line.length > 80);
  t.strictSame(wide, [], "no line wider than 80 columns");
  t.equal((await cli(["--version"])).out, "0.1.0\n");
});

t.test("bad usage exits 2 and points at the right help", async (t) => {
  const { cli } = lab(t);
  const cases: Array<[string[], RegExp]> = [
    [[], /name a command/],
    [["frobnicate"], /Unknown argument: frobnicate/],
    [["add", "net"], /Not enough non-option arguments/],
    [["network"], /network: name a subcommand/],
    [["network", "create", "x", "--driver", "ovs"], /Invalid values:[\s\S]*driver/],
    [["network", "ls", "--format", "yaml"], /Invalid values/],
    [["network", "connect", "x"], /Not enough non-option arguments/],
    [["add", "a", "b", "--bogus"], /Unknown argument/],
  ];
  for (const [argv, msg] of cases) {
    const r = await cli(argv);
    t.equal(r.status, 2, argv.join(" "));
    t.match(r.err, msg, argv.join(" "));
  }
  t.match((await cli(["network", "create", "x", "--driver", "ovs"])).err, "(see tscni network create --help)");
  t.match((await cli(["frobnicate"])).err, "(see tscni --help)");
});

t.test("add/check/del like cnitool: container ID from the netns path, CNI_ARGS, CAP_ARGS, CNI_IFNAME, the cache", async (t) => {
  const { cli, calls, results, conflist, dir } = lab(t);
  conflist("cn", {
    cniVersion: "1.0.0",
    name: "cn",
    plugins: [{ type: "bridge", capabilities: { ips: true } }, { type: "portmap", capabilities: { portMappings: true } }],
  });
  const env = { CNI_ARGS: "K8S_POD_NAME=p;IgnoreUnknown=1", CAP_ARGS: '{"ips":["10.89.0.77"],"portMappings":[{"hostPort":1,"containerPort":2,"protocol":"tcp"}],"mac":"x"}', CNI_IFNAME: "net0" };
  const add = await cli(["add", "cn", "ns/../ns/a"], env);
  t.equal(add.status, 0, add.err);
  const result = JSON.parse(add.out);
  t.equal(result.ips[0].address, "10.89.0.77/24");
  t.match(add.out, /^\{\n {4}"cniVersion"/, "printed like libcni's Print (4-space indent)");
  const id = containerIdOf(join(dir, "ns", "a"));
  t.match(id, /^cnitool-[0-9a-f]{20}$/);
  t.equal(containerIdOf("/var/run/netns/test"), "cnitool-7b8a61d5d8e94d07cbe4", "sha512 of the path, first 10 bytes");
  t.strictSame(results(), [`cn-${id}-net0`]);
  const [bridgeAdd, portmapAdd] = calls;
  t.match(bridgeAdd!.env, { CNI_CONTAINERID: id, CNI_NETNS: join(dir, "ns", "a"), CNI_IFNAME: "net0", CNI_ARGS: "K8S_POD_NAME=p;IgnoreUnknown=1" });
  t.strictSame(bridgeAdd!.conf.runtimeConfig, { ips: ["10.89.0.77"] }, "only the capabilities the plugin declares");
  t.strictSame(portmapAdd!.conf.runtimeConfig, { portMappings: [{ hostPort: 1, containerPort: 2, protocol: "tcp" }] });
  t.notOk(Object.keys(bridgeAdd!.env).some((k) => k === "CNI_CACHE_DIR"), "the CLI's own CNI_* variables do not leak to plugins");

  calls.length = 0;
  t.equal((await cli(["check", "cn", join(dir, "ns", "a"), "-i", "net0"], env)).status, 0);
  t.strictSame(calls.map((c) => `${c.type} ${c.command}`), ["bridge CHECK", "portmap CHECK"]);
  t.equal(calls[0]!.conf.prevResult.ips[0].address, "10.89.0.77/24", "CHECK gets the cached result");

  calls.length = 0;
  t.equal((await cli(["del", "cn", "ns/a"], env)).status, 0);
  t.strictSame(calls.map((c) => `${c.type} ${c.command}`), ["portmap DEL", "bridge DEL"]);
  t.equal(calls[1]!.conf.prevResult.ips[0].address, "10.89.0.77/24");
  t.strictSame(results(), []);
  t.equal((await cli(["del", "cn", "ns/a"], env)).status, 0, "DEL again is fine");
});

t.test("add/check/del failures exit 1 with a clear message", async (t) => {
  const { cli, conflist, results } = lab(t);
  conflist("cn", { cniVersion: "1.0.0", name: "cn", plugins: [{ type: "bridge" }] });
  conflist("failnet", { cniVersion: "1.0.0", name: "failnet", plugins: [{ type: "bridge" }] });
  conflist("ghost", { cniVersion: "1.0.0", name: "ghost", plugins: [{ type: "nosuchplugin" }] });
  const cases: Array<[string[], Record<string, string>, string]> = [
    [["add", "nope", "ns/a"], {}, `tscni: no net configuration with name "nope" in `],
    [["add", "cn", "ns/a"], { CNI_ARGS: "A=1;B" }, 'tscni: invalid CNI_ARGS pair "B": want KEY=VALUE'],
    [["add", "cn", "ns/a"], { CNI_ARGS: "A=" }, 'invalid CNI_ARGS pair "A="'],
    [["add", "cn", "ns/a"], { CAP_ARGS: "[1]" }, "tscni: invalid CAP_ARGS: want a JSON object"],
    [["add", "cn", "ns/a"], { CAP_ARGS: "{" }, "tscni: invalid CAP_ARGS:"],
    [["add", "cn", "ns/a"], { CNI_IFNAME: "a/b" }, "tscni: interface name contains / or : or whitespace"],
    [["add", "failnet", "ns/a"], {}, 'tscni: plugin "bridge" failed on ADD (code 11): boom; on purpose'],
    [["add", "ghost", "ns/a"], {}, 'tscni: failed to find plugin "nosuchplugin" in path'],
  ];
  for (const [argv, env, msg] of cases) {
    const r = await cli(argv, env);
    t.equal(r.status, 1, `${argv.join(" ")} ${JSON.stringify(env)}`);
    t.match(r.err, msg);
  }
  t.strictSame(results(), []);
});

t.test("gc DELs attachments whose netns is gone (all with --all), then GCs the plugins with the rest", async (t) => {
  const { cli, conflist, calls, ns, results } = lab(t);
  conflist("g", { cniVersion: "1.1.0", name: "g", plugins: [{ type: "bridge" }] });
  for (const n of ["a", "b"]) t.equal((await cli(["add", "g", ns(n)])).status, 0);
  rmSync(ns("b"));
  calls.length = 0;
  t.equal((await cli(["gc", "g"])).status, 0);
  t.strictSame(calls.map((c) => `${c.type} ${c.command} ${c.env.CNI_NETNS ?? ""}`), [`bridge DEL ${ns("b")}`, "bridge GC "]);
  t.strictSame(calls[1]!.conf["cni.dev/valid-attachments"], [{ containerID: containerIdOf(ns("a")), ifname: "eth0" }]);
  t.equal(results().length, 1);
  calls.length = 0;
  t.equal((await cli(["gc", "g", "--all"])).status, 0);
  t.strictSame(calls.map((c) => `${c.type} ${c.command}`), ["bridge DEL", "bridge GC"]);
  t.strictSame(calls[1]!.conf["cni.dev/valid-attachments"], []);
  t.strictSame(results(), []);
  t.equal((await cli(["gc", "nope"])).status, 1);
});

t.test("status asks every plugin at 1.1.0 and reports the first failure", async (t) => {
  const { cli, conflist, calls } = lab(t);
  conflist("s", { cniVersion: "1.1.0", name: "s", plugins: [{ type: "bridge" }, { type: "portmap" }] });
  t.equal((await cli(["status", "s"])).status, 0);
  t.strictSame(calls.map((c) => `${c.type} ${c.command}`), ["bridge STATUS", "portmap STATUS"]);
  conflist("old", { cniVersion: "1.0.0", name: "old", plugins: [{ type: "bridge" }] });
  calls.length = 0;
  t.equal((await cli(["status", "old"])).status, 0);
  t.strictSame(calls, [], "no STATUS before 1.1.0");
});

t.test("network create / ls / inspect", async (t) => {
  const { cli, dir } = lab(t, ["bridge"]);
  const created = await cli(["network", "create", "n1", "-o", "bridge=tcliu0"]);
  t.equal(created.status, 0, created.err);
  t.equal(created.out, `created network "n1" (bridge tcliu0, 10.89.0.0/24 gateway 10.89.0.1): ${join(dir, "net.d", "n1.conflist")}\n`);
  t.match(created.err, 'no portmap plugin in CNI_PATH, so "n1" cannot publish ports');
  const file = JSON.parse(readFileSync(join(dir, "net.d", "n1.conflist"), "utf8"));
  t.match(file, { name: "n1", plugins: [{ type: "bridge", bridge: "tcliu0", ipam: { dataDir: join(dir, "cache", "networks") } }] });
  t.equal(statSync(join(dir, "net.d", "n1.conflist")).mode & 0o777, 0o644);
  t.strictSame(readdirSync(join(dir, "net.d")), ["n1.conflist"], "no temporary file left behind");

  const second = await cli(["network", "create", "n2", "--subnet", "10.7.0.0/24", "--subnet", "fd00:7::/64", "--json"]);
  t.equal(second.status, 0, second.err);
  const json = JSON.parse(second.out);
  t.equal(json.path, join(dir, "net.d", "n2.conflist"));
  t.equal(json.config.plugins[0].bridge, "tscni0", "the first free tscniN");

  t.equal((await cli(["network", "create", "n1"])).err, `tscni: network "n1" already exists (${join(dir, "net.d", "n1.conflist")})\n`);
  t.match((await cli(["network", "create", "n3", "--subnet", "10.7.0.0/16"])).err, 'overlaps 10.7.0.0/24 of network "n2"');
  t.match((await cli(["network", "create", "n3", "-o", "bridge=tcliu0"])).err, 'bridge "tcliu0" is already used by network "n1"');
  t.match((await cli(["network", "create", "n.3/x"])).err, 'invalid network name "n.3/x"');
  t.match((await cli(["network", "create", "n3", "--subnet", "300.1.0.0/24"])).err, 'invalid --subnet "300.1.0.0/24"');
  t.match((await cli(["network", "create", "n3", "-d", "macvlan", "--isolation"])).err, "--isolation is for the bridge and vxlan drivers");
  t.match((await cli(["network", "create", "n3", "-d", "vxlan"])).err, "needs --opt vni=N");
  t.match((await cli(["network", "create", "n3", "-o", "colour=red"])).err, 'unknown --opt "colour" for the bridge driver');
  t.equal((await cli(["network", "create", "n3", "-o", "colour=red"])).status, 1);
  t.strictSame(readdirSync(join(dir, "net.d")).sort(), ["n1.conflist", "n2.conflist"], "refusals write nothing");

  writeFileSync(join(dir, "net.d", "00-broken.conflist"), "{");
  const ls = await cli(["network", "ls"]);
  t.equal(ls.status, 0);
  t.match(ls.err, /warning: ignoring .*00-broken.conflist: .*error parsing configuration list/);
  t.strictSame(ls.out.split("\n").map((l) => l.split(/\s+/).slice(0, 4).join(" ")), ["NAME DRIVER SUBNETS ATTACHED", "n1 bridge 10.89.0.0/24 0", "n2 bridge 10.7.0.0/24,fd00:7::/64 0", ""]);
  const lsJson = JSON.parse((await cli(["network", "ls", "--format", "json"])).out);
  t.match(lsJson, [{ name: "n1", driver: "bridge", subnets: ["10.89.0.0/24"], attachments: 0, cniVersion: "1.1.0" }, { name: "n2" }]);
  t.match((await cli(["network", "inspect", "n1"])).err, "00-broken.conflist: error parsing", "like libcni, loading by name stops at a broken file");
  rmSync(join(dir, "net.d", "00-broken.conflist"));

  const inspect = JSON.parse((await cli(["network", "inspect", "n1", "n2"])).out);
  t.match(inspect, [{ name: "n1", config: { name: "n1" }, attachments: [] }, { name: "n2", subnets: ["10.7.0.0/24", "fd00:7::/64"] }]);
  const missing = await cli(["network", "inspect", "n1", "nope"]);
  t.equal(missing.status, 1);
  t.match(missing.err, 'no net configuration with name "nope"');
});

t.test("network connect / inspect / disconnect / rm", async (t) => {
  const { cli, calls, ns, results, dir } = lab(t);
  t.equal((await cli(["network", "create", "web", "-o", "bridge=tcliu1"])).status, 0);
  const a = await cli(["network", "connect", "web", ns("a")]);
  t.equal(a.status, 0, a.err);
  t.equal(a.out, `connected ${ns("a")} to "web" as eth0: 10.89.0.2/24\n`);
  const b = await cli(["network", "connect", "web", "ns/b", "--ip", "10.89.0.50", "--json"]);
  t.match(JSON.parse(b.out), { netns: ns("b"), ifName: "eth0", ips: ["10.89.0.50/24"], mac: "02:00:00:00:00:01", ports: [] });
  t.strictSame(calls.find((c) => c.env.CNI_NETNS === ns("b"))!.conf.runtimeConfig, { ips: ["10.89.0.50"] });

  t.match((await cli(["network", "connect", "web", ns("a")])).err, `${ns("a")} is already connected to network "web" (as eth0)`);
  t.match((await cli(["network", "connect", "web", ns("zz")])).err, `network namespace "${ns("zz")}" not found`);
  t.match((await cli(["network", "connect", "web", ns("c"), "--ip", "10.1.1.1"])).err, '--ip 10.1.1.1 is in none of the subnets of network "web" (10.89.0.0/24)');
  t.match((await cli(["network", "connect", "web", ns("c"), "--ip", "ten"])).err, 'invalid --ip "ten"');
  t.match((await cli(["network", "connect", "nope", ns("c")])).err, 'no net configuration with name "nope"');

  // A second network on the same container gets the next free ethN.
  t.equal((await cli(["network", "create", "db", "-o", "bridge=tcliu2"])).status, 0);
  t.match((await cli(["network", "connect", "db", ns("a")])).out, `connected ${ns("a")} to "db" as eth1: `);

  const inspect = JSON.parse((await cli(["network", "inspect", "web"])).out)[0];
  t.strictSame(
    inspect.attachments.map((x: any) => [x.netns, x.ifName, x.ips, x.netnsPresent]),
    [
      [ns("b"), "eth0", ["10.89.0.50/24"], true],
      [ns("a"), "eth0", ["10.89.0.2/24"], true],
    ].sort((x, y) => (containerIdOf(x[0] as string) < containerIdOf(y[0] as string) ? -1 : 1)),
  );
  t.match(JSON.parse((await cli(["network", "ls", "--format", "json"])).out), [{ name: "db", attachments: 1 }, { name: "web", attachments: 2 }]);

  calls.length = 0;
  t.equal((await cli(["network", "disconnect", "web", ns("a")])).out, `disconnected ${ns("a")} (eth0) from "web"\n`);
  t.strictSame(calls.map((c) => `${c.type} ${c.command} ${c.env.CNI_IFNAME}`), ["portmap DEL eth0", "bridge DEL eth0"]);
  t.match((await cli(["network", "disconnect", "web", ns("a")])).err, `${ns("a")} is not connected to network "web"`);

  const refused = await cli(["network", "rm", "web"]);
  t.equal(refused.status, 1);
  t.match(refused.err, `network "web" has 1 attachment(s): ${ns("b")} (eth0); disconnect them or use --force`);
  t.ok(existsSync(join(dir, "net.d", "web.conflist")));
  calls.length = 0;
  const forced = await cli(["network", "rm", "web", "--force"]);
  t.equal(forced.status, 0, forced.err);
  t.equal(forced.out, `disconnected ${ns("b")} (eth0)\nremoved network "web": ${join(dir, "net.d", "web.conflist")}\n`);
  t.strictSame(calls.map((c) => `${c.type} ${c.command} ${c.env.CNI_NETNS}`), [`portmap DEL ${ns("b")}`, `bridge DEL ${ns("b")}`]);
  t.notOk(existsSync(join(dir, "net.d", "web.conflist")));
  t.strictSame(results(), [`db-${containerIdOf(ns("a"))}-eth1`]);
  t.match((await cli(["network", "rm", "web"])).err, 'no net configuration with name "web"');
});

t.test("disconnect works from the cached configuration when the conflist is gone", async (t) => {
  const { cli, calls, ns, dir, results } = lab(t);
  t.equal((await cli(["network", "create", "tmp", "-o", "bridge=tcliu3"])).status, 0);
  t.equal((await cli(["network", "connect", "tmp", ns("a")])).status, 0);
  rmSync(join(dir, "net.d", "tmp.conflist"));
  calls.length = 0;
  t.equal((await cli(["network", "disconnect", "tmp", ns("a")])).status, 0);
  t.strictSame(calls.map((c) => `${c.type} ${c.command} ${c.conf.name}`), ["portmap DEL tmp", "bridge DEL tmp"]);
  t.strictSame(results(), []);
});

t.test("a failed connect is DELed and leaves nothing cached", async (t) => {
  const { cli, calls, ns, conflist, results } = lab(t);
  conflist("failnet", { cniVersion: "1.0.0", name: "failnet", plugins: [{ type: "bridge" }] });
  const r = await cli(["network", "connect", "failnet", ns("a")]);
  t.equal(r.status, 1);
  t.match(r.err, 'plugin "bridge" failed on ADD (code 11): boom; on purpose');
  t.strictSame(calls.map((c) => `${c.type} ${c.command}`), ["bridge ADD", "bridge DEL"]);
  t.strictSame(results(), []);
});

t.test("published ports: portMappings to portmap, free host ports picked, clashes refused", async (t) => {
  const { cli, calls, ns, dir } = lab(t);
  t.equal((await cli(["network", "create", "pub", "-o", "bridge=tcliu4"])).status, 0);
  t.match(JSON.parse(readFileSync(join(dir, "net.d", "pub.conflist"), "utf8")).plugins[1], { type: "portmap", capabilities: { portMappings: true } });
  const r = await cli(["network", "connect", "pub", ns("a"), "-p", "8080:80", "-p", "53/udp", "-p", "127.0.0.1::443"]);
  t.equal(r.status, 0, r.err);
  const mappings = calls.find((c) => c.type === "portmap" && c.command === "ADD")!.conf.runtimeConfig.portMappings;
  t.equal(mappings.length, 3);
  t.strictSame(mappings[0], { containerPort: 80, protocol: "tcp", hostPort: 8080 });
  t.match(mappings[1], { containerPort: 53, protocol: "udp" });
  t.match(mappings[2], { containerPort: 443, protocol: "tcp", hostIP: "127.0.0.1" });
  t.ok(mappings[1].hostPort >= 1024 && mappings[2].hostPort >= 1024);
  t.match(r.out, `  0.0.0.0:8080->80/tcp\n  0.0.0.0:${mappings[1].hostPort}->53/udp\n  127.0.0.1:${mappings[2].hostPort}->443/tcp\n`);
  t.match((await cli(["network", "connect", "pub", ns("b"), "-p", "8080:80"])).err, "host port 8080/tcp is already mapped by another attachment");
  t.match(JSON.parse((await cli(["network", "inspect", "pub"])).out)[0].attachments[0].ports, mappings);
  calls.length = 0;
  t.equal((await cli(["network", "disconnect", "pub", ns("a")])).status, 0);
  t.strictSame(calls[0]!.conf.runtimeConfig, { portMappings: mappings }, "DEL gets the cached mappings back");

  t.equal((await cli(["network", "create", "nopub", "-o", "bridge=tcliu5", "-d", "bridge"])).status, 0);
  rmSync(join(dir, "bin", "portmap"));
  t.equal((await cli(["network", "create", "nopub2", "-o", "bridge=tcliu6"])).status, 0);
  t.match((await cli(["network", "connect", "nopub2", ns("a"), "-p", "80"])).err, 'network "nopub2" cannot publish ports: none of its plugins has the "portMappings" capability');
});

t.test("install: links every name, keeps foreign plugins, refuses to replace ours without --force", async (t) => {
  const { cli, dir } = lab(t);
  writeFileSync(join(dir, "self"), "#!/bin/true\nfake tscni\n", { mode: 0o755 });
  const target = join(dir, "opt-cni-bin");
  const first = await cli(["install", "--dir", target, "--json"]);
  t.equal(first.status, 0, first.err);
  t.strictSame(JSON.parse(first.out), ["bridge", "loopback", "tscni"].map((name) => ({ name, path: join(target, name), action: "linked" })));
  const ino = statSync(join(dir, "self")).ino;
  t.ok(["bridge", "loopback", "tscni"].every((n) => statSync(join(target, n)).ino === ino), "hard links to the executable");
  t.match((await cli(["install", "--dir", target])).out, /bridge\s+unchanged/);

  rmSync(join(target, "bridge"));
  writeFileSync(join(target, "bridge"), "someone else's bridge", { mode: 0o755 });
  writeFileSync(join(target, "flannel"), "a plugin of another name", { mode: 0o755 });
  const refused = await cli(["install", "--dir", target]);
  t.equal(refused.status, 1);
  t.equal(refused.err, `tscni: ${target} already has bridge: not replacing it without --force\n`);
  t.equal(readFileSync(join(target, "bridge"), "utf8"), "someone else's bridge", "nothing changed");
  const forced = await cli(["install", "--dir", target, "--force"]);
  t.equal(forced.status, 0);
  t.match(forced.out, /bridge\s+replaced/);
  t.match(forced.out, /loopback\s+unchanged/);
  t.equal(statSync(join(target, "bridge")).ino, ino);
  t.equal(readFileSync(join(target, "flannel"), "utf8"), "a plugin of another name", "other names are kept");
  t.strictSame(readdirSync(target).sort(), ["bridge", "flannel", "loopback", "tscni"], "no temporary files");
});

t.test("install onto another filesystem: one copy, the other names linked to it", { skip: !existsSync("/dev/shm") && "no /dev/shm" }, async (t) => {
  const { cli, dir } = lab(t);
  writeFileSync(join(dir, "self"), "#!/bin/true\nfake tscni\n", { mode: 0o755 });
  if (statSync("/dev/shm").dev === statSync(dir).dev) return t.pass("/dev/shm is on the test dir's filesystem", { skip: "same filesystem" });
  const target = join("/dev/shm", `tcli-install-${process.pid}`);
  t.teardown(() => rmSync(target, { recursive: true, force: true }));
  const r = JSON.parse((await cli(["install", "--dir", target, "--json"])).out) as Array<{ name: string; action: string }>;
  t.strictSame(r.map((s) => s.action), ["copied", "linked", "linked"]);
  const inos = new Set(["bridge", "loopback", "tscni"].map((n) => statSync(join(target, n)).ino));
  t.equal(inos.size, 1);
  t.equal(statSync(join(target, "tscni")).mode & 0o777, 0o755);
  t.match((await cli(["install", "--dir", target])).out, /tscni\s+unchanged/, "an identical copy counts as installed");
});

t.test("--ip goes to CNI_ARGS IP= when no plugin has the ips capability", async (t) => {
  const { cli, calls, ns, conflist } = lab(t);
  conflist("plain", { cniVersion: "1.0.0", name: "plain", plugins: [{ type: "bridge", ipam: { type: "host-local", subnet: "10.89.0.0/24" } }] });
  t.equal((await cli(["network", "connect", "plain", ns("a"), "--ip", "10.89.0.9"])).status, 0);
  t.equal(calls[0]!.env.CNI_ARGS, "IgnoreUnknown=1;IP=10.89.0.9");
  t.notOk(calls[0]!.conf.runtimeConfig);
  const two = await cli(["network", "connect", "plain", ns("b"), "--ip", "10.89.0.10", "--ip", "10.89.0.11"]);
  t.equal(two.status, 1);
  t.match(two.err, 'network "plain" takes one --ip');
});
