// Host ports (the CRI's port_mappings, portmap's `portMappings` capability) through containerd:
// TCP and UDP, with and without host_ip, from another netns through the host's addresses and from
// the host through 127.0.0.1; nothing of them left after Stop + Remove. Needs portmap in the
// plugin directory: without it the scenario fails (loudly) instead of skipping.
import { spawn } from "node:child_process";
import t from "tap";
import { isRoot, makeNetns, sh } from "../helpers/netns.ts";
import type { Containerd } from "./containerd.ts";
import { pluginDirs } from "./conflist.ts";
import { inNetns, leftovers, NOTHING_LEFT, podNetns, ruleset, rulesMentioning, tcpFetch, udpAnswer, udpFetch } from "./observe.ts";
import { removePod, runPod, TCP_PORT, UDP_PORT } from "./pods.ts";
import { startNode } from "./scenario.ts";

if (!isRoot()) {
  t.fail("CRI tests need root (CI runs as root)");
  process.exit(1);
}

const NETWORK = "tcri-ports";
/** The host's two addresses on the link to the client, and the client's. */
const HOST_A = "10.232.100.1";
const HOST_B = "10.232.100.2";
const CLIENT = "10.232.100.10";

/** A client netns wired to the host netns: host `tcri-up` (HOST_A, HOST_B) ↔ client `eth0` (CLIENT). */
function makeClient(t: { teardown(fn: () => void): void }, cd: Containerd): string {
  const client = makeNetns(t, "tcri-c");
  inNetns(cd.hostNs.path, "ip", ["link", "add", "tcri-up", "type", "veth", "peer", "name", "eth0", "netns", client.name]);
  inNetns(cd.hostNs.path, "ip", ["addr", "add", `${HOST_A}/24`, "dev", "tcri-up"]);
  inNetns(cd.hostNs.path, "ip", ["addr", "add", `${HOST_B}/24`, "dev", "tcri-up"]);
  inNetns(cd.hostNs.path, "ip", ["link", "set", "tcri-up", "up"]);
  sh("ip", ["-n", client.name, "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
  sh("ip", ["-n", client.name, "link", "set", "eth0", "up"]);
  return client.path;
}

/** A TCP server in the client netns that answers with the address the connection came from. */
function serveWhoAmI(t: { teardown(fn: () => void): void }, client: string, port: number): void {
  const server = spawn("nsenter", [`--net=${client}`, "--", "socat", `TCP-LISTEN:${port},fork,reuseaddr`, "SYSTEM:echo $SOCAT_PEERADDR"], { stdio: "ignore" });
  t.teardown(() => void server.kill("SIGKILL"));
}

for (const { label, binDir } of pluginDirs()) {
  t.test(`${label}: host ports (${binDir})`, async (t) => {
    const cd = await startNode(t, binDir, { name: NETWORK, bridge: "tcri0", subnet: "10.232.0.0/24" }, { needsPortmap: true });
    if (!cd) return;
    const client = makeClient(t, cd);
    const pod = await runPod(cd, {
      name: "web",
      portMappings: [
        { protocol: "TCP", containerPort: TCP_PORT, hostPort: 18000 },
        { protocol: "UDP", containerPort: UDP_PORT, hostPort: 18001 },
        { protocol: "TCP", containerPort: TCP_PORT, hostPort: 18002, hostIp: HOST_A },
        { protocol: "UDP", containerPort: UDP_PORT, hostPort: 18003, hostIp: HOST_A },
      ],
    });

    t.test("from another netns through the host's addresses (TCP and UDP)", async (t) => {
      t.equal(tcpFetch(client, HOST_A, 18000), pod.token);
      t.equal(tcpFetch(client, HOST_B, 18000), pod.token, "a mapping without host_ip answers on every host address");
      t.equal(udpAnswer(client, HOST_A, 18001), pod.token);
      t.equal(udpAnswer(client, HOST_B, 18001), pod.token);
    });

    t.test("from the host through 127.0.0.1 (TCP and UDP)", async (t) => {
      t.equal(tcpFetch(cd.hostNs.path, "127.0.0.1", 18000), pod.token);
      t.equal(udpAnswer(cd.hostNs.path, "127.0.0.1", 18001), pod.token);
    });

    t.test("host_ip restricts a mapping to that address", async (t) => {
      t.equal(tcpFetch(client, HOST_A, 18002), pod.token, "TCP on host_ip");
      t.equal(udpAnswer(client, HOST_A, 18003), pod.token, "UDP on host_ip");
      t.equal(tcpFetch(client, HOST_B, 18002), null, "TCP on the host's other address");
      t.equal(udpFetch(client, HOST_B, 18003), null, "UDP on the host's other address");
      t.equal(tcpFetch(cd.hostNs.path, "127.0.0.1", 18002), null, "TCP on 127.0.0.1");
    });

    t.test("the pod's traffic leaving the pod CIDR is masqueraded to the host's address (ipMasq)", async (t) => {
      serveWhoAmI(t, client, 9000);
      let seen: string | null = null;
      for (let i = 0; i < 20 && seen === null; i++) {
        seen = tcpFetch(podNetns(pod), CLIENT, 9000);
        if (seen === null) await new Promise((r) => setTimeout(r, 50));
      }
      t.equal(seen, HOST_A);
    });

    t.test("the rules name the pod while it runs", async (t) => {
      t.not(rulesMentioning(ruleset(cd), pod).length, 0);
    });

    t.test("after Stop + Remove: no rule mentions the pod, no veth, lease or cached result, ports closed", async (t) => {
      await removePod(cd, pod);
      t.same(await leftovers(cd, NETWORK, pod, ["tcri-up"]), NOTHING_LEFT);
      t.equal(tcpFetch(client, HOST_A, 18000), null);
      t.equal(udpFetch(client, HOST_A, 18001), null);
      t.equal(tcpFetch(cd.hostNs.path, "127.0.0.1", 18000), null);
    });
  });
}
