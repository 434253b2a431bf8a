// Real packets through rules built with lib/nft: masquerade, DNAT through a map, a drop rule.
// Three throw-away namespaces: client (10.77.1.2) -- router (10.77.1.1 | 10.77.2.1) -- server (10.77.2.2).
import t, { type Test } from "tap";
import { spawn } from "node:child_process";
import { openNetns } from "../../lib/netns/netns.ts";
import { openNft } from "../../lib/nft/connection.ts";
import { NftTransaction } from "../../lib/nft/transaction.ts";
import { listOwnedRules, ownerComment } from "../../lib/nft/owner.ts";
import * as I from "../../lib/nft/intents.ts";
import type { NftChain, NftSet, NftTable } from "../../lib/nft/types.ts";
import { inNs, isRoot, makeNetns, sh } from "../helpers/netns.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

interface Topology {
  client: string;
  router: string;
  server: string;
  routerPath: string;
}

function topology(t: Test): Topology {
  const client = makeNetns(t, "tnft-c");
  const router = makeNetns(t, "tnft-r");
  const server = makeNetns(t, "tnft-s");
  sh("ip", ["-n", router.name, "link", "add", "r0", "type", "veth", "peer", "name", "c0", "netns", client.name]);
  sh("ip", ["-n", router.name, "link", "add", "r1", "type", "veth", "peer", "name", "s0", "netns", server.name]);
  const setup: [string, string, string][] = [
    [router.name, "r0", "10.77.1.1/24"],
    [router.name, "r1", "10.77.2.1/24"],
    [client.name, "c0", "10.77.1.2/24"],
    [server.name, "s0", "10.77.2.2/24"],
  ];
  for (const [ns, dev, addr] of setup) {
    sh("ip", ["-n", ns, "addr", "add", addr, "dev", dev]);
    sh("ip", ["-n", ns, "link", "set", dev, "up"]);
  }
  sh("ip", ["-n", client.name, "route", "add", "default", "via", "10.77.1.1"]);
  sh("ip", ["-n", server.name, "route", "add", "default", "via", "10.77.2.1"]);
  inNs(router.name, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
  return { client: client.name, router: router.name, server: server.name, routerPath: router.path };
}

/** A TCP server in `ns` on port 80 that answers each connection with the peer address it sees. */
function peerEchoServer(t: Test, ns: string): void {
  const child = spawn("ip", ["netns", "exec", ns, "socat", "TCP-LISTEN:80,reuseaddr,fork", "SYSTEM:echo $SOCAT_PEERADDR"], { stdio: "ignore" });
  t.teardown(() => void child.kill());
}

const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Connects from `ns` and returns what the server wrote, retrying while it starts; "" if it never answers. */
function connect(ns: string, host: string, port: number, attempts = 30): string {
  for (let i = 0; i < attempts; i++) {
    const out = inNs(ns, "socat", ["-T2", "-", `TCP:${host}:${port},connect-timeout=1`], { input: "", allowFail: true }).trim();
    if (out) return out;
    sleep(100);
  }
  return "";
}

const ping = (ns: string, host: string): boolean => inNs(ns, "ping", ["-c1", "-W1", host], { allowFail: true }).includes(" 0% packet loss");

const table: NftTable = { kind: "table", family: "ip", name: "tnft" };
const T = { family: "ip", table: "tnft" } as const;

t.test("masquerade rewrites the source the server sees", async (t) => {
  const topo = topology(t);
  peerEchoServer(t, topo.server);
  t.equal(connect(topo.client, "10.77.2.2", 80), "10.77.1.2", "routed, not rewritten");

  const ns = openNetns(topo.routerPath);
  t.teardown(() => ns.close());
  const nft = openNft(ns);
  t.teardown(() => nft.close());
  const post: NftChain = { kind: "chain", ...T, name: "post", type: "nat", hook: "postrouting", priority: 100 };
  nft.commit(
    new NftTransaction()
      .add(table)
      .add(post)
      .add({ kind: "rule", ...T, chain: "post", exprs: [...I.matchSaddr("10.77.1.0/24"), ...I.matchNotDaddr("10.77.1.0/24"), ...I.counter(), ...I.masquerade()], comment: ownerComment({ net: "n1", id: "c1", ifname: "eth0" }) }),
  );
  t.equal(connect(topo.client, "10.77.2.2", 80), "10.77.2.1", "the server sees the router's address");
  const [rule] = nft.listRules("ip", "tnft", "post");
  const count = rule?.exprs.find((x) => x.type === "counter");
  t.ok(count?.type === "counter" && count.packets! > 0n, "the rule counted the packets");
});

t.test("DNAT through a concatenated map reaches a server in another namespace", async (t) => {
  const topo = topology(t);
  peerEchoServer(t, topo.server);
  const ns = openNetns(topo.routerPath);
  t.teardown(() => ns.close());
  const nft = openNft(ns);
  t.teardown(() => nft.close());
  const hostports: NftSet = { kind: "set", ...T, name: "hostports", key: ["ipv4_addr", "inet_proto", "inet_service"], data: ["ipv4_addr", "inet_service"] };
  nft.commit(
    new NftTransaction()
      .add(table)
      .add(hostports)
      .add({ kind: "chain", ...T, name: "pre", type: "nat", hook: "prerouting", priority: -100 })
      .add({ kind: "rule", ...T, chain: "pre", exprs: I.dnatViaMap("hostports", 4) }),
  );
  t.equal(connect(topo.client, "10.77.1.1", 8080, 3), "", "no mapping yet: nothing listens on the router");

  // A plugin ADD: one element per port mapping, in its own transaction.
  nft.commit(new NftTransaction().add({ kind: "element", set: hostports, key: ["10.77.1.1", "tcp", 8080], value: ["10.77.2.2", 80] }));
  t.equal(connect(topo.client, "10.77.1.1", 8080), "10.77.1.2", "8080 on the router is port 80 on the server");
  t.same(
    nft.listElements(hostports).map((e) => [e.key, e.value]),
    [[["10.77.1.1", "tcp", 8080], ["10.77.2.2", 80]]],
  );

  nft.commit(new NftTransaction().delete({ kind: "element", set: hostports, key: ["10.77.1.1", "tcp", 8080], value: ["10.77.2.2", 80] }));
  t.equal(connect(topo.client, "10.77.1.1", 8080, 3), "", "mapping removed");
});

t.test("a drop rule blocks ping until DEL removes the rules it owns", async (t) => {
  const topo = topology(t);
  t.ok(ping(topo.client, "10.77.2.2"), "ping goes through");
  const ns = openNetns(topo.routerPath);
  t.teardown(() => ns.close());
  const nft = openNft(ns);
  t.teardown(() => nft.close());
  const fwd: NftChain = { kind: "chain", ...T, name: "fwd", type: "filter", hook: "forward", priority: 0 };
  const mine = ownerComment({ net: "n1", id: "ctr-a", ifname: "eth0" });
  const theirs = ownerComment({ net: "n1", id: "ctr-b", ifname: "eth0" });
  nft.commit(
    new NftTransaction()
      .add(table)
      .add(fwd)
      .add({ kind: "rule", ...T, chain: "fwd", exprs: [...I.matchSaddr("10.77.1.2"), ...I.drop()], comment: mine })
      .add({ kind: "rule", ...T, chain: "fwd", exprs: [...I.matchSaddr("10.77.1.99"), ...I.drop()], comment: theirs }),
  );
  t.notOk(ping(topo.client, "10.77.2.2"), "ping dropped");

  const owned = listOwnedRules(nft, fwd, { id: "ctr-a" });
  t.equal(owned.length, 1);
  const tx = new NftTransaction();
  for (const r of owned) tx.delete(r);
  nft.commit(tx);
  t.ok(ping(topo.client, "10.77.2.2"), "ping goes through again");
  t.same(
    nft.listRules("ip", "tnft", "fwd").map((r) => r.comment),
    [theirs],
    "the other container's rule stays",
  );
});
