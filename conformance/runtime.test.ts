// The runtime driver itself, against fake plugins (no namespaces, no root): what libcni injects,
// the order it calls plugins in, the cache it keeps, and its version gates.
import t from "tap";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  addNetworkList,
  cachePath,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  getCachedAttachments,
  parseNetworkList,
  PluginError,
  RuntimeError,
  statusNetworkList,
  versionOf,
  type ExecOutcome,
  type ExecRequest,
  type RuntimeConf,
  type RuntimeOptions,
} from "../lib/runtime/index.ts";

interface Call {
  plugin: string;
  env: Record<string, string>;
  conf: Record<string, unknown>;
}

/** Fake plugins `a` and `b`: records each call, answers with `reply(call)` (default: ADD echoes a result). */
function fakeRuntime(t: { teardown(fn: () => void): void }, reply?: (call: Call) => ExecOutcome | undefined) {
  const dir = mkdtempSync(join(tmpdir(), "tcf-rt-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ["a", "b"]) {
    writeFileSync(join(dir, name), "");
    chmodSync(join(dir, name), 0o755);
  }
  const calls: Call[] = [];
  const exec = ({ path, env, stdin }: ExecRequest): ExecOutcome => {
    const call = { plugin: path.slice(dir.length + 1), env, conf: JSON.parse(stdin.toString() || "{}") as Record<string, unknown> };
    calls.push(call);
    const custom = reply?.(call);
    if (custom) return custom;
    if (env.CNI_COMMAND !== "ADD") return { status: 0, stdout: Buffer.alloc(0) };
    const prev = (call.conf.prevResult ?? { cniVersion: call.conf.cniVersion, ips: [] }) as { ips: unknown[] };
    const result = { ...prev, ips: [...prev.ips, { address: `10.0.0.${prev.ips.length + 1}/24` }] };
    return { status: 0, stdout: Buffer.from(JSON.stringify(result)) };
  };
  const opts: RuntimeOptions = { path: [dir], cacheDir: join(dir, "cache"), exec, env: { PATH: "/usr/bin", CNI_IGNORED: "x" } };
  return { opts, calls, dir };
}

const list = (cniVersion: string, extra: Record<string, unknown> = {}) =>
  parseNetworkList(JSON.stringify({ cniVersion, name: "net1", ...extra, plugins: [{ type: "a", capabilities: { portMappings: true, mac: false } }, { type: "b", keep: 1 }] }));

const rt: RuntimeConf = {
  containerId: "ctr1",
  netns: "/run/netns/x",
  ifName: "eth0",
  args: [["K8S_POD_NAME", "p"], ["IgnoreUnknown", "1"]],
  capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: "tcp" }], mac: "c2:00:00:00:00:01" },
};

t.test("ADD chains prevResult, injects name/cniVersion/runtimeConfig, caches the final result", async (t) => {
  const { opts, calls } = fakeRuntime(t);
  const l = list("1.0.0");
  const result = addNetworkList(opts, l, rt);
  t.same(calls.map((c) => [c.plugin, c.env.CNI_COMMAND]), [["a", "ADD"], ["b", "ADD"]]);
  const [a, b] = calls;
  t.same(a!.env, {
    PATH: "/usr/bin",
    CNI_IGNORED: "x",
    CNI_CONTAINERID: "ctr1",
    CNI_NETNS: "/run/netns/x",
    CNI_ARGS: "K8S_POD_NAME=p;IgnoreUnknown=1",
    CNI_IFNAME: "eth0",
    CNI_COMMAND: "ADD",
    CNI_PATH: opts.path[0],
  });
  t.same(a!.conf, { type: "a", capabilities: { portMappings: true, mac: false }, name: "net1", cniVersion: "1.0.0", runtimeConfig: { portMappings: rt.capabilityArgs!.portMappings } }, "only enabled and supplied capabilities");
  t.notOk("prevResult" in a!.conf, "the first plugin gets no prevResult");
  t.notOk("runtimeConfig" in b!.conf, "no runtimeConfig for a plugin without capabilities");
  t.same(b!.conf.prevResult, { cniVersion: "1.0.0", ips: [{ address: "10.0.0.1/24" }] });
  t.same(result, { cniVersion: "1.0.0", ips: [{ address: "10.0.0.1/24" }, { address: "10.0.0.2/24" }] });

  const file = cachePath(opts, "net1", rt);
  t.equal(file, join(opts.cacheDir, "results", "net1-ctr1-eth0"));
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(statSync(join(opts.cacheDir, "results")).mode & 0o777, 0o700);
  const entry = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  t.same(Object.keys(entry), ["kind", "containerId", "config", "ifName", "networkName", "netns", "cniArgs", "capabilityArgs", "result"]);
  t.equal(entry.kind, "cniCacheV1");
  t.equal(Buffer.from(entry.config as string, "base64").toString(), l.bytes.toString());
  t.same(entry.result, result);
  t.same(entry.cniArgs, rt.args);
});

t.test("a result without cniVersion speaks the config's version", async (t) => {
  const { opts } = fakeRuntime(t, (call) => (call.env.CNI_COMMAND === "ADD" ? { status: 0, stdout: Buffer.from('{"ips":[]}') } : undefined));
  t.same(addNetworkList(opts, list("0.4.0"), rt), { ips: [], cniVersion: "0.4.0" });
});

t.test("CHECK runs forward with the cached result; DEL runs backwards and drops the cache", async (t) => {
  const { opts, calls } = fakeRuntime(t);
  const l = list("1.0.0");
  const result = addNetworkList(opts, l, rt);
  calls.length = 0;
  checkNetworkList(opts, l, rt);
  delNetworkList(opts, l, rt);
  t.same(calls.map((c) => [c.plugin, c.env.CNI_COMMAND]), [["a", "CHECK"], ["b", "CHECK"], ["b", "DEL"], ["a", "DEL"]]);
  for (const call of calls) t.same(call.conf.prevResult, result, `${call.plugin} ${call.env.CNI_COMMAND} gets the final ADD result`);
  t.same(getCachedAttachments(opts), [], "the cache entry is gone");
  calls.length = 0;
  delNetworkList(opts, l, rt);
  t.same(calls.map((c) => c.conf.prevResult), [undefined, undefined], "a second DEL runs without prevResult");
});

t.test("the cached result is converted to the list's version", async (t) => {
  const { opts, calls } = fakeRuntime(t, (call) =>
    call.env.CNI_COMMAND === "ADD" ? { status: 0, stdout: Buffer.from('{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.1/24"}]}') } : undefined,
  );
  addNetworkList(opts, list("1.0.0"), rt);
  checkNetworkList(opts, list("0.4.0"), rt);
  t.same(calls.at(-1)!.conf.prevResult, { cniVersion: "0.4.0", ips: [{ version: "4", address: "10.0.0.1/24" }], dns: {} });
});

t.test("version gates: no prevResult on DEL before 0.4.0, no CHECK before 0.4.0, disableCheck", async (t) => {
  const { opts, calls } = fakeRuntime(t);
  addNetworkList(opts, list("0.3.1"), rt);
  calls.length = 0;
  t.throws(() => checkNetworkList(opts, list("0.3.1"), rt), new RuntimeError('configuration version "0.3.1" does not support the CHECK command'));
  checkNetworkList(opts, list("1.0.0", { disableCheck: "true" }), rt);
  delNetworkList(opts, list("0.3.1"), rt);
  t.same(calls.map((c) => [c.plugin, c.env.CNI_COMMAND, "prevResult" in c.conf]), [["b", "DEL", false], ["a", "DEL", false]]);
});

t.test("a failing plugin stops the chain with its error; nothing is cached", async (t) => {
  const { opts, calls } = fakeRuntime(t, (call) =>
    call.plugin === "a" ? { status: 1, stdout: Buffer.from('{"code":7,"msg":"bad","details":"why"}'), stderr: Buffer.alloc(0) } : undefined,
  );
  const err = t.throws(() => addNetworkList(opts, list("1.0.0"), rt)) as unknown as PluginError;
  t.match(err, { name: "PluginError", plugin: "a", command: "ADD", code: 7, message: "bad", details: "why" });
  t.equal(calls.length, 1);
  t.same(getCachedAttachments(opts), []);
});

t.test("libcni's wording when a plugin fails without error JSON", async (t) => {
  const silent = fakeRuntime(t, () => ({ status: 2, stdout: Buffer.alloc(0), stderr: Buffer.from("boom\n") }));
  t.throws(() => addNetworkList(silent.opts, list("1.0.0"), rt), { message: 'netplugin failed: "boom"' });
  const mute = fakeRuntime(t, () => ({ status: 2, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }));
  t.throws(() => addNetworkList(mute.opts, list("1.0.0"), rt), { message: "netplugin failed with no error message" });
});

t.test("GC DELs stale cached attachments, then GCs every plugin at 1.1.0", async (t) => {
  const { opts, calls } = fakeRuntime(t);
  const l = list("1.1.0");
  const keep = { ...rt, containerId: "keep" };
  const stale = { ...rt, containerId: "stale", netns: "/run/netns/stale" };
  addNetworkList(opts, l, keep);
  addNetworkList(opts, l, stale);
  t.same(getCachedAttachments(opts, "stale").map((a) => [a.containerId, a.netns, a.args]), [["stale", "/run/netns/stale", rt.args]]);
  calls.length = 0;
  const valid = [{ containerID: "keep", ifname: "eth0" }];
  gcNetworkList(opts, l, valid);
  t.same(calls.map((c) => [c.plugin, c.env.CNI_COMMAND, c.env.CNI_CONTAINERID, c.env.CNI_NETNS]), [
    ["b", "DEL", "stale", "/run/netns/stale"],
    ["a", "DEL", "stale", "/run/netns/stale"],
    ["a", "GC", "", ""],
    ["b", "GC", "", ""],
  ]);
  t.same(calls[2]!.conf["cni.dev/valid-attachments"], valid);
  t.same(calls[2]!.conf["cni.dev/attachments"], valid);
  t.same(getCachedAttachments(opts).map((a) => a.containerId), ["keep"]);

  calls.length = 0;
  gcNetworkList(opts, list("1.0.0"), valid);
  gcNetworkList(opts, list("1.1.0", { disableGC: true }), []);
  t.same(calls, [], "no plugin GC before 1.1.0, nothing at all with disableGC");
});

t.test("GC keeps going and reports every failure", async (t) => {
  const { opts, calls } = fakeRuntime(t, (call) =>
    call.env.CNI_COMMAND === "GC" ? { status: 1, stdout: Buffer.from(`{"code":999,"msg":"${call.plugin} failed"}`) } : undefined,
  );
  t.throws(() => gcNetworkList(opts, list("1.1.0"), []), { message: "a failed; b failed" });
  t.equal(calls.length, 2);
});

t.test("STATUS is a no-op before 1.1.0 and stops at the first failure", async (t) => {
  const { opts, calls } = fakeRuntime(t, (call) => (call.plugin === "a" ? { status: 1, stdout: Buffer.from('{"code":50,"msg":"not ready"}') } : undefined));
  statusNetworkList(opts, list("1.0.0"));
  t.equal(calls.length, 0);
  t.throws(() => statusNetworkList(opts, list("1.1.0")), { code: 50, message: "not ready" });
  t.same(calls.map((c) => [c.plugin, c.env.CNI_COMMAND]), [["a", "STATUS"]]);
});

t.test("versionOf asks like libcni and understands old plugins", async (t) => {
  const modern = fakeRuntime(t, () => ({ status: 0, stdout: Buffer.from('{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.1.0"]}') }));
  t.same(versionOf(modern.opts, "a"), { cniVersion: "1.1.0", supportedVersions: ["0.4.0", "1.1.0"] });
  const call = modern.calls[0]!;
  t.same(call.conf, { cniVersion: "1.1.0" });
  t.match(call.env, { CNI_COMMAND: "VERSION", CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy" });
  const v020 = fakeRuntime(t, () => ({ status: 0, stdout: Buffer.from('{"cniVersion":"0.2.0"}') }));
  t.same(versionOf(v020.opts, "a").supportedVersions, ["0.1.0", "0.2.0"]);
  const v010 = fakeRuntime(t, () => ({ status: 1, stdout: Buffer.from('{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}') }));
  t.same(versionOf(v010.opts, "a").supportedVersions, ["0.1.0"]);
});

t.test("parseNetworkList picks the version and reads flags like libcni", async (t) => {
  t.equal(parseNetworkList('{"name":"n","cniVersion":"0.4.0","cniVersions":["1.0.0","1.1.0","9.0.0"],"plugins":[{"type":"a"}]}').cniVersion, "1.1.0");
  t.equal(parseNetworkList('{"name":"n","plugins":[{"type":"a"}],"disableGC":"true"}').disableGC, true);
  t.throws(() => parseNetworkList('{"name":"n","plugins":[]}'), RuntimeError);
  t.throws(() => parseNetworkList('{"name":"n","plugins":[{}]}'), { message: "plugins[0] has no type" });
  t.throws(() => parseNetworkList('{"plugins":[{"type":"a"}]}'), RuntimeError);
});
