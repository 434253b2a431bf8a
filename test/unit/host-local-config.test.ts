import t from "tap";
import { parseCniArgs } from "../../lib/cni/args.ts";
import type { PluginContext } from "../../lib/cni/skel.ts";
import type { CniVersion } from "../../lib/cni/version.ts";
import { formatIp, parseIp, type IpAddress } from "../../lib/ip/address.ts";
import { assignRequestedIps } from "../../lib/ipam/allocator.ts";
import { capacityOf, formatRange, type RangeSet } from "../../lib/ipam/range-set.ts";
import { parseResolvConf } from "../../lib/ipam/resolv-conf.ts";
import { roundRobin } from "../../lib/ipam/round-robin.ts";
import { DEFAULT_DATA_DIR, parseConfig, storeLocation, validAttachments } from "../../plugins/host-local/config.ts";
import { caught } from "../helpers/assert.ts";

function ctxOf(config: Record<string, unknown>, opts: { args?: string; cniVersion?: CniVersion } = {}): PluginContext {
  const full = { cniVersion: opts.cniVersion ?? "1.1.0", name: "thl-net", ...config };
  return {
    env: { command: "ADD", containerId: "c1", netns: "/x", ifname: "eth0", args: opts.args ?? "", path: [] },
    cniArgs: parseCniArgs(opts.args),
    config: full,
    cniVersion: opts.cniVersion ?? "1.1.0",
    prevResult: undefined,
    stdin: Buffer.from(JSON.stringify(full)),
    processEnv: {},
    log: () => {},
  };
}

const parse = (ipam: Record<string, unknown>, rest: Record<string, unknown> = {}, opts = {}) =>
  parseConfig(ctxOf({ ipam: { type: "host-local", ...ipam }, ...rest }, opts));

const describe = (sets: RangeSet[]) =>
  sets.map((set) => set.map((r) => `${formatRange(r)} gw ${formatIp(r.gateway)} /${r.subnet.prefixLength}`));

const ip = parseIp;

t.test("ranges: defaults like Go's Range.Canonicalize", async (t) => {
  const config = parse({ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00:1::/64" }]] });
  t.strictSame(describe(config.rangeSets), [
    ["10.1.0.1-10.1.0.254 gw 10.1.0.1 /24"],
    ["fd00:1::1-fd00:1::ffff:ffff:ffff:ffff gw fd00:1::1 /64"],
  ]);
  t.equal(config.dataDir, DEFAULT_DATA_DIR);
  t.equal(config.name, "thl-net");
  t.strictSame(config.routes, []);
  t.equal(config.resolvConf, undefined);
  t.strictSame(config.requestedIps, []);
});

t.test("ranges: explicit fields, several ranges per set, /30 is the smallest IPv4 subnet", async (t) => {
  const config = parse({
    dataDir: "/tmp/x",
    resolvConf: "/etc/resolv.conf",
    ranges: [
      [
        { subnet: "10.1.0.0/24", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.20", gateway: "10.1.0.254" },
        { subnet: "10.2.0.0/30" },
      ],
    ],
  });
  t.strictSame(describe(config.rangeSets), [["10.1.0.10-10.1.0.20 gw 10.1.0.254 /24", "10.2.0.1-10.2.0.2 gw 10.2.0.1 /30"]]);
  t.equal(config.dataDir, "/tmp/x");
  t.equal(config.resolvConf, "/etc/resolv.conf");
});

t.test("legacy single range, runtimeConfig.ipRanges: order is ipRanges, legacy, ranges", async (t) => {
  const config = parse(
    { subnet: "10.2.0.0/16", rangeStart: "10.2.1.0", rangeEnd: "10.2.1.9", gateway: "10.2.0.1", ranges: [[{ subnet: "10.3.0.0/24" }]] },
    { runtimeConfig: { ipRanges: [[{ subnet: "10.1.0.0/24" }]] } },
  );
  t.strictSame(describe(config.rangeSets), [
    ["10.1.0.1-10.1.0.254 gw 10.1.0.1 /24"],
    ["10.2.1.0-10.2.1.9 gw 10.2.0.1 /16"],
    ["10.3.0.1-10.3.0.254 gw 10.3.0.1 /24"],
  ]);
  t.strictSame(describe(parse({ subnet: "10.2.0.0/16" }).rangeSets), [["10.2.0.1-10.2.255.254 gw 10.2.0.1 /16"]], "legacy alone");
});

t.test("invalid ranges are code 7 naming the key and the value", async (t) => {
  const cases: Array<[ipam: Record<string, unknown>, message: string | RegExp]> = [
    [{ ranges: [[{ subnet: "10.1.0.0/31" }]] }, 'invalid ipam.ranges[0][0].subnet "10.1.0.0/31": network too small to allocate from'],
    [{ ranges: [[{ subnet: "10.1.0.1/32" }]] }, 'invalid ipam.ranges[0][0].subnet "10.1.0.1/32": network too small to allocate from'],
    [{ ranges: [[{ subnet: "fd00::/127" }]] }, 'invalid ipam.ranges[0][0].subnet "fd00::/127": network too small to allocate from'],
    [{ subnet: "10.1.0.5/24" }, 'invalid ipam.subnet "10.1.0.5/24": host bits set'],
    [{ ranges: [[{ subnet: "10.1.0.0" }]] }, 'invalid ipam.ranges[0][0].subnet "10.1.0.0"'],
    [{ ranges: [[{ subnet: "10.1.0.0/33" }]] }, 'invalid ipam.ranges[0][0].subnet "10.1.0.0/33"'],
    [{ ranges: [[{ rangeStart: "10.1.0.1" }]] }, "missing ipam.ranges[0][0].subnet"],
    [{ ranges: [[{ subnet: 24 }]] }, "invalid ipam.ranges[0][0].subnet: must be a string, got 24"],
    [{ ranges: [{ subnet: "10.1.0.0/24" }] }, 'invalid ipam.ranges[0]: must be a list of ranges, got {"subnet":"10.1.0.0/24"}'],
    [{ ranges: [["10.1.0.0/24"]] }, 'invalid ipam.ranges[0][0]: must be an object, got "10.1.0.0/24"'],
    [{ ranges: "10.1.0.0/24" }, 'invalid ipam.ranges: must be a list, got "10.1.0.0/24"'],
    [{ ranges: [[]] }, "invalid ipam.ranges[0]: empty range set"],
    [{ ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.2.0.1" }]] }, 'invalid ipam.ranges[0][0].rangeStart "10.2.0.1": not in subnet 10.1.0.0/24'],
    [{ ranges: [[{ subnet: "10.1.0.0/24", rangeEnd: "fd00::1" }]] }, 'invalid ipam.ranges[0][0].rangeEnd "fd00::1": not in subnet 10.1.0.0/24'],
    [{ ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.9", rangeEnd: "10.1.0.8" }]] }, "invalid ipam.ranges[0][0]: rangeStart 10.1.0.9 is after rangeEnd 10.1.0.8"],
    [{ ranges: [[{ subnet: "10.1.0.0/24", gateway: "fd00::1" }]] }, /^invalid ipam.ranges\[0\]\[0\].gateway "fd00::1": not an IPv4 address/],
    [{ ranges: [[{ subnet: "10.1.0.0/24", gateway: "10.1.0.300" }]] }, 'invalid ipam.ranges[0][0].gateway "10.1.0.300"'],
    [{ ranges: [[{ subnet: "10.1.0.0/24" }, { subnet: "fd00::/64" }]] }, "invalid ipam.ranges[0]: mixed address families"],
    [
      { ranges: [[{ subnet: "10.1.0.0/24" }, { subnet: "10.1.0.0/25", rangeStart: "10.1.0.100" }]] },
      "invalid ipam.ranges[0]: ranges 10.1.0.1-10.1.0.254 and 10.1.0.100-10.1.0.126 overlap",
    ],
    [{ ranges: [[{ subnet: "10.1.0.0/16" }], [{ subnet: "10.1.2.0/24" }]] }, "range set 0 overlaps with 1"],
    [{ subnet: "10.1.0.0/24", ranges: [[{ subnet: "10.1.0.0/24" }]] }, "range set 0 overlaps with 1"],
    [{}, "no IP ranges specified"],
    [{ ranges: [] }, "no IP ranges specified"],
    [{ dataDir: 5, subnet: "10.1.0.0/24" }, "invalid ipam.dataDir: must be a string, got 5"],
  ];
  for (const [ipam, message] of cases) {
    const e = caught(() => parse(ipam));
    t.equal(e.code, 7, JSON.stringify(ipam));
    if (typeof message === "string") t.equal(e.message, message, JSON.stringify(ipam));
    else t.match(e.message, message, JSON.stringify(ipam));
  }
  t.match(caught(() => parseConfig(ctxOf({}))), { code: 7, message: "IPAM config missing 'ipam' key" });
  t.match(caught(() => parseConfig(ctxOf({ ipam: [] }))), { code: 7, message: "invalid ipam: must be an object, got []" });
  t.match(caught(() => parse({ ranges: [[{ subnet: "10.1.0.0/31" }]] })), { details: "an IPv4 subnet needs a prefix length of at most /30" });
  t.match(caught(() => parse({ subnet: "10.1.0.5/24" })), { details: "for a /24 the network address is 10.1.0.0" });
});

t.test("a gateway outside the subnet is accepted, as in Go; rangeStart may be the network address", async (t) => {
  const config = parse({ ranges: [[{ subnet: "10.1.0.0/24", gateway: "10.9.9.9", rangeStart: "10.1.0.0", rangeEnd: "10.1.0.255" }]] });
  t.strictSame(describe(config.rangeSets), [["10.1.0.0-10.1.0.255 gw 10.9.9.9 /24"]]);
});

t.test("before 0.3.0 a result holds one ip4 and one ip6: at most one range set per family", async (t) => {
  const two = { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.2.0.0/24" }]] };
  t.match(caught(() => parse(two, {}, { cniVersion: "0.2.0" })), { code: 7, message: "CNI version 0.2.0 does not support more than 1 address per family" });
  t.equal(parse(two, {}, { cniVersion: "0.3.0" }).rangeSets.length, 2);
  t.equal(parse({ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] }, {}, { cniVersion: "0.1.0" }).rangeSets.length, 2);
});

t.test("routes: validated, canonical text, 1.1.0 fields kept", async (t) => {
  const config = parse({
    subnet: "10.1.0.0/24",
    routes: [{ dst: "0.0.0.0/0" }, { dst: "fd00:0:0::/8", gw: "fd00::0:1", mtu: 1400, advmss: 1360, priority: 5, table: 100, scope: 0 }],
  });
  t.strictSame(config.routes, [{ dst: "0.0.0.0/0" }, { dst: "fd00::/8", gw: "fd00::1", mtu: 1400, advmss: 1360, priority: 5, table: 100, scope: 0 }]);
  t.match(caught(() => parse({ subnet: "10.1.0.0/24", routes: [{ gw: "10.1.0.1" }] })), { code: 7, message: "missing ipam.routes[0].dst" });
  t.match(caught(() => parse({ subnet: "10.1.0.0/24", routes: [{ dst: "10.0.0.0" }] })), { code: 7, message: 'invalid ipam.routes[0].dst "10.0.0.0"' });
  t.match(caught(() => parse({ subnet: "10.1.0.0/24", routes: [{ dst: "10.0.0.0/8", gw: "x" }] })), { code: 7, message: 'invalid ipam.routes[0].gw "x"' });
  t.match(caught(() => parse({ subnet: "10.1.0.0/24", routes: [{ dst: "10.0.0.0/8", mtu: -1 }] })), {
    code: 7,
    message: "invalid ipam.routes[0].mtu: must be a non-negative integer, got -1",
  });
});

t.test("requested IPs: CNI_ARGS IP, args.cni.ips, runtimeConfig.ips, duplicates once", async (t) => {
  const config = parse(
    { subnet: "10.1.0.0/24", ranges: [[{ subnet: "fd00::/64" }]] },
    { args: { cni: { ips: ["10.1.0.7/24", "fd00::7"] } }, runtimeConfig: { ips: ["10.1.0.7", "fd00::8/64"] } },
    { args: "IP=10.1.0.9/24;MAC=c2:11:22:33:44:55" },
  );
  t.strictSame(config.requestedIps.map(formatIp), ["10.1.0.9", "10.1.0.7", "fd00::7", "fd00::8"]);
  t.strictSame(parse({ subnet: "10.1.0.0/24" }, {}, { args: "IP=" }).requestedIps, [], "an empty IP= is no request");
  t.strictSame(
    parse({ subnet: "10.1.0.0/24" }, {}, { args: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.3" }).requestedIps.map(formatIp),
    ["10.1.0.3"],
  );
  t.match(caught(() => parse({ subnet: "10.1.0.0/24" }, {}, { args: "IP=10.1.0.300" })), { code: 4, message: 'CNI_ARGS: invalid IP "10.1.0.300"' });
  t.match(caught(() => parse({ subnet: "10.1.0.0/24" }, {}, { args: "ip=10.1.0.3" })), { code: 4, message: 'CNI_ARGS: unknown keys "ip"' });
  t.match(caught(() => parse({ subnet: "10.1.0.0/24" }, { runtimeConfig: { ips: ["nope"] } })), {
    code: 7,
    message: 'invalid runtimeConfig.ips[0]: must be an IP address, optionally with /prefix, got "nope"',
  });
  t.match(caught(() => parse({ subnet: "10.1.0.0/24" }, { args: { cni: { ips: "10.1.0.3" } } })), {
    code: 7,
    message: 'invalid args.cni.ips: must be a list, got "10.1.0.3"',
  });
});

t.test("storeLocation reads only name and dataDir (DEL, GC)", async (t) => {
  t.strictSame(storeLocation(ctxOf({ ipam: { type: "host-local", dataDir: "/tmp/d", ranges: "broken" } })), { name: "thl-net", dataDir: "/tmp/d" });
  t.strictSame(storeLocation(ctxOf({ ipam: { type: "host-local" } })), { name: "thl-net", dataDir: DEFAULT_DATA_DIR });
});

t.test("validAttachments: the GC list, legacy key, null", async (t) => {
  const list = [{ containerID: "a", ifname: "eth0" }];
  t.strictSame(validAttachments({ "cni.dev/valid-attachments": list }), [{ containerId: "a", ifname: "eth0" }]);
  t.strictSame(validAttachments({ "cni.dev/attachments": list }), [{ containerId: "a", ifname: "eth0" }]);
  t.strictSame(validAttachments({ "cni.dev/valid-attachments": null, "cni.dev/attachments": list }), [{ containerId: "a", ifname: "eth0" }]);
  t.strictSame(validAttachments({}), []);
  t.match(caught(() => validAttachments({ "cni.dev/valid-attachments": [{ containerID: "a" }] })), {
    code: 7,
    message: 'invalid cni.dev/valid-attachments[0]: want {"containerID": "...", "ifname": "..."}, got {"containerID":"a"}',
  });
});

const setOf = (ipam: Record<string, unknown>): RangeSet[] => parse(ipam).rangeSets;
const order = (set: RangeSet, last?: string, limit = 100): string[] => {
  const out: string[] = [];
  for (const c of roundRobin(set, last === undefined ? undefined : ip(last))) {
    out.push(formatIp(c.ip));
    if (out.length === limit) break;
  }
  return out;
};

t.test("round robin: start after last_reserved_ip, skip gateways, wrap across ranges", async (t) => {
  const [set] = setOf({ ranges: [[{ subnet: "10.1.0.0/29" }, { subnet: "10.2.0.0/29", rangeStart: "10.2.0.3", rangeEnd: "10.2.0.4" }]] });
  const all = ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6", "10.2.0.3", "10.2.0.4"];
  t.strictSame(order(set!), all, "no last: from the first rangeStart (the gateway .1 skipped)");
  t.strictSame(order(set!, "10.1.0.4"), [...all.slice(3), ...all.slice(0, 3)], "after the last one, wrapping, the last one at the end");
  t.strictSame(order(set!, "10.2.0.4"), all, "last at the very end: wraps to the start");
  t.strictSame(order(set!, "10.2.0.3"), ["10.2.0.4", ...all.slice(0, 6)]);
  t.strictSame(order(set!, "10.9.0.1"), all, "last outside the set (config changed): from the start");
  t.strictSame(order(set!, "10.1.0.1"), [...all.slice(0, 7)], "last = the gateway (a range changed): next address");
  const [gwInside] = setOf({ ranges: [[{ subnet: "10.1.0.0/29", gateway: "10.1.0.4" }]] });
  t.strictSame(order(gwInside!), ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.5", "10.1.0.6"], "a gateway in the middle is skipped");
  t.equal(capacityOf(gwInside!), 5n);
  t.equal(capacityOf(set!), 7n);
  const [v6] = setOf({ ranges: [[{ subnet: "fd00::/64" }]] });
  t.strictSame(order(v6!, "fd00::ffff:ffff:ffff:fffe", 3), ["fd00::ffff:ffff:ffff:ffff", "fd00::2", "fd00::3"], "IPv6 ranges include the last address");
  t.equal(capacityOf(v6!), 2n ** 64n - 2n);
});

t.test("assignRequestedIps: one per set, first set that contains it", async (t) => {
  const sets = setOf({ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.2.0.0/24" }, { subnet: "10.3.0.0/24" }], [{ subnet: "fd00::/64" }]] });
  const fmt = (list: Array<IpAddress | undefined>) => list.map((x) => x && formatIp(x));
  t.strictSame(fmt(assignRequestedIps(sets, [ip("10.3.0.9"), ip("fd00::9")])), [undefined, "10.3.0.9", "fd00::9"]);
  t.strictSame(fmt(assignRequestedIps(sets, [])), [undefined, undefined, undefined]);
  t.match(caught(() => assignRequestedIps(sets, [ip("10.1.0.1")])), { code: 7, message: "requested ip 10.1.0.1 is subnet's gateway" });
  t.match(caught(() => assignRequestedIps(sets, [ip("10.9.0.1"), ip("10.1.0.5")])), { code: 7, message: "failed to allocate all requested IPs: 10.9.0.1" });
  t.match(caught(() => assignRequestedIps(sets, [ip("10.2.0.5"), ip("10.3.0.5")])), {
    code: 7,
    message: "failed to allocate all requested IPs: 10.3.0.5",
    details: /one per set/,
  });
  t.match(caught(() => assignRequestedIps(sets, [ip("10.1.0.255")])), { code: 7, message: "failed to allocate all requested IPs: 10.1.0.255" }, "broadcast is outside the default range");
});

t.test("resolv.conf", async (t) => {
  const text = "# comment\n; other comment\nnameserver 10.0.0.53\nnameserver  fd00::53 \ndomain a.example\ndomain b.example\nsearch x.example y.example\noptions ndots:5\noptions edns0 rotate\nsortlist 10.0.0.0\nnameserver\n";
  t.strictSame(parseResolvConf(text), {
    nameservers: ["10.0.0.53", "fd00::53"],
    domain: "b.example",
    search: ["x.example", "y.example"],
    options: ["ndots:5", "edns0", "rotate"],
  });
  t.strictSame(parseResolvConf(""), {});
});
