// macvlan ADDs that fail: the right code and message, and nothing left behind (no link in the
// container, no temporary link, no lease).
import t, { type Test } from "tap";
import { macvlanLab } from "../helpers/macvlan-lab.ts";
import type { Reply } from "../helpers/plugin-exec.ts";
import { inNs, ipJson, isRoot } from "../helpers/netns.ts";

const lab = (t: Test) => macvlanLab(t, { ranges: [[{ subnet: "10.77.0.0/24" }]] });

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}


const links = (ns: string): string[] =>
  ipJson<Array<{ ifname: string }>>(ns, ["link", "show"])
    .map((l) => l.ifname)
    .sort();

/** Asserts a failed reply with `code` and a msg matching `msg`. */
function failed(t: Test, reply: Reply, code: number, msg: RegExp): void {
  t.equal(reply.status, 1, "exit status 1");
  t.match(reply.json, { code, msg }, `error ${code} ${msg}`);
}

t.test("IPAM exhausted: no link, no lease", async (t) => {
  const { network, run, leases, container } = lab(t);
  // 10.77.0.0/30 holds one address besides the gateway.
  const config = network({ ipam: { ...network().ipam, ranges: [[{ subnet: "10.77.0.0/30" }]] } });
  const c1 = container();
  const c2 = container();
  t.equal(run("ADD", c1, config).status, 0);
  const reply = run("ADD", c2, config);
  t.equal(reply.status, 1);
  t.match(reply.json?.msg, /no IP addresses available|exhausted|no free/i, reply.stdout);
  t.same(links(c2.name), ["lo"], "no link left in the container");
  t.same(leases(), ["10.77.0.2"], "only c1's lease");
});

t.test("a failure after IPAM undoes both the link and the lease", async (t) => {
  const { network, run, leases, container, hostLinks } = lab(t);
  const before = hostLinks();
  // The gateway is not on the link's subnet: adding the route fails after the lease was taken.
  const config = network({ ipam: { ...network().ipam, routes: [{ dst: "10.90.0.0/16", gw: "10.99.0.1" }] } });
  const c1 = container();
  const reply = run("ADD", c1, config);
  t.equal(reply.status, 1);
  t.match(reply.json, { code: 999, msg: /failed to configure interface "eth0": .*route 10\.90\.0\.0\/16 via 10\.99\.0\.1.*ENETUNREACH/ });
  t.same(links(c1.name), ["lo"], "macvlan deleted");
  t.same(leases(), [], "lease released");
  t.same(hostLinks(), before, "nothing new in the host netns");
});

t.test("invalid config is code 7 and creates nothing", async (t) => {
  const { network, run, leases, container } = lab(t);
  const c1 = container();
  failed(t, run("ADD", c1, network({ mtu: 9000 })), 7, /invalid MTU 9000: must be at most the MTU of master "tmv-m0" \(1500\)/);
  failed(t, run("ADD", c1, network({ mode: "bridged" })), 7, /unknown macvlan mode "bridged"/);
  failed(t, run("ADD", c1, network({ mtu: "big" })), 7, /invalid "mtu"/);
  failed(t, run("ADD", c1, network({ mac: "01:00:5e:00:00:01" })), 7, /invalid mac "01:00:5e:00:00:01"/);
  failed(t, run("ADD", c1, network({ runtimeConfig: { mac: "zz" } })), 7, /invalid runtimeConfig\.mac/);
  failed(t, run("ADD", c1, network({ master: "tmv-nope" })), 7, /master "tmv-nope" not found in the host netns/);
  failed(t, run("ADD", c1, network({ linkInContainer: true })), 7, /master "tmv-m0" not found in the container netns/);
  const noDefault: Record<string, unknown> = network();
  delete noDefault.master;
  failed(t, run("ADD", c1, noDefault), 7, /no "master" given and no default route/);
  t.same(links(c1.name), ["lo"]);
  t.same(leases(), []);
});

t.test("CNI_ARGS problems are code 4", async (t) => {
  const { network, run, container } = lab(t);
  const c1 = container();
  failed(t, run("ADD", c1, network(), { args: "K8S_POD_NAME=x" }), 4, /CNI_ARGS: unknown keys "K8S_POD_NAME"/);
  failed(t, run("ADD", c1, network(), { args: "MAC=nope" }), 4, /invalid CNI_ARGS MAC "nope"/);
  t.same(links(c1.name), ["lo"]);
});

t.test("CNI_IFNAME taken in the container: error, the temporary link is gone, no lease", async (t) => {
  const { network, run, leases, container } = lab(t);
  const c1 = container();
  inNs(c1.name, "ip", ["link", "add", "eth0", "type", "veth", "peer", "name", "tmv-x"]);
  const reply = run("ADD", c1, network());
  t.equal(reply.status, 1);
  t.match(reply.json?.msg, /interface "eth0" already exists in the container netns/);
  t.same(links(c1.name), ["eth0", "lo", "tmv-x"], "only what was there");
  t.same(leases(), []);
  t.equal(run("DEL", c1, network()).status, 0, "DEL succeeds");
  t.same(links(c1.name), ["eth0", "lo", "tmv-x"], "DEL leaves a veth named eth0 alone");
});

t.test("a missing container netns is code 3 for ADD, fine for DEL", async (t) => {
  const { network, run, leases } = lab(t);
  const gone = { name: "tmv-gone", path: "/run/netns/tmv-gone-never" };
  failed(t, run("ADD", gone, network()), 3, /does not exist/);
  t.equal(run("DEL", gone, network()).status, 0);
  t.equal(run("DEL", { name: "tmv-gone", path: "" }, network()).status, 0, "empty CNI_NETNS too");
  t.same(leases(), []);
});

t.test("DEL keeps going when IPAM DEL fails and reports it", async (t) => {
  const { network, run, container } = lab(t);
  const c1 = container();
  t.equal(run("ADD", c1, network()).status, 0);
  const reply = run("DEL", c1, network({ ipam: { type: "tmv-no-such-ipam" } }));
  t.equal(reply.status, 1);
  t.match(reply.json?.msg, /failed to release the IPAM lease: .*tmv-no-such-ipam/);
  t.same(links(c1.name), ["lo"], "the link was deleted all the same");
});
