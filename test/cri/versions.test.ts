// How containerd 1.6 handles a conflist newer than its libcni (spec 1.0.0): it passes
// `cniVersion` 1.1.0 to the plugins as is and ignores `cniVersions`. A plugin that speaks 1.1.0
// answers ADD in 1.1.0, which libcni cannot read, so containerd DELs it again (nothing left); a
// plugin that does not (Go 1.1.1) refuses ADD and DEL alike, so the sandbox stays, unready, until
// the conflist is fixed. `cniVersion: "1.0.0"` with `cniVersions: ["1.0.0", "1.1.0"]` works on both.
import t from "tap";
import { isRoot } from "../helpers/netns.ts";
import { CriError } from "./cri-client.ts";
import { missingPlugins, nodeConflist, pluginDirs, supportedVersions } from "./conflist.ts";
import { ipv4Addresses, leftovers, NOTHING_LEFT, podNetns } from "./observe.ts";
import { podConfig, removePod, runPod } from "./pods.ts";
import { startNode } from "./scenario.ts";

if (!isRoot()) {
  t.fail("CRI tests need root (CI runs as root)");
  process.exit(1);
}

const NETWORK = "tcri-ver";
const net = { name: NETWORK, bridge: "tcri0", subnet: "10.234.0.0/24" };

for (const { label, binDir } of pluginDirs()) {
  t.test(`${label}: conflist versions 1.1.0 and 1.0.0 + cniVersions (${binDir})`, async (t) => {
    const cd = await startNode(t, binDir, { ...net, cniVersion: "1.1.0" });
    if (!cd) return;
    const speaks110 = supportedVersions(binDir, "bridge").includes("1.1.0");
    const portmap = missingPlugins(binDir, ["portmap"]).length === 0;

    const error = await cd.client.runPodSandbox(podConfig(cd, { name: "new" })).then(
      (id) => new Error(`RunPodSandbox succeeded (${id})`),
      (e: unknown) => e,
    );
    const id = /sandbox "([0-9a-f]{64})"/.exec((error as Error).message)?.[1] ?? "";

    t.test(`cniVersion 1.1.0: RunPodSandbox fails (${speaks110 ? "libcni cannot read the 1.1.0 result" : "the plugin refuses 1.1.0"})`, async (t) => {
      t.type(error, CriError);
      t.comment((error as Error).message);
      if (speaks110) t.match((error as CriError).details, `unsupported CNI result version "1.1.0"`);
      else t.match((error as CriError).details, `incompatible CNI versions; config is "1.1.0"`);
      t.match(id, /^[0-9a-f]{64}$/, "the answer names the sandbox");
      const left = await leftovers(cd, NETWORK, { id }, []);
      t.same({ ...left, listed: false }, NOTHING_LEFT, "no veth, rule, lease or cached result");
      t.equal(left.listed, !speaks110, speaks110 ? "containerd DELed and dropped the sandbox" : "the sandbox stays: DEL is refused too");
    });

    t.test("cniVersion 1.0.0 with cniVersions [1.0.0, 1.1.0]: pods run and go", async (t) => {
      await cd.setConflist((dataDir) => nodeConflist({ ...net, dataDir, portmap, cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0"] }));
      if (!speaks110) {
        await cd.client.stopPodSandbox(id);
        await cd.client.removePodSandbox(id);
        t.same(await leftovers(cd, NETWORK, { id }, []), NOTHING_LEFT, "the stuck sandbox goes once the conflist is fixed");
      }
      const pod = await runPod(cd, { name: "fixed", serve: false });
      t.same(ipv4Addresses(podNetns(pod), "eth0"), [`${pod.ip}/24`]);
      await removePod(cd, pod);
      t.same(await leftovers(cd, NETWORK, pod, []), NOTHING_LEFT);
    });
  });
}
