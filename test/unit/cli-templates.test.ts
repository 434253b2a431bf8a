import t from "tap";
import { CliError } from "../../cli/context.ts";
import { planSubnets } from "../../cli/network/subnets.ts";
import { buildConflist, parseOpts, type NetworkSpec } from "../../cli/network/templates.ts";
import { parseNetworkList } from "../../lib/runtime/index.ts";
import { caught } from "../helpers/assert.ts";

const spec = (over: Partial<NetworkSpec> & { subnets?: string[]; opt?: string[] } = {}): NetworkSpec => ({
  name: "net1",
  driver: "bridge",
  plans: planSubnets({ subnets: over.subnets ?? ["10.5.0.0/24"], gateways: [], ipRanges: [] }, []),
  internal: false,
  isolation: false,
  opts: parseOpts(over.opt ?? []),
  portmap: false,
  ...over,
});

const refused = (fn: () => unknown) => {
  const e = caught(fn);
  if (!(e instanceof CliError)) throw e;
  return e.message;
};

t.test("bridge: gateway on the bridge, masquerade, default route, ips capability; portmap chained when present", async (t) => {
  const conf = buildConflist(spec({ opt: ["bridge=br-x", "mtu=1400"], portmap: true, ipamDataDir: "/tmp/leases" }));
  t.strictSame(conf, {
    cniVersion: "1.0.0",
    cniVersions: ["1.0.0", "1.1.0"],
    name: "net1",
    plugins: [
      {
        type: "bridge",
        bridge: "br-x",
        mtu: 1400,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        capabilities: { ips: true },
        ipam: { type: "host-local", ranges: [[{ subnet: "10.5.0.0/24", gateway: "10.5.0.1" }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: "/tmp/leases" },
      },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
    ],
  });
  const list = parseNetworkList(JSON.stringify(conf));
  t.equal(list.cniVersion, "1.1.0", "our runtime speaks 1.1.0 to it");
});

t.test("--internal: no masquerade, no routes; --isolation sets the bridge key; dual stack gets a default route per family", async (t) => {
  const internal = buildConflist(spec({ internal: true, isolation: true })).plugins as Array<Record<string, any>>;
  t.equal(internal[0]!.ipMasq, false);
  t.equal(internal[0]!.isolation, true);
  t.strictSame(internal[0]!.ipam.routes, []);
  const dual = buildConflist(spec({ subnets: ["10.5.0.0/24", "fd00:5::/64"] })).plugins as Array<Record<string, any>>;
  t.strictSame(dual[0]!.ipam.routes, [{ dst: "0.0.0.0/0" }, { dst: "::/0" }]);
  t.strictSame(dual[0]!.ipam.ranges, [[{ subnet: "10.5.0.0/24", gateway: "10.5.0.1" }], [{ subnet: "fd00:5::/64", gateway: "fd00:5::1" }]]);
});

t.test("macvlan and ipvlan: parent becomes master; no portmap, no isolation", async (t) => {
  const mac = buildConflist(spec({ driver: "macvlan", opt: ["parent=eth9", "mode=private"], portmap: true })).plugins as Array<Record<string, any>>;
  t.equal(mac.length, 1, "containers are not behind the host: no portmap");
  t.match(mac[0], { type: "macvlan", master: "eth9", mode: "private", capabilities: { ips: true } });
  t.notOk("ipMasq" in mac[0]!);
  const ipv = buildConflist(spec({ driver: "ipvlan", opt: ["parent=eth9", "mode=l3"] })).plugins as Array<Record<string, any>>;
  t.match(ipv[0], { type: "ipvlan", master: "eth9", mode: "l3" });
  t.match(refused(() => buildConflist(spec({ driver: "macvlan", isolation: true }))), "--isolation is for the bridge and vxlan drivers, not macvlan");
  t.match(refused(() => buildConflist(spec({ driver: "macvlan", opt: ["bridge=x"] }))), 'unknown --opt "bridge" for the macvlan driver (known: parent, mode, mtu)');
});

t.test("vxlan: vni required, this host's subnet, peers", async (t) => {
  const conf = buildConflist(spec({ driver: "vxlan", opt: ["vni=42", "peer=192.0.2.2,10.5.1.0/24", "peer=192.0.2.3"], portmap: true })).plugins as Array<Record<string, any>>;
  t.match(conf[0], { type: "vxlan", vni: 42, subnet: "10.5.0.0/24", ipMasq: true, peers: [{ ip: "192.0.2.2", subnet: "10.5.1.0/24" }, { ip: "192.0.2.3" }] });
  t.equal(conf[1]!.type, "portmap");
  t.match(refused(() => buildConflist(spec({ driver: "vxlan" }))), "needs --opt vni=N");
  t.match(refused(() => buildConflist(spec({ driver: "vxlan", opt: ["vni=1"], subnets: ["10.5.0.0/24", "10.6.0.0/24"] }))), "exactly one --subnet");
  t.match(refused(() => buildConflist(spec({ driver: "vxlan", opt: ["vni=1", "peer=a,b,c"] }))), "want UNDERLAY_IP or UNDERLAY_IP,SUBNET");
});

t.test("--opt values", async (t) => {
  t.strictSame([...parseOpts(["a=1", "b=x=y", "a=2"])], [["a", ["1", "2"]], ["b", ["x=y"]]]);
  t.match(refused(() => parseOpts(["novalue"])), 'invalid --opt "novalue": want KEY=VALUE');
  t.match(refused(() => parseOpts(["=1"])), "want KEY=VALUE");
  t.match(refused(() => buildConflist(spec({ opt: ["mtu=big"] }))), "invalid --opt mtu=big: want a positive integer");
  t.match(refused(() => buildConflist(spec({ opt: ["mtu=0"] }))), "want a positive integer");
  t.match(refused(() => buildConflist(spec({ opt: ["mtu=1400", "mtu=1500"] }))), "--opt mtu given 2 times");
});
