import t from "tap";
import { CliError } from "../../cli/context.ts";
import { planSubnets, subnetsOf, usedSubnets, type SubnetPlan, type UsedSubnet } from "../../cli/network/subnets.ts";
import { formatIp, formatPrefix, parsePrefix } from "../../lib/ip/address.ts";
import { parseNetworkList } from "../../lib/runtime/index.ts";
import { caught } from "../helpers/assert.ts";

const plan = (subnets: string[], more: { gateways?: string[]; ipRanges?: string[] } = {}, used: UsedSubnet[] = []) =>
  planSubnets({ subnets, gateways: more.gateways ?? [], ipRanges: more.ipRanges ?? [] }, used).map(show);

const show = (p: SubnetPlan) =>
  [formatPrefix(p.subnet), formatIp(p.gateway), p.rangeStart && formatIp(p.rangeStart), p.rangeEnd && formatIp(p.rangeEnd)].filter(Boolean).join(" ");

const used = (network: string, subnet: string): UsedSubnet => ({ network, path: `/etc/cni/net.d/${network}.conflist`, subnet: parsePrefix(subnet) });

const refused = (fn: () => unknown) => {
  const e = caught(fn);
  if (!(e instanceof CliError)) throw e;
  return e.message;
};

t.test("gateway defaults to the first address; --gateway and --ip-range go to the subnet holding them", async (t) => {
  t.strictSame(plan(["10.1.0.0/24"]), ["10.1.0.0/24 10.1.0.1"]);
  t.strictSame(plan(["10.1.0.0/24", "fd00:1::/64"], { gateways: ["fd00:1::fe"], ipRanges: ["10.1.0.128/25"] }), [
    "10.1.0.0/24 10.1.0.1 10.1.0.128 10.1.0.254",
    "fd00:1::/64 fd00:1::fe",
  ]);
  t.strictSame(plan(["10.1.0.0/24"], { ipRanges: ["10.1.0.0/26"] }), ["10.1.0.0/24 10.1.0.1 10.1.0.1 10.1.0.63"], "the network address is not handed out");
});

t.test("no --subnet: the first /24 of 10.89.0.0/16 that no network uses", async (t) => {
  t.strictSame(plan([]), ["10.89.0.0/24 10.89.0.1"]);
  t.strictSame(plan([], {}, [used("a", "10.89.0.0/24"), used("b", "10.89.1.128/25")]), ["10.89.2.0/24 10.89.2.1"]);
  t.match(refused(() => plan([], {}, [used("all", "10.89.0.0/16")])), "no free /24 left in 10.89.0.0/16");
  t.match(refused(() => plan([], { gateways: ["10.89.0.1"] })), "--gateway and --ip-range need --subnet");
});

t.test("overlaps with existing networks and with each other are refused, naming both", async (t) => {
  t.match(refused(() => plan(["10.2.0.0/16"], {}, [used("web", "10.2.3.0/24")])), 'subnet 10.2.0.0/16 overlaps 10.2.3.0/24 of network "web" (/etc/cni/net.d/web.conflist)');
  t.match(refused(() => plan(["10.2.0.0/24", "10.2.0.128/25"])), "--subnet 10.2.0.128/25 overlaps --subnet 10.2.0.0/24");
  t.strictSame(plan(["10.3.0.0/24"], {}, [used("web", "10.2.0.0/24"), used("v6", "fd00::/64")]), ["10.3.0.0/24 10.3.0.1"]);
});

t.test("bad values", async (t) => {
  t.match(refused(() => plan(["10.1.0.0"])), 'invalid --subnet "10.1.0.0": want a CIDR');
  t.match(refused(() => plan(["10.1.0.300/24"])), "want a CIDR");
  t.match(refused(() => plan(["10.1.0.5/24"])), "host bits are set (did you mean 10.1.0.0/24?)");
  t.match(refused(() => plan(["10.1.0.0/31"])), "too small, the prefix length must be at most 30");
  t.match(refused(() => plan(["fd00::/127"])), "at most 126");
  t.match(refused(() => plan(["10.1.0.0/24"], { gateways: ["10.2.0.1"] })), "--gateway 10.2.0.1 is in none of the subnets (10.1.0.0/24)");
  t.match(refused(() => plan(["10.1.0.0/24"], { gateways: ["10.1.0.255"] })), "network or broadcast address");
  t.match(refused(() => plan(["10.1.0.0/24"], { gateways: ["10.1.0.0"] })), "network or broadcast address");
  t.match(refused(() => plan(["10.1.0.0/24"], { gateways: ["gw"] })), 'invalid --gateway "gw"');
  t.match(refused(() => plan(["10.1.0.0/24"], { gateways: ["10.1.0.1", "10.1.0.2"] })), "two --gateway values for subnet 10.1.0.0/24");
  t.match(refused(() => plan(["10.1.0.0/24"], { ipRanges: ["10.1.0.0/16"] })), "--ip-range 10.1.0.0/16 is larger than its subnet 10.1.0.0/24");
  t.match(refused(() => plan(["10.1.0.0/24"], { ipRanges: ["10.2.0.0/28"] })), "--ip-range 10.2.0.0/28 is in none of the subnets");
  t.match(refused(() => plan(["10.1.0.0/24"], { ipRanges: ["10.1.0.4/30", "10.1.0.8/30"] })), "two --ip-range values");
  t.match(refused(() => plan(["10.1.0.0/24"], { ipRanges: ["10.1.0.5/30"] })), "host bits are set");
});

t.test("subnetsOf reads host-local ranges, the legacy ipam.subnet and a vxlan subnet", async (t) => {
  const list = parseNetworkList(
    JSON.stringify({
      name: "n",
      cniVersion: "1.0.0",
      plugins: [
        { type: "bridge", ipam: { type: "host-local", ranges: [[{ subnet: "10.1.0.0/24" }, { subnet: "10.1.1.0/24" }], [{ subnet: "fd00:1::/64" }]] } },
        { type: "x", ipam: { type: "host-local", subnet: "10.9.0.0/16" } },
        { type: "vxlan", subnet: "10.244.1.0/24", ipam: { type: "host-local", ranges: [[{ subnet: "10.244.1.0/24" }]] } },
        { type: "y", ipam: { ranges: [[{ subnet: "garbage" }], "nope"] } },
      ],
    }),
  );
  const file = { path: "/x/n.conflist", list };
  t.strictSame(subnetsOf(file).map(formatPrefix), ["10.1.0.0/24", "10.1.1.0/24", "fd00:1::/64", "10.9.0.0/16", "10.244.1.0/24"]);
  t.equal(usedSubnets([file]).length, 5);
});
