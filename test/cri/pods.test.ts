// Two pods on the node's bridge network, made and removed through containerd's CRI plugin (with a
// containerd restart between Run and Stop of the second), against each plugin directory: the Go
// reference in /usr/lib/cni and ours in dist/bin.
import { readFileSync } from "node:fs";
import t from "tap";
import { isRoot } from "../helpers/netns.ts";
import { missingPlugins, pluginDirs } from "./conflist.ts";
import { cachedResults, ipv4Addresses, ipv4Routes, leases, leftovers, NOTHING_LEFT, podNetns, tcpFetch, udpAnswer, vethOf } from "./observe.ts";
import { removePod, runPod, TCP_PORT, UDP_PORT } from "./pods.ts";
import { startNode } from "./scenario.ts";

if (!isRoot()) {
  t.fail("CRI tests need root (CI runs as root)");
  process.exit(1);
}

const NETWORK = "tcri-pods";
const PREFIX = "10.231.0";
const inCidr = new RegExp(`^${PREFIX.replaceAll(".", "\\.")}\\.\\d+$`);

for (const { label, binDir } of pluginDirs()) {
  t.test(`${label}: two pods on the bridge network (${binDir})`, async (t) => {
    const cd = await startNode(t, binDir, { name: NETWORK, bridge: "tcri0", subnet: `${PREFIX}.0/24` });
    if (!cd) return;
    const portmap = missingPlugins(binDir, ["portmap"]).length === 0;

    const dns = { servers: ["10.96.0.10"], searches: ["tcri.svc.cluster.local", "svc.cluster.local"], options: ["ndots:5"] };
    const a = await runPod(cd, { name: "pod-a", dns });
    const b = await runPod(cd, { name: "pod-b", portMappings: [{ protocol: "TCP", containerPort: TCP_PORT, hostPort: 18100 }] });

    t.test("distinct IPs from host-local, in the pod CIDR, leased to their sandboxes", async (t) => {
      t.not(a.ip, b.ip);
      t.match(a.ip, inCidr);
      t.match(b.ip, inCidr);
      const leased = leases(cd, NETWORK);
      t.match(leased.get(a.ip), a.id, "a's lease names its sandbox id");
      t.match(leased.get(b.ip), b.id, "b's lease names its sandbox id");
    });

    t.test("the IP containerd reports is the one on the pod's eth0", async (t) => {
      t.same(ipv4Addresses(podNetns(a), "eth0"), [`${a.ip}/24`]);
      t.same(ipv4Addresses(podNetns(b), "eth0"), [`${b.ip}/24`]);
      t.ok(
        ipv4Routes(podNetns(a)).some((r) => r.dst === "default" && r.gateway === `${PREFIX}.1`),
        "default route via the bridge's gateway address",
      );
      t.ok(vethOf(cd, a), "eth0's peer is a veth in the host netns");
    });

    t.test("the pods reach each other (TCP and UDP) and the host reaches them", async (t) => {
      t.equal(tcpFetch(podNetns(a), b.ip, TCP_PORT), b.token);
      t.equal(tcpFetch(podNetns(b), a.ip, TCP_PORT), a.token);
      t.equal(udpAnswer(podNetns(a), b.ip, UDP_PORT), b.token);
      t.equal(tcpFetch(cd.hostNs.path, a.ip, TCP_PORT), a.token);
    });

    t.test("the pod's DNS config reaches its resolv.conf", async (t) => {
      const resolv = readFileSync(`/proc/${a.pid}/root/etc/resolv.conf`, "utf8");
      t.match(resolv, /nameserver 10\.96\.0\.10/);
      t.match(resolv, /search tcri\.svc\.cluster\.local svc\.cluster\.local/);
      t.match(resolv, /options ndots:5/);
    });

    t.test("libcni cached both results (what a later DEL is given)", async (t) => {
      t.ok(cachedResults(cd).includes(`${NETWORK}-${a.id}-eth0`));
      t.ok(cachedResults(cd).includes(`${NETWORK}-${b.id}-eth0`));
    });

    t.test("Stop + Remove of one pod leaves the other untouched and nothing of its own", async (t) => {
      const vethB = vethOf(cd, b);
      await removePod(cd, a);
      t.same(await leftovers(cd, NETWORK, a, [vethB]), NOTHING_LEFT);
      t.equal(tcpFetch(cd.hostNs.path, b.ip, TCP_PORT), b.token, "b still answers");
      t.ok(leases(cd, NETWORK).has(b.ip), "b keeps its lease");
    });

    t.test("containerd restarted between Run and Stop still tears the pod down (DEL from its cached result)", async (t) => {
      if (portmap) t.equal(tcpFetch(cd.hostNs.path, "127.0.0.1", 18100), b.token, "b's host port answers before the restart");
      await cd.restart();
      const status = await cd.client.podSandboxStatus(b.id);
      t.equal(status.status.state, "SANDBOX_READY");
      t.equal(status.status.network?.ip, b.ip, "the restarted containerd still knows b's IP");
      await removePod(cd, b);
      t.same(await leftovers(cd, NETWORK, b, []), NOTHING_LEFT);
      t.same([...leases(cd, NETWORK).keys()], [], "no lease at all");
      t.same(cachedResults(cd), [], "no cached result at all (loopback's included)");
      if (portmap) t.equal(tcpFetch(cd.hostNs.path, "127.0.0.1", 18100), null, "b's host port is closed");
    });
  });
}
