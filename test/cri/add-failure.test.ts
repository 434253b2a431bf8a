// A pod whose ADD fails (the node's range is exhausted) is a failed RunPodSandbox whose error
// carries the plugin's message, and leaves nothing behind: containerd DELs the attachment and
// drops the sandbox.
import { readdirSync } from "node:fs";
import t from "tap";
import { isRoot } from "../helpers/netns.ts";
import { CriError } from "./cri-client.ts";
import { pluginDirs } from "./conflist.ts";
import { cachedResults, hostVeths, leases, leftovers, NOTHING_LEFT, vethOf } from "./observe.ts";
import { podConfig, removePod, runPod } from "./pods.ts";
import { startNode } from "./scenario.ts";

if (!isRoot()) {
  t.fail("CRI tests need root (CI runs as root)");
  process.exit(1);
}

const NETWORK = "tcri-full";
const ONLY_IP = "10.233.0.10";

for (const { label, binDir } of pluginDirs()) {
  t.test(`${label}: ADD fails on an exhausted range (${binDir})`, async (t) => {
    const cd = await startNode(t, binDir, { name: NETWORK, bridge: "tcri0", subnet: "10.233.0.0/24", rangeStart: ONLY_IP, rangeEnd: ONLY_IP });
    if (!cd) return;
    const first = await runPod(cd, { name: "first", serve: false });
    t.equal(first.ip, ONLY_IP, "the first pod takes the range's only address");
    const firstVeth = vethOf(cd, first);

    const config = podConfig(cd, { name: "second" });
    const error = await cd.client.runPodSandbox(config).then(
      (id) => new Error(`RunPodSandbox succeeded (${id})`),
      (e: unknown) => e,
    );
    t.test("RunPodSandbox fails with host-local's message in containerd's answer", async (t) => {
      t.type(error, CriError);
      t.comment((error as Error).message);
      t.match((error as CriError).details, `failed to setup network for sandbox`);
      t.match((error as CriError).details, `no IP addresses available in range set: ${ONLY_IP}-${ONLY_IP}`);
    });

    t.test("the failed pod leaves nothing behind", async (t) => {
      const id = /sandbox "([0-9a-f]{64})"/.exec((error as Error).message)?.[1];
      if (!id) return void t.fail(`no sandbox id in ${(error as Error).message}`);
      t.same(await leftovers(cd, NETWORK, { id }, [firstVeth]), NOTHING_LEFT);
      t.same(hostVeths(cd), [firstVeth], "only the first pod's veth");
      t.same([...leases(cd, NETWORK).keys()], [ONLY_IP], "only the first pod's lease");
      t.same(
        cachedResults(cd).filter((f) => !f.includes(first.id)),
        [],
        "no cached result but the first pod's",
      );
      const netnsDir = cd.pathInMountNs(first.netnsPath.replace(/\/[^/]+$/, ""));
      t.equal(readdirSync(netnsDir).length, 1, "only the first pod's netns mount");
    });

    t.test("once the first pod is gone, its address serves a new pod", async (t) => {
      await removePod(cd, first);
      t.same(await leftovers(cd, NETWORK, first, []), NOTHING_LEFT);
      const third = await runPod(cd, { name: "third", serve: false });
      t.equal(third.ip, ONLY_IP);
      await removePod(cd, third);
      t.same(await leftovers(cd, NETWORK, third, []), NOTHING_LEFT);
    });
  });
}
