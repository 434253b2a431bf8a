// libcni (through test/libcni-driver, a minimal runtime of ours built against Debian's libcni 1.1.2,
// the library cnitool and the runtimes use) drives our plugins; and libcni and tscni each undo what
// the other did, through the one result cache. "cnitool" below is that driver: it takes cnitool's
// environment and container IDs.
//
// libcni 1.1.2 always uses /var/lib/cni, so the driver runs in a private mount namespace with a test
// dir bound over /var/lib (nothing of this machine's /var/lib is touched).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import t, { type Test } from "tap";
import { inNs, ipJson, isRoot } from "../helpers/netns.ts";
import { DIST_BIN } from "../helpers/plugin-exec.ts";
import { cliLab } from "../helpers/tscni.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const ROOT = resolve(import.meta.dirname, "../..");
const SOURCE = join(ROOT, "test/libcni-driver/main.go");
const CACHE = join(ROOT, "test/.cache");
const CNITOOL = join(CACHE, "libcni-driver");
const GOCODE = "/usr/share/gocode";

/** Builds the driver once (GOPATH mode, offline: Debian's golang-go and golang-github-appc-cni-dev). */
function buildCnitool(): string | undefined {
  if (!existsSync("/usr/bin/go") || !existsSync(join(GOCODE, "src/github.com/containernetworking/cni/libcni"))) {
    return "the libcni driver needs Debian's golang-go and golang-github-appc-cni-dev (scripts/setup-apt-packages.txt)";
  }
  if (existsSync(CNITOOL) && statSync(CNITOOL).mtimeMs >= statSync(SOURCE).mtimeMs) return undefined;
  const gopath = join(CACHE, "libcni-driver-gopath");
  mkdirSync(join(gopath, "src/libcni-driver"), { recursive: true });
  copyFileSync(SOURCE, join(gopath, "src/libcni-driver/main.go"));
  const temp = `${CNITOOL}.${process.pid}`;
  const go = spawnSync("go", ["build", "-o", temp, "."], {
    cwd: join(gopath, "src/libcni-driver"),
    env: {
      PATH: process.env.PATH,
      HOME: CACHE,
      GO111MODULE: "off",
      GOPATH: `${gopath}:${GOCODE}`,
      GOCACHE: join(CACHE, "go-build"),
      GOPROXY: "off",
      GOFLAGS: "",
      CGO_ENABLED: "0",
    },
    encoding: "utf8",
  });
  if (go.status !== 0) return `building the libcni driver failed: ${go.stderr}`;
  renameSync(temp, CNITOOL);
  return undefined;
}

const problem = buildCnitool();
if (problem) {
  t.fail(problem);
  process.exit(1);
}

const CONFLIST = {
  cniVersion: "1.0.0",
  name: "tool",
  plugins: [{ type: "bridge", bridge: "tcli-br1", isGateway: true, capabilities: { ips: true }, ipam: { type: "host-local", ranges: [[{ subnet: "10.72.0.0/24" }]] } }],
};

function lab(t: Test) {
  const l = cliLab(t, "tcgo");
  const varLib = join(l.cacheDir, "..", "var-lib");
  mkdirSync(join(varLib, "cni"), { recursive: true });
  const cacheDir = join(varLib, "cni");
  const conflist = { ...CONFLIST, plugins: [{ ...CONFLIST.plugins[0], ipam: { ...CONFLIST.plugins[0]!.ipam, dataDir: join(varLib, "leases") } }] };
  const confText = JSON.stringify(conflist);
  writeFileSync(join(l.confDir, "tool.conflist"), confText);
  const cnitool = (verb: string, netns: string, env: Record<string, string> = {}) => {
    const child = spawnSync(
      "unshare",
      ["--mount", "--propagation", "private", "sh", "-c", 'mount --bind "$1" /var/lib && shift && exec ip netns exec "$@"', "sh", varLib, l.host.name, CNITOOL, verb, "tool", netns],
      { env: { PATH: process.env.PATH, NETCONFPATH: l.confDir, CNI_PATH: DIST_BIN, ...env }, encoding: "utf8", timeout: 60_000 },
    );
    return { status: child.status ?? 128, stdout: child.stdout, stderr: child.stderr };
  };
  const tscni = (args: string[], env: Record<string, string> = {}) => l.run(args, { CNI_CACHE_DIR: cacheDir, ...env });
  const results = () => (existsSync(join(cacheDir, "results")) ? readdirSync(join(cacheDir, "results")).sort() : []);
  const entry = (name: string) => JSON.parse(readFileSync(join(cacheDir, "results", name), "utf8")) as Record<string, unknown>;
  const leases = () => readdirSync(join(varLib, "leases", "tool")).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  return { ...l, cnitool, tscni, results, entry, leases, confText };
}

const addresses = (ns: string) =>
  ipJson<Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>>(ns, ["addr", "show", "dev", "eth0"])
    .flatMap((x) => x.addr_info)
    .filter((a) => a.scope === "global")
    .map((a) => `${a.local}/${a.prefixlen}`);
const hasEth0 = (ns: string) => ipJson<Array<{ ifname: string }>>(ns, ["link"]).some((x) => x.ifname === "eth0");

t.test("cnitool add/check/del drives our plugins", async (t) => {
  const l = lab(t);
  const c = l.container();
  const add = l.cnitool("add", c.path);
  t.equal(add.status, 0, add.stderr);
  t.match(JSON.parse(add.stdout), { cniVersion: "1.0.0", ips: [{ address: "10.72.0.2/24", gateway: "10.72.0.1" }] });
  t.strictSame(addresses(c.name), ["10.72.0.2/24"]);
  t.equal(l.cnitool("check", c.path).status, 0);
  inNs(c.name, "ip", ["addr", "flush", "dev", "eth0"]);
  const check = l.cnitool("check", c.path);
  t.not(check.status, 0, "CHECK fails once the address is gone");
  t.match(check.stderr, "10.72.0.2");
  const del = l.cnitool("del", c.path);
  t.equal(del.status, 0, del.stderr);
  t.notOk(hasEth0(c.name));
  t.strictSame(l.results(), []);
  t.strictSame(l.leases(), []);
});

t.test("tscni checks, inspects and DELs what cnitool added", async (t) => {
  const l = lab(t);
  const c = l.container();
  t.equal(l.cnitool("add", c.path).status, 0);
  const [file] = l.results();
  t.match(file, /^tool-cnitool-[0-9a-f]{20}-eth0$/);
  t.equal(l.tscni(["check", "tool", c.path]).status, 0, "our CHECK got cnitool's cached result as prevResult");
  const inspect = JSON.parse(l.tscni(["network", "inspect", "tool"]).stdout)[0];
  // libcni 1.1.2 records no netns (1.2 added it): the container ID is all there is.
  t.match(inspect.attachments, [{ containerId: file!.slice("tool-".length, -"-eth0".length), netns: "", ifName: "eth0", ips: addresses(c.name) }]);
  t.notOk("netnsPresent" in inspect.attachments[0]);
  t.equal(l.tscni(["gc", "tool"]).status, 0);
  t.strictSame(l.results(), [file], "gc keeps an entry whose netns it cannot know");
  const del = l.tscni(["del", "tool", c.path]);
  t.equal(del.status, 0, del.stderr);
  t.notOk(hasEth0(c.name));
  t.strictSame(l.results(), [], "same container ID, same cache entry: ours removed cnitool's");
  t.strictSame(l.leases(), []);
});

t.test("cnitool checks and DELs what tscni added", async (t) => {
  const l = lab(t);
  const c = l.container();
  const add = l.tscni(["add", "tool", c.path]);
  t.equal(add.status, 0, add.stderr);
  const check = l.cnitool("check", c.path);
  t.equal(check.status, 0, `libcni read our cache entry (bridge CHECK needs the prevResult): ${check.stderr}`);
  const del = l.cnitool("del", c.path);
  t.equal(del.status, 0, del.stderr);
  t.notOk(hasEth0(c.name));
  t.strictSame(l.results(), []);
  t.strictSame(l.leases(), []);
});

t.test("both write the same cache entry", async (t) => {
  const l = lab(t);
  const [c1, c2] = [l.container(), l.container()];
  const env = { CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=web", CAP_ARGS: '{"ips":["10.72.0.50"],"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}' };
  t.equal(l.cnitool("add", c1.path, { ...env, CAP_ARGS: env.CAP_ARGS.replace("10.72.0.50", "10.72.0.51") }).status, 0);
  t.equal(l.tscni(["add", "tool", c2.path], env).status, 0);
  const id = (netns: string) => `cnitool-${createHash("sha512").update(netns).digest("hex").slice(0, 20)}`;
  const theirs = l.entry(`tool-${id(c1.path)}-eth0`);
  const ours = l.entry(`tool-${id(c2.path)}-eth0`);
  t.strictSame(Object.keys(ours).filter((k) => k !== "netns").sort(), Object.keys(theirs).sort(), "the same keys, plus netns (libcni >= 1.2 writes it too)");
  t.equal(ours.netns, c2.path);
  for (const key of ["kind", "config", "ifName", "networkName", "cniArgs"]) t.strictSame(ours[key], theirs[key], key);
  t.equal(Buffer.from(ours.config as string, "base64").toString(), l.confText, "config is the conflist's bytes");
  t.strictSame(ours.capabilityArgs, JSON.parse(env.CAP_ARGS));
  t.match(ours.result, { cniVersion: "1.0.0", ips: [{ address: "10.72.0.50/24" }] });
  t.match(theirs.result, { cniVersion: "1.0.0", ips: [{ address: "10.72.0.51/24" }] });
  t.equal(l.tscni(["del", "tool", c1.path], env).status, 0);
  t.equal(l.cnitool("del", c2.path, env).status, 0);
  t.strictSame(l.results(), []);
});
