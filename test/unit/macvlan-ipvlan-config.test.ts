// Config parsing of macvlan and ipvlan: defaults, validation codes, MAC priority, chained master.
import t from "tap";
import { parseConfig as parseIpvlan } from "../../plugins/ipvlan/config.ts";
import { parseConfig as parseMacvlan } from "../../plugins/macvlan/config.ts";
import { caught } from "../helpers/assert.ts";

const base = { cniVersion: "1.1.0", name: "n", type: "macvlan" };
const noArgs = new Map<string, string>();

t.test("macvlan defaults", async (t) => {
  t.same(parseMacvlan(base, noArgs), {
    master: undefined,
    mode: "bridge",
    mtu: undefined,
    mac: undefined,
    linkInContainer: false,
    bcqueuelen: undefined,
    ipamType: undefined,
    dns: undefined,
  });
});

t.test("macvlan keys", async (t) => {
  const cfg = parseMacvlan(
    { ...base, master: "eth1", mode: "source", mtu: 1400, linkInContainer: true, bcqueuelen: 100, ipam: { type: "host-local" }, dns: { nameservers: ["10.0.0.53"], search: [] } },
    noArgs,
  );
  t.match(cfg, { master: "eth1", mode: "source", mtu: 1400, linkInContainer: true, bcqueuelen: 100, ipamType: "host-local", dns: { nameservers: ["10.0.0.53"] } });
  t.notOk("search" in (cfg.dns ?? {}), "empty lists are dropped");
  t.equal(parseMacvlan({ ...base, mtu: 0, bcqueuelen: 0 }, noArgs).mtu, undefined, "0 means unset");
});

t.test("macvlan MAC priority: runtimeConfig > args.cni > CNI_ARGS > mac", async (t) => {
  const all = { ...base, mac: "02:00:00:00:00:01", args: { cni: { mac: "02:00:00:00:00:03" } }, runtimeConfig: { mac: "02:00:00:00:00:04" } };
  const env = new Map([["MAC", "02:00:00:00:00:02"]]);
  const hex = (config: Record<string, unknown>, args = env) => parseMacvlan(config, args).mac?.toString("hex");
  t.equal(hex(all), "020000000004");
  t.equal(hex({ ...all, runtimeConfig: {} }), "020000000003");
  t.equal(hex({ ...all, runtimeConfig: {}, args: {} }), "020000000002");
  t.equal(hex({ ...all, runtimeConfig: {}, args: {} }, noArgs), "020000000001");
  t.equal(parseMacvlan(all).mac, undefined, "no MAC read without CNI_ARGS (DEL, GC, STATUS)");
});

t.test("macvlan errors", async (t) => {
  const code = (config: Record<string, unknown>, args = noArgs) => caught(() => parseMacvlan({ ...base, ...config }, args));
  t.match(code({ mode: "bridged" }), { code: 7, message: 'unknown macvlan mode "bridged"', details: "want one of private, vepa, bridge, passthru, source" });
  t.match(code({ mtu: -1 }), { code: 7, message: /invalid "mtu"/ });
  t.match(code({ mtu: 1.5 }), { code: 7 });
  t.match(code({ bcqueuelen: 2 ** 32 }), { code: 7, message: /invalid "bcqueuelen"/ });
  t.match(code({ master: 5 }), { code: 7, message: 'invalid "master": must be a string, got 5' });
  t.match(code({ linkInContainer: "yes" }), { code: 7 });
  t.match(code({ mac: "ff:ff:ff:ff:ff:ff" }), { code: 7, details: /unicast/ });
  t.match(code({ mac: "00:00:00:00:00:00" }), { code: 7 });
  t.match(code({}, new Map([["MAC", "x"]])), { code: 4, message: 'invalid CNI_ARGS MAC "x"' });
  t.match(code({}, new Map([["FOO", "1"]])), { code: 4 });
  t.same(parseMacvlan(base, new Map([["IgnoreUnknown", "1"], ["FOO", "1"]])).mac, undefined, "IgnoreUnknown");
  t.match(code({ ipam: "host-local" }), { code: 7, message: "ipam must be an object" });
  t.match(code({ dns: { nameservers: "10.0.0.53" } }), { code: 7, message: /dns\.nameservers/ });
});

t.test("ipvlan keys, defaults and errors", async (t) => {
  const ipv = { ...base, type: "ipvlan" };
  t.match(parseIpvlan(ipv, undefined), { master: undefined, mode: "l2", flag: undefined, linkInContainer: false });
  t.match(parseIpvlan({ ...ipv, mode: "l3s", flag: "vepa", mtu: 1400 }, undefined), { mode: "l3s", flag: "vepa", mtu: 1400 });
  t.match(caught(() => parseIpvlan({ ...ipv, mode: "l4" }, undefined)), { code: 7, message: 'unknown ipvlan mode "l4"' });
  t.match(caught(() => parseIpvlan({ ...ipv, flag: "promisc" }, undefined)), { code: 7, message: 'unknown ipvlan flag "promisc"' });
});

t.test("ipvlan master from a chained prevResult", async (t) => {
  const ipv = { ...base, type: "ipvlan" };
  const prev = (names: string[]) => ({ cniVersion: "1.1.0", interfaces: names.map((name) => ({ name })) });
  t.equal(parseIpvlan(ipv, prev(["vf0"])).master, "vf0", "the single interface");
  t.equal(parseIpvlan({ ...ipv, master: "eth1" }, prev(["vf0"])).master, "eth1", "an explicit master wins");
  for (const names of [[], ["a", "b"], [""]]) {
    t.match(caught(() => parseIpvlan(ipv, prev(names))), { code: 7, message: /chained master failure/ }, JSON.stringify(names));
  }
});
