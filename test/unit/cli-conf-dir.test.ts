// lib/runtime/conf-dir.ts: libcni's LoadNetworkConf, as the CLI uses it.
import { join } from "node:path";
import t from "tap";
import { loadNetworkList, readNetworkDir, RuntimeError } from "../../lib/runtime/index.ts";
import { caught } from "../helpers/assert.ts";

const conflist = (name: string, extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge" }], ...extra });

t.test("conflists sorted by file name win over single-plugin confs; the first of a name wins", async (t) => {
  const dir = t.testdir({
    "20-b.conflist": conflist("net", { plugins: [{ type: "second" }] }),
    "10-a.conflist": conflist("net", { plugins: [{ type: "first" }] }),
    "05-conf.conf": JSON.stringify({ cniVersion: "0.4.0", name: "net", type: "conf" }),
    "06-other.json": JSON.stringify({ cniVersion: "0.4.0", name: "solo", type: "solo-plugin" }),
    "notes.txt": "ignored",
    "dir.conflist": {},
  });
  const found = loadNetworkList(dir, "net");
  t.equal(found.path, join(dir, "10-a.conflist"));
  t.equal(found.list.plugins[0]!.type, "first");
  const solo = loadNetworkList(dir, "solo");
  t.strictSame(solo.list.plugins.map((p) => p.type), ["solo-plugin"]);
  t.equal(solo.list.cniVersion, "0.4.0");
  t.strictSame(readNetworkDir(dir).networks.map((n) => n.list.name), ["net", "net", "net", "solo"]);
});

t.test("plugins from <dir>/<name>/*.conf are appended unless loadOnlyInlinedPlugins", async (t) => {
  const dir = t.testdir({
    "a.conflist": JSON.stringify({ cniVersion: "1.0.0", name: "a" }),
    a: { "01.conf": JSON.stringify({ type: "tuning" }), "00.conf": JSON.stringify({ type: "portmap" }), "x.json": "{}" },
    "b.conflist": conflist("b", { plugins: [{ type: "bridge" }], loadOnlyInlinedPlugins: true }),
    b: { "00.conf": JSON.stringify({ type: "portmap" }) },
    "c.conflist": JSON.stringify({ cniVersion: "1.0.0", name: "c", loadOnlyInlinedPlugins: "true" }),
  });
  t.strictSame(loadNetworkList(dir, "a").list.plugins.map((p) => p.type), ["portmap", "tuning"]);
  t.strictSame(loadNetworkList(dir, "b").list.plugins.map((p) => p.type), ["bridge"]);
  t.match(caught(() => loadNetworkList(dir, "c")).message, "no plugins in list");
});

t.test("errors name the directory, the network or the file", async (t) => {
  const empty = t.testdir({});
  t.match(caught(() => loadNetworkList(empty, "x")), { constructor: RuntimeError, message: `no net configurations found in ${empty}` });
  t.match(caught(() => loadNetworkList(join(empty, "missing"), "x")).message, "no net configurations found");
  const dir = t.testdir({ "a.conflist": conflist("a") });
  t.match(caught(() => loadNetworkList(dir, "zzz")).message, `no net configuration with name "zzz" in ${dir}`);
  const broken = t.testdir({ "a.conflist": "{not json", "b.conflist": conflist("b"), "c.conf": JSON.stringify({ name: "c" }) });
  t.match(caught(() => loadNetworkList(broken, "b")).message, `${join(broken, "a.conflist")}: error parsing configuration list`, "like libcni, a broken file on the way is an error");
  const all = readNetworkDir(broken);
  t.strictSame(all.networks.map((n) => n.list.name), ["b"]);
  t.strictSame(all.broken.map((b) => b.path), [join(broken, "a.conflist"), join(broken, "c.conf")]);
  t.match(all.broken[1]!.error.message, "configuration has no type");
});
