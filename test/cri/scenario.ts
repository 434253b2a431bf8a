// The start of every CRI scenario: a containerd for one plugin directory with the node's conflist.
import { Containerd } from "./containerd.ts";
import { missingPlugins, type NodeNetwork, nodeConflist } from "./conflist.ts";

interface Test {
  teardown(fn: () => Promise<void> | void): void;
  fail(message: string): void;
  comment(message: string): void;
}

/**
 * Starts containerd on `binDir` with the node's conflist, or fails the test (and returns
 * undefined) when the directory lacks a plugin the scenario needs. Without `needsPortmap`, a
 * directory without portmap (ours, until it exists) runs the list with bridge alone, said in a
 * comment; with it, the missing portmap fails the test loudly.
 */
export async function startNode(
  t: Test,
  binDir: string,
  net: Omit<NodeNetwork, "dataDir" | "portmap">,
  opts: { needsPortmap?: boolean } = {},
): Promise<Containerd | undefined> {
  const missing = missingPlugins(binDir, ["bridge", "host-local", "loopback", ...(opts.needsPortmap ? ["portmap"] : [])]);
  if (missing.length > 0) {
    t.fail(
      `${binDir} lacks ${missing.join(", ")}: ` +
        (missing.includes("portmap") ? "this scenario needs portmap (host ports); ours is not written yet" : "run `node build.mjs` to build dist/bin"),
    );
    return undefined;
  }
  const portmap = missingPlugins(binDir, ["portmap"]).length === 0;
  if (!portmap) t.comment(`no portmap in ${binDir}: the conflist runs bridge alone here`);
  return Containerd.start(t, { binDir, prefix: "tcri", conflist: (dataDir) => nodeConflist({ ...net, dataDir, portmap }) });
}
