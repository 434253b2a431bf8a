import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/**
 * A process holding a private mount namespace in which /var/lib and /run are overlays whose upper
 * layers live under `dir`: what a daemon started in it (containerd, podman) writes there stays in
 * the test's temp dir. Resolves once the mounts are in place; the namespace lives as long as the
 * holder does.
 */
export async function startMountNamespaceHolder(dir: string): Promise<ChildProcess> {
  const mounts = ["/var/lib", "/run"].map((target) => {
    const base = join(dir, "overlay", target.slice(1).replace("/", "-"));
    for (const d of ["upper", "work"]) mkdirSync(join(base, d), { recursive: true });
    return `mount -t overlay overlay -o lowerdir=${target},upperdir=${base}/upper,workdir=${base}/work ${target}`;
  });
  const holder = spawn("unshare", ["--mount", "--propagation", "private", "--", "sh", "-c", `${mounts.join(" && ")} && echo ready && exec sleep infinity`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes("ready\n")) resolve();
    };
    holder.stdout.on("data", onData);
    holder.stderr.on("data", onData);
    holder.on("exit", (code) => reject(new Error(`mount namespace holder exited (${code}): ${output.trim()}`)));
  });
  holder.removeAllListeners("exit");
  return holder;
}
