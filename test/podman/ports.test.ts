// `podman run -p` (portmap's `portMappings` capability, through podman's CNI backend): TCP and UDP
// from another netns through the host's addresses, from the host through 127.0.0.1, from another
// container through the host's address, a host IP restricting a mapping, the mappings after
// `podman restart`, and nothing left after `podman rm -f`. conmon keeps the published host ports
// bound, so a connection opens even without DNAT: every check compares the answer's body.
import t from "tap";
import { isRoot, makeNetns, sh } from "../helpers/netns.ts";
import { inNetns, rulesMentioning, tcpFetch } from "../cri/observe.ts";
import { udpAnswer } from "../cri/observe.ts";
import { containerNetns, leftovers, NOTHING_LEFT, ruleset, vethOf } from "./observe.ts";
import { type Podman, TCP_PORT, UDP_PORT } from "./podman.ts";
import { pluginDirs, startPodman } from "./scenario.ts";

if (!isRoot()) {
  t.fail("podman tests need root (CI runs as root)");
  process.exit(1);
}

const NETWORK = "tpod-ports";
/** The host's two addresses on the link to the client, and the client's. */
const HOST_A = "10.237.100.1";
const HOST_B = "10.237.100.2";
const CLIENT = "10.237.100.10";

/** A client netns wired to the host netns: host `tpod-up` (HOST_A, HOST_B) ↔ client `eth0` (CLIENT). */
function makeClient(t: { teardown(fn: () => void): void }, pm: Podman): string {
  const client = makeNetns(t, "tpod-c");
  inNetns(pm.hostNs.path, "ip", ["link", "add", "tpod-up", "type", "veth", "peer", "name", "eth0", "netns", client.name]);
  inNetns(pm.hostNs.path, "ip", ["addr", "add", `${HOST_A}/24`, "dev", "tpod-up"]);
  inNetns(pm.hostNs.path, "ip", ["addr", "add", `${HOST_B}/24`, "dev", "tpod-up"]);
  inNetns(pm.hostNs.path, "ip", ["link", "set", "tpod-up", "up"]);
  sh("ip", ["-n", client.name, "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
  sh("ip", ["-n", client.name, "link", "set", "eth0", "up"]);
  return client.path;
}

for (const { label, binDir } of pluginDirs()) {
  t.test(`${label}: podman run -p (${binDir})`, async (t) => {
    const pm = await startPodman(t, binDir);
    if (!pm) return;
    const client = makeClient(t, pm);
    pm.podman(["network", "create", "--subnet", "10.237.0.0/24", NETWORK]);
    const web = await pm.run("web", {
      network: NETWORK,
      publish: [`18080:${TCP_PORT}`, `18081:${UDP_PORT}/udp`, `${HOST_A}:18082:${TCP_PORT}`, `${HOST_A}:18083:${UDP_PORT}/udp`],
    });
    const other = await pm.run("other", { network: NETWORK, serve: false });

    t.test("podman reports the mappings", async (t) => {
      const ports = pm.podman(["port", "web"]).split("\n").filter(Boolean).sort();
      t.same(ports, [`${TCP_PORT}/tcp -> 0.0.0.0:18080`, `${TCP_PORT}/tcp -> ${HOST_A}:18082`, `${UDP_PORT}/udp -> 0.0.0.0:18081`, `${UDP_PORT}/udp -> ${HOST_A}:18083`]);
    });

    t.test("from another netns through the host's addresses (TCP and UDP)", async (t) => {
      t.equal(tcpFetch(client, HOST_A, 18080), web.token);
      t.equal(tcpFetch(client, HOST_B, 18080), web.token, "a mapping without host IP answers on every host address");
      t.equal(udpAnswer(client, HOST_A, 18081), web.token);
      t.equal(udpAnswer(client, HOST_B, 18081), web.token);
    });

    t.test("from the host through 127.0.0.1 (TCP and UDP)", async (t) => {
      t.equal(tcpFetch(pm.hostNs.path, "127.0.0.1", 18080), web.token);
      t.equal(udpAnswer(pm.hostNs.path, "127.0.0.1", 18081), web.token);
    });

    t.test("from another container on the network through the host's address (hairpin)", async (t) => {
      t.equal(tcpFetch(containerNetns(other), HOST_A, 18080), web.token);
    });

    t.test("a host IP restricts the mapping to that address", async (t) => {
      t.equal(tcpFetch(client, HOST_A, 18082), web.token, "TCP on the host IP");
      t.equal(udpAnswer(client, HOST_A, 18083), web.token, "UDP on the host IP");
      t.equal(tcpFetch(client, HOST_B, 18082), null, "TCP on the host's other address");
      t.equal(udpAnswer(client, HOST_B, 18083, 1), null, "UDP on the host's other address");
      t.equal(tcpFetch(pm.hostNs.path, "127.0.0.1", 18082), null, "TCP on 127.0.0.1");
    });

    t.test("podman restart: the mappings lead to the container at its address after the restart", async (t) => {
      Object.assign(web, await pm.restart(web));
      t.equal(tcpFetch(client, HOST_A, 18080), web.token);
      t.equal(udpAnswer(client, HOST_A, 18081), web.token);
      t.equal(tcpFetch(pm.hostNs.path, "127.0.0.1", 18080), web.token);
    });

    t.test("after podman rm -f: no veth, rule, lease or cached result of it, the ports answer nothing", async (t) => {
      t.not(rulesMentioning(ruleset(pm), web).length, 0, "while it runs, rules name it");
      pm.remove("web");
      t.same(leftovers(pm, web, ["tpod-up", vethOf(pm, other)]), NOTHING_LEFT);
      t.equal(tcpFetch(client, HOST_A, 18080), null);
      t.equal(udpAnswer(client, HOST_A, 18081, 1), null);
      t.equal(tcpFetch(pm.hostNs.path, "127.0.0.1", 18080), null);
      t.equal(tcpFetch(client, HOST_A, 18082), null);
    });
  });
}
