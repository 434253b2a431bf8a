import t from "tap";
import { convertResult, formatResult, parseResult, type Result } from "../../lib/cni/result.ts";

// Expected values are written by hand from cni/pkg/types/{020,040,100} (see cni-features.md 1.6-1.7);
// the formatted goldens marked "captured" are stdout of Debian's Go host-local 1.1.1.

const rich: Result = {
  cniVersion: "1.1.0",
  interfaces: [
    { name: "cni0", mac: "0a:58:0a:f4:00:01" },
    { name: "veth1a2b3c4d", mac: "5e:2f:9a:10:aa:01", mtu: 1450 },
    {
      name: "eth0",
      mac: "0a:58:0a:f4:00:05",
      mtu: 1450,
      sandbox: "/var/run/netns/cni-1234",
      socketPath: "/run/vhost-user/eth0.sock",
      pciID: "0000:04:00.5",
    },
  ],
  ips: [
    { interface: 2, address: "10.244.0.5/24", gateway: "10.244.0.1" },
    { interface: 2, address: "10.245.0.5/24" },
    { interface: 2, address: "fd00:10:244::5/64", gateway: "fd00:10:244::1" },
    { interface: 2, address: "fd00:10:245::5/64" },
  ],
  routes: [
    { dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, advmss: 1360, priority: 100, table: 0, scope: 0 },
    { dst: "10.96.0.0/12" },
    { dst: "::/0", gw: "fd00:10:244::1", table: 100 },
  ],
  dns: {
    nameservers: ["10.96.0.10"],
    domain: "cluster.local",
    search: ["default.svc.cluster.local", "svc.cluster.local"],
    options: ["ndots:5"],
  },
};

const richDns = {
  nameservers: ["10.96.0.10"],
  domain: "cluster.local",
  search: ["default.svc.cluster.local", "svc.cluster.local"],
  options: ["ndots:5"],
};

// 0.1.0/0.2.0: first address per family, routes by dst family with dst+gw only.
const richLegacy = {
  ip4: {
    ip: "10.244.0.5/24",
    gateway: "10.244.0.1",
    routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1" }, { dst: "10.96.0.0/12" }],
  },
  ip6: {
    ip: "fd00:10:244::5/64",
    gateway: "fd00:10:244::1",
    routes: [{ dst: "::/0", gw: "fd00:10:244::1" }],
  },
  dns: richDns,
};

// 0.3.x/0.4.0: version added, interfaces cut to name/mac/sandbox, routes untouched (Go quirk).
const richV04 = {
  interfaces: [
    { name: "cni0", mac: "0a:58:0a:f4:00:01" },
    { name: "veth1a2b3c4d", mac: "5e:2f:9a:10:aa:01" },
    { name: "eth0", mac: "0a:58:0a:f4:00:05", sandbox: "/var/run/netns/cni-1234" },
  ],
  ips: [
    { version: "4", interface: 2, address: "10.244.0.5/24", gateway: "10.244.0.1" },
    { version: "4", interface: 2, address: "10.245.0.5/24" },
    { version: "6", interface: 2, address: "fd00:10:244::5/64", gateway: "fd00:10:244::1" },
    { version: "6", interface: 2, address: "fd00:10:245::5/64" },
  ],
  routes: [
    { dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, advmss: 1360, priority: 100, table: 0, scope: 0 },
    { dst: "10.96.0.0/12" },
    { dst: "::/0", gw: "fd00:10:244::1", table: 100 },
  ],
  dns: richDns,
};

// 1.0.0/1.1.0: everything (Go converts between them by changing cniVersion only).
const richV1 = {
  interfaces: [
    { name: "cni0", mac: "0a:58:0a:f4:00:01" },
    { name: "veth1a2b3c4d", mac: "5e:2f:9a:10:aa:01", mtu: 1450 },
    {
      name: "eth0",
      mac: "0a:58:0a:f4:00:05",
      mtu: 1450,
      sandbox: "/var/run/netns/cni-1234",
      socketPath: "/run/vhost-user/eth0.sock",
      pciID: "0000:04:00.5",
    },
  ],
  ips: [
    { interface: 2, address: "10.244.0.5/24", gateway: "10.244.0.1" },
    { interface: 2, address: "10.245.0.5/24" },
    { interface: 2, address: "fd00:10:244::5/64", gateway: "fd00:10:244::1" },
    { interface: 2, address: "fd00:10:245::5/64" },
  ],
  routes: [
    { dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, advmss: 1360, priority: 100, table: 0, scope: 0 },
    { dst: "10.96.0.0/12" },
    { dst: "::/0", gw: "fd00:10:244::1", table: 100 },
  ],
  dns: richDns,
};

// What host-local returns: no interfaces, one address per family.
const dualStack: Result = {
  cniVersion: "1.1.0",
  ips: [
    { address: "10.99.0.2/24", gateway: "10.99.0.1" },
    { address: "fd00:99::2/64", gateway: "fd00:99::1" },
  ],
  routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0", gw: "fd00:99::1" }],
};

const dualStackLegacy = {
  ip4: { ip: "10.99.0.2/24", gateway: "10.99.0.1", routes: [{ dst: "0.0.0.0/0" }] },
  ip6: { ip: "fd00:99::2/64", gateway: "fd00:99::1", routes: [{ dst: "::/0", gw: "fd00:99::1" }] },
  dns: {},
};

const dualStackV04 = {
  ips: [
    { version: "4", address: "10.99.0.2/24", gateway: "10.99.0.1" },
    { version: "6", address: "fd00:99::2/64", gateway: "fd00:99::1" },
  ],
  routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0", gw: "fd00:99::1" }],
  dns: {},
};

const dualStackV1 = {
  ips: [
    { address: "10.99.0.2/24", gateway: "10.99.0.1" },
    { address: "fd00:99::2/64", gateway: "fd00:99::1" },
  ],
  routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0", gw: "fd00:99::1" }],
};

// What a pure L2 plugin (no IPAM) returns.
const l2Only: Result = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "eth0", mac: "02:42:ac:11:00:02", mtu: 9000, sandbox: "/proc/4242/ns/net" }],
};

const l2OnlyV04 = { interfaces: [{ name: "eth0", mac: "02:42:ac:11:00:02", sandbox: "/proc/4242/ns/net" }], dns: {} };
const l2OnlyV1 = { interfaces: [{ name: "eth0", mac: "02:42:ac:11:00:02", mtu: 9000, sandbox: "/proc/4242/ns/net" }] };

const conversions: Array<[name: string, from: Result, toVersion: string, expected: object | "no-ips-error"]> = [
  ["rich", rich, "0.1.0", { cniVersion: "0.1.0", ...richLegacy }],
  ["rich", rich, "0.2.0", { cniVersion: "0.2.0", ...richLegacy }],
  ["rich", rich, "0.3.0", { cniVersion: "0.3.0", ...richV04 }],
  ["rich", rich, "0.3.1", { cniVersion: "0.3.1", ...richV04 }],
  ["rich", rich, "0.4.0", { cniVersion: "0.4.0", ...richV04 }],
  ["rich", rich, "1.0.0", { cniVersion: "1.0.0", ...richV1 }],
  ["rich", rich, "1.1.0", { cniVersion: "1.1.0", ...richV1 }],
  ["dual-stack", dualStack, "0.1.0", { cniVersion: "0.1.0", ...dualStackLegacy }],
  ["dual-stack", dualStack, "0.2.0", { cniVersion: "0.2.0", ...dualStackLegacy }],
  ["dual-stack", dualStack, "0.3.0", { cniVersion: "0.3.0", ...dualStackV04 }],
  ["dual-stack", dualStack, "0.3.1", { cniVersion: "0.3.1", ...dualStackV04 }],
  ["dual-stack", dualStack, "0.4.0", { cniVersion: "0.4.0", ...dualStackV04 }],
  ["dual-stack", dualStack, "1.0.0", { cniVersion: "1.0.0", ...dualStackV1 }],
  ["dual-stack", dualStack, "1.1.0", { cniVersion: "1.1.0", ...dualStackV1 }],
  ["l2-only", l2Only, "0.1.0", "no-ips-error"],
  ["l2-only", l2Only, "0.2.0", "no-ips-error"],
  ["l2-only", l2Only, "0.3.0", { cniVersion: "0.3.0", ...l2OnlyV04 }],
  ["l2-only", l2Only, "0.3.1", { cniVersion: "0.3.1", ...l2OnlyV04 }],
  ["l2-only", l2Only, "0.4.0", { cniVersion: "0.4.0", ...l2OnlyV04 }],
  ["l2-only", l2Only, "1.0.0", { cniVersion: "1.0.0", ...l2OnlyV1 }],
  ["l2-only", l2Only, "1.1.0", { cniVersion: "1.1.0", ...l2OnlyV1 }],
];

t.test("convertResult: every result to every version", async (t) => {
  for (const [name, from, toVersion, expected] of conversions) {
    if (expected === "no-ips-error") {
      t.throws(
        () => convertResult(from, toVersion),
        { code: 1, message: "cannot convert: no valid IP addresses" },
        `${name} → ${toVersion} fails`,
      );
    } else {
      t.strictSame(convertResult(from, toVersion), expected, `${name} → ${toVersion}`);
    }
  }
});

t.test("convertResult: 0.x drops routes of a family without an address", async (t) => {
  const v4Only: Result = {
    cniVersion: "1.1.0",
    ips: [{ address: "10.99.0.2/24", gateway: "10.99.0.1" }],
    routes: [{ dst: "10.96.0.0/12", gw: "10.99.0.254" }, { dst: "::/0" }],
  };
  t.strictSame(convertResult(v4Only, "0.1.0"), {
    cniVersion: "0.1.0",
    ip4: { ip: "10.99.0.2/24", gateway: "10.99.0.1", routes: [{ dst: "10.96.0.0/12", gw: "10.99.0.254" }] },
    dns: {},
  });
});

t.test("convertResult: Go zero values are omitted, table/scope 0 kept", async (t) => {
  const zeros: Result = {
    cniVersion: "1.1.0",
    interfaces: [{ name: "eth0", mac: "", mtu: 0, sandbox: "" }],
    ips: [{ address: "10.0.0.2/8", gateway: "", interface: 0 }],
    routes: [{ dst: "0.0.0.0/0", gw: "", mtu: 0, advmss: 0, priority: 0, table: 0, scope: 0 }],
    dns: { nameservers: [], domain: "", search: [], options: [] },
  };
  t.strictSame(convertResult(zeros, "1.1.0"), {
    cniVersion: "1.1.0",
    interfaces: [{ name: "eth0" }],
    ips: [{ interface: 0, address: "10.0.0.2/8" }],
    routes: [{ dst: "0.0.0.0/0", table: 0, scope: 0 }],
  });
  t.strictSame(convertResult({ cniVersion: "1.1.0", interfaces: [], ips: [], routes: [] }, "1.0.0"), { cniVersion: "1.0.0" });
});

t.test("convertResult: unsupported target version", async (t) => {
  t.throws(() => convertResult(dualStack, "0.5.0"), { code: 1, message: /unsupported CNI version "0.5.0"/ });
  t.throws(() => convertResult(dualStack, ""), { code: 1 });
});

t.test("formatResult: Go's MarshalIndent text", async (t) => {
  // captured: host-local 1.1.1, cniVersion 0.2.0, ranges 10.99.0.0/24 (gw .1) + fd00:99::/64
  const capturedV02 = `{
    "cniVersion": "0.2.0",
    "ip4": {
        "ip": "10.99.0.2/24",
        "gateway": "10.99.0.1",
        "routes": [
            {
                "dst": "0.0.0.0/0"
            }
        ]
    },
    "ip6": {
        "ip": "fd00:99::2/64",
        "gateway": "fd00:99::1",
        "routes": [
            {
                "dst": "::/0",
                "gw": "fd00:99::1"
            }
        ]
    },
    "dns": {}
}`;
  // captured: the same request at cniVersion 0.4.0
  const capturedV04 = `{
    "cniVersion": "0.4.0",
    "ips": [
        {
            "version": "4",
            "address": "10.99.0.2/24",
            "gateway": "10.99.0.1"
        },
        {
            "version": "6",
            "address": "fd00:99::2/64",
            "gateway": "fd00:99::1"
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0"
        },
        {
            "dst": "::/0",
            "gw": "fd00:99::1"
        }
    ],
    "dns": {}
}`;
  t.equal(formatResult(convertResult(dualStack, "0.2.0")), capturedV02);
  t.equal(formatResult(convertResult(dualStack, "0.4.0")), capturedV04);
  t.equal(
    formatResult(convertResult(l2Only, "1.1.0")),
    `{
    "cniVersion": "1.1.0",
    "interfaces": [
        {
            "name": "eth0",
            "mac": "02:42:ac:11:00:02",
            "mtu": 9000,
            "sandbox": "/proc/4242/ns/net"
        }
    ]
}`,
  );
});

t.test("formatResult: escapes like Go's encoding/json", async (t) => {
  t.equal(formatResult({ socketPath: "/run/a<b>&c\u2028" }), '{\n    "socketPath": "/run/a\\u003cb\\u003e\\u0026c\\u2028"\n}');
});

t.test("parseResult: each version into the 1.1.0 shape", async (t) => {
  const legacyJson = {
    ip4: {
      ip: "10.244.0.5/24",
      gateway: "10.244.0.1",
      routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1" }, { dst: "10.96.0.0/12" }],
    },
    ip6: { ip: "fd00:10:244::5/64", gateway: "fd00:10:244::1", routes: [{ dst: "::/0" }] },
    dns: { nameservers: ["10.96.0.10"], domain: "cluster.local" },
  };
  const legacyParsed = {
    cniVersion: "1.1.0",
    ips: [
      { address: "10.244.0.5/24", gateway: "10.244.0.1" },
      { address: "fd00:10:244::5/64", gateway: "fd00:10:244::1" },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1" }, { dst: "10.96.0.0/12" }, { dst: "::/0" }],
    dns: { nameservers: ["10.96.0.10"], domain: "cluster.local" },
  };
  t.strictSame(parseResult({ cniVersion: "0.1.0", ...legacyJson }, "1.1.0"), legacyParsed, "0.1.0");
  t.strictSame(parseResult({ cniVersion: "0.2.0", ...legacyJson }, "1.1.0"), legacyParsed, "0.2.0");
  t.strictSame(parseResult(legacyJson, "0.2.0"), legacyParsed, "no cniVersion: the fallback decides");
  t.strictSame(
    parseResult({ cniVersion: "0.2.0", ip6: { ip: "fd00::2/64" }, dns: {} }, "0.2.0"),
    { cniVersion: "1.1.0", ips: [{ address: "fd00::2/64" }] },
    "0.2.0 with ip6 only",
  );

  const v04Json = {
    interfaces: [
      { name: "veth1a2b3c4d", mac: "5e:2f:9a:10:aa:01" },
      // 0.x interfaces have no mtu/socketPath/pciID: Go's 0.4.0 type drops them
      { name: "eth0", mac: "0a:58:0a:f4:00:05", sandbox: "/var/run/netns/cni-1234", mtu: 1450, pciID: "0000:04:00.5" },
    ],
    ips: [
      { version: "4", interface: 1, address: "10.244.0.5/24", gateway: "10.244.0.1" },
      { version: "6", interface: 1, address: "fd00:10:244::5/64" },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, table: 0 }],
    dns: {},
  };
  const v04Parsed = {
    cniVersion: "1.1.0",
    interfaces: [
      { name: "veth1a2b3c4d", mac: "5e:2f:9a:10:aa:01" },
      { name: "eth0", mac: "0a:58:0a:f4:00:05", sandbox: "/var/run/netns/cni-1234" },
    ],
    ips: [
      { address: "10.244.0.5/24", gateway: "10.244.0.1", interface: 1 },
      { address: "fd00:10:244::5/64", interface: 1 },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, table: 0 }],
  };
  for (const version of ["0.3.0", "0.3.1", "0.4.0"]) {
    t.strictSame(parseResult({ cniVersion: version, ...v04Json }, "1.1.0"), v04Parsed, version);
  }

  const v1Json = {
    interfaces: [
      { name: "eth0", mac: "0a:58:0a:f4:00:05", mtu: 1450, sandbox: "/var/run/netns/cni-1234", socketPath: "/s.sock", pciID: "0000:04:00.5" },
    ],
    ips: [{ interface: 0, address: "10.244.0.5/24", gateway: "10.244.0.1" }],
    routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, advmss: 1360, priority: 100, table: 254, scope: 0 }],
    dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"], options: ["ndots:5"] },
  };
  const v1Parsed = {
    cniVersion: "1.1.0",
    interfaces: [
      { name: "eth0", mac: "0a:58:0a:f4:00:05", mtu: 1450, sandbox: "/var/run/netns/cni-1234", socketPath: "/s.sock", pciID: "0000:04:00.5" },
    ],
    ips: [{ address: "10.244.0.5/24", gateway: "10.244.0.1", interface: 0 }],
    routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, advmss: 1360, priority: 100, table: 254, scope: 0 }],
    dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"], options: ["ndots:5"] },
  };
  t.strictSame(parseResult({ cniVersion: "1.0.0", ...v1Json }, "0.1.0"), v1Parsed, "1.0.0");
  t.strictSame(parseResult({ cniVersion: "1.1.0", ...v1Json }, "0.1.0"), v1Parsed, "1.1.0");
});

t.test("parseResult: null, empty strings and Go zero values count as absent", async (t) => {
  t.strictSame(
    parseResult(
      {
        cniVersion: "1.1.0",
        interfaces: null,
        ips: [{ address: "10.0.0.2/8", gateway: "", interface: null }],
        routes: [{ dst: "0.0.0.0/0", gw: null, mtu: 0, priority: 0, scope: 0 }],
        dns: { nameservers: [], domain: "" },
      },
      "1.1.0",
    ),
    { cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/8" }], routes: [{ dst: "0.0.0.0/0", scope: 0 }] },
  );
});

t.test("parseResult: round trip of what convertResult prints", async (t) => {
  t.strictSame(parseResult(convertResult(rich, "1.0.0"), "1.0.0"), rich);
  t.strictSame(parseResult(convertResult(dualStack, "0.2.0"), "0.2.0"), dualStack);
});

t.test("parseResult: bad input", async (t) => {
  const bad: Array<[input: unknown, code: number, message: string | RegExp]> = [
    ["nope", 6, 'invalid CNI result: result must be an object, got "nope"'],
    [[], 6, "invalid CNI result: result must be an object, got []"],
    [{ cniVersion: 1 }, 6, "invalid CNI result: result.cniVersion must be a string, got 1"],
    [{ cniVersion: "0.5.0" }, 1, 'unsupported CNI result version "0.5.0"'],
    [{ cniVersion: "1.1.0", ips: {} }, 6, "invalid CNI result: result.ips must be a list, got {}"],
    [{ cniVersion: "1.1.0", ips: [{}] }, 6, "invalid CNI result: result.ips[0].address must be a string, got nothing"],
    [
      { cniVersion: "1.1.0", ips: [{ address: "10.0.0.2" }] },
      6,
      'invalid CNI result: result.ips[0].address must be an IP address with prefix length, got "10.0.0.2"',
    ],
    [{ cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/33" }] }, 6, /address must be an IP address with prefix length/],
    [{ cniVersion: "1.1.0", ips: [{ address: "fd00::2/129" }] }, 6, /address must be an IP address with prefix length/],
    [{ cniVersion: "1.1.0", ips: [{ address: "010.0.0.2/8" }] }, 6, /address must be an IP address with prefix length/],
    [{ cniVersion: "1.1.0", ips: [{ address: "fd00:::2/64" }] }, 6, /address must be an IP address with prefix length/],
    [
      { cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/8", gateway: "10.0.0.256" }] },
      6,
      'invalid CNI result: result.ips[0].gateway must be an IP address, got "10.0.0.256"',
    ],
    [
      { cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/8", interface: 1.5 }] },
      6,
      "invalid CNI result: result.ips[0].interface must be an integer, got 1.5",
    ],
    [
      { cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/8", interface: -1 }] },
      6,
      "invalid CNI result: result.ips[0].interface must be an index into interfaces, got -1",
    ],
    [{ cniVersion: "1.1.0", interfaces: [{ mac: "x" }] }, 6, "invalid CNI result: result.interfaces[0].name must be a string, got nothing"],
    [{ cniVersion: "1.1.0", interfaces: [{ name: "eth0", mtu: "1500" }] }, 6, 'invalid CNI result: result.interfaces[0].mtu must be an integer, got "1500"'],
    [{ cniVersion: "1.1.0", routes: [{ gw: "10.0.0.1" }] }, 6, "invalid CNI result: result.routes[0].dst must be a string, got nothing"],
    [{ cniVersion: "1.1.0", dns: { nameservers: "10.0.0.53" } }, 6, 'invalid CNI result: result.dns.nameservers must be a list of strings, got "10.0.0.53"'],
    [{ cniVersion: "0.2.0", ip4: "10.0.0.2/8" }, 6, 'invalid CNI result: result.ip4 must be an object, got "10.0.0.2/8"'],
    [{ cniVersion: "0.2.0", ip4: { ip: "10.0.0.2/8", routes: [{ dst: "nope" }] } }, 6, /result\.ip4\.routes\[0\]\.dst must be an IP address with prefix length/],
  ];
  for (const [input, code, message] of bad) {
    t.throws(() => parseResult(input, "1.1.0"), { code, message }, JSON.stringify(input));
  }
});
