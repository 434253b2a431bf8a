// A real containerd (Debian's package) with its CRI plugin, started for one test with everything
// private to it:
// - network: it runs inside a throw-away "host" netns (`nsenter --net`, not `ip netns exec`, which
//   remounts /sys and hides the cgroup mounts runc needs), so the bridge, the rules and the pod
//   veths live there and the root netns is never touched;
// - files: root, state, temp, socket, runc root, CNI conf dir and the host-local dataDir are in a
//   temp dir; containerd also writes where no setting reaches (libcni's result cache
//   /var/lib/cni/results, the shim sockets /run/containerd/s), so it runs in a private mount
//   namespace in which /var/lib and /run are overlays whose upper layers are in the temp dir;
// - cgroups: pods are given a cgroup parent of their own (`cgroupParent`), removed at the end.
// The mount namespace is kept alive by a small holder process, so a restarted containerd finds
// the same shim sockets, pod netns mounts and result cache. Cleanup stops the pods through the
// CRI, then kills every process of the mount namespace and of the cgroup parent (by pid), removes
// the cgroups, the netns and the temp dir, even when the test failed.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startMountNamespaceHolder } from "../helpers/mount-namespace.ts";
import { sh } from "../helpers/netns.ts";
import { killUntilGone, pidsInCgroups, pidsInMountNamespaceOf, removeCgroupsPatiently } from "../helpers/process-reaper.ts";
import { CriClient } from "./cri-client.ts";
import { buildImageArchive, IMAGE_NAME } from "./image.ts";

export interface ContainerdOptions {
  /** `bin_dir` of the CRI plugin: the CNI plugins containerd runs (must hold `loopback`). */
  binDir: string;
  /**
   * The network configuration list, written to `conf_dir` as `10-<name>.conflist`; given the
   * host-local `dataDir` to use (the harness refuses an ipam without it).
   */
  conflist: ConflistFor;
  /** Prefix of the netns and cgroup names. */
  prefix: string;
}

export interface Conflist {
  name: string;
  cniVersion: string;
  plugins: Record<string, unknown>[];
  [key: string]: unknown;
}

export type ConflistFor = (ipamDataDir: string) => Conflist;

const START_TIMEOUT_MS = 30_000;

export class Containerd {
  readonly dir: string;
  readonly socket: string;
  readonly confDir: string;
  /** host-local `dataDir` to put in the conflist's ipam (leases at `<dataDir>/<network>/<ip>`). */
  readonly ipamDataDir: string;
  /** Where libcni's result cache lands (the /var/lib overlay's upper layer). */
  readonly resultCacheDir: string;
  readonly logFile: string;
  /** The "host": the netns containerd and the CNI plugins run in. */
  readonly hostNs: { name: string; path: string };
  /** Cgroup parent for pods (cgroupfs syntax). */
  readonly cgroupParent: string;
  readonly client: CriClient;
  private holder: ChildProcess | undefined;
  private daemon: ChildProcess | undefined;
  private conflist: Conflist;
  private cleanedUp = false;

  private constructor(
    readonly options: ContainerdOptions,
    dir: string,
  ) {
    const id = randomBytes(3).toString("hex");
    this.dir = dir;
    this.socket = join(dir, "containerd.sock");
    this.confDir = join(dir, "net.d");
    this.ipamDataDir = join(dir, "ipam");
    this.resultCacheDir = join(dir, "overlay", "var-lib", "upper", "cni", "results");
    this.logFile = join(dir, "containerd.log");
    this.hostNs = { name: `${options.prefix}-${id}`, path: `/run/netns/${options.prefix}-${id}` };
    this.cgroupParent = `/${options.prefix}-${id}`;
    this.conflist = this.checkedConflist(options.conflist);
    this.client = new CriClient(this.socket);
  }

  /**
   * Starts containerd with the conflist and imports the image; registers the cleanup with `t`.
   * Hands back once the CRI plugin reports the network ready.
   */
  static async start(t: { teardown(fn: () => Promise<void> | void): void }, options: ContainerdOptions): Promise<Containerd> {
    const dir = mkdtempSync(`/tmp/${options.prefix}-`);
    let cd: Containerd;
    try {
      cd = new Containerd(options, dir);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    t.teardown(() => cd.cleanup());
    sh("ip", ["netns", "add", cd.hostNs.name]);
    sh("ip", ["netns", "exec", cd.hostNs.name, "ip", "link", "set", "lo", "up"]);
    for (const d of [cd.confDir, cd.ipamDataDir, join(dir, "logs"), join(dir, "tmp")]) mkdirSync(d, { recursive: true });
    cd.writeConfig();
    await cd.startHolder();
    await cd.startDaemon();
    const archive = buildImageArchive(join(dir, "image"));
    cd.inMountNs("ctr", ["--address", cd.socket, "--namespace", "k8s.io", "images", "import", "--platform", "linux/amd64", archive]);
    return cd;
  }

  get image(): string {
    return IMAGE_NAME;
  }

  /** The last lines of containerd's log, for failure messages. */
  logTail(lines = 30): string {
    if (!existsSync(this.logFile)) return "";
    return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Runs a command in containerd's mount namespace (and the root netns). */
  private inMountNs(cmd: string, args: string[]): string {
    return sh("nsenter", [`--mount=/proc/${this.holderPid()}/ns/mnt`, "--", cmd, ...args]);
  }

  /** A path as containerd sees it (e.g. a pod netns mount, which exists only in its mount namespace). */
  pathInMountNs(path: string): string {
    return `/proc/${this.holderPid()}/root${path}`;
  }

  /** Stops containerd (SIGTERM) and starts it again with the same state; pods and shims live on. */
  async restart(): Promise<void> {
    await this.stopDaemon();
    await this.startDaemon();
  }

  /** Replaces the conflist and restarts containerd, so the next pod is set up with the new one. */
  async setConflist(conflist: ConflistFor): Promise<void> {
    rmSync(join(this.confDir, `10-${this.conflist.name}.conflist`), { force: true });
    this.conflist = this.checkedConflist(conflist);
    this.writeConfig();
    await this.restart();
  }

  /** Leases must stay in the temp dir: the plugins run in the root filesystem. */
  private checkedConflist(make: ConflistFor): Conflist {
    const conflist = make(this.ipamDataDir);
    for (const plugin of conflist.plugins) {
      const ipam = plugin.ipam as { dataDir?: string } | undefined;
      if (ipam && !ipam.dataDir?.startsWith(`${this.dir}/`)) throw new Error(`conflist: ipam.dataDir must be under ${this.dir}, got ${ipam.dataDir}`);
    }
    return conflist;
  }

  private holderPid(): number {
    const pid = this.holder?.pid;
    if (pid === undefined) throw new Error("containerd's mount namespace holder is not running");
    return pid;
  }

  private writeConfig(): void {
    writeFileSync(join(this.confDir, `10-${this.conflist.name}.conflist`), JSON.stringify(this.conflist, null, 2));
    const q = JSON.stringify;
    const cri = `plugins."io.containerd.grpc.v1.cri"`;
    writeFileSync(
      join(this.dir, "config.toml"),
      `version = 2
root = ${q(join(this.dir, "root"))}
state = ${q(join(this.dir, "state"))}
temp = ${q(join(this.dir, "tmp"))}
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = ${q(this.socket)}

[ttrpc]
  address = ${q(`${this.socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(this.dir, "opt"))}

[${cri}]
  sandbox_image = ${q(IMAGE_NAME)}
  # No CAP_SYS_RESOURCE here: without it the sandbox dies with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  Root = ${q(join(this.dir, "runc"))}
  SystemdCgroup = false

[${cri}.cni]
  bin_dir = ${q(this.options.binDir)}
  conf_dir = ${q(this.confDir)}
  max_conf_num = 1
`,
    );
  }

  /** The private mount namespace: /var/lib and /run as overlays with upper layers in the temp dir. */
  private async startHolder(): Promise<void> {
    this.holder = await startMountNamespaceHolder(this.dir);
  }

  private async startDaemon(): Promise<void> {
    const log = openSync(this.logFile, "a");
    const daemon = spawn(
      "nsenter",
      [`--mount=/proc/${this.holderPid()}/ns/mnt`, `--net=${this.hostNs.path}`, "--", "containerd", "--config", join(this.dir, "config.toml")],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    this.daemon = daemon;
    let exited: string | undefined;
    daemon.on("exit", (code, signal) => (exited = `containerd exited (${signal ?? code})`));
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last = "socket not there yet";
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${exited} while starting:\n${this.logTail()}`);
      if (existsSync(this.socket)) {
        try {
          const network = (await this.client.status()).find((c) => c.type === "NetworkReady");
          if (network?.status) return;
          last = `NetworkReady: ${network?.reason ?? "?"} ${network?.message ?? ""}`;
        } catch (e) {
          last = (e as Error).message;
        }
      }
      await sleep(100);
    }
    throw new Error(`containerd not ready after ${START_TIMEOUT_MS} ms (${last}):\n${this.logTail()}`);
  }

  private async stopDaemon(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    if (!daemon || daemon.exitCode !== null || daemon.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => daemon.once("exit", () => resolve()));
    daemon.kill("SIGTERM");
    const done = await Promise.race([exited.then(() => true), sleep(10_000, undefined, { ref: false }).then(() => false)]);
    if (!done) {
      daemon.kill("SIGKILL");
      await exited;
    }
  }

  /** Pids of every process in containerd's mount namespace (daemon, shims, holder). */
  private mountNsPids(): number[] {
    const pid = this.holder?.pid;
    return pid === undefined ? [] : pidsInMountNamespaceOf(pid);
  }

  /** Stops and removes every pod still known to containerd, through the CRI (as a kubelet would). */
  private async removeAllPods(): Promise<void> {
    const pods = await this.client.listPodSandbox();
    for (const pod of pods) {
      await this.client.stopPodSandbox(pod.id);
      await this.client.removePodSandbox(pod.id);
    }
  }

  async cleanup(): Promise<void> {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    const problems: string[] = [];
    if (this.daemon) {
      try {
        await this.removeAllPods();
      } catch (e) {
        problems.push(`removing pods: ${(e as Error).message}`);
      }
    }
    this.client.close();
    await this.stopDaemon();
    // Whatever is left (shims, pause and container processes, the holder) is ours: kill it by pid.
    // The pods' processes are found through their cgroups: they live in mount namespaces of their own.
    await killUntilGone(() => [...this.mountNsPids(), ...pidsInCgroups(this.cgroupParent)]);
    this.holder = undefined;
    const left = await removeCgroupsPatiently(this.cgroupParent);
    if (left.length > 0) problems.push(`cgroups left: ${left.join(", ")}`);
    sh("ip", ["netns", "del", this.hostNs.name], { allowFail: true });
    // The mounts were all in the private mount namespace, gone with its last process: nothing under
    // the temp dir is mounted in ours, so removing it cannot reach outside.
    const stillMounted = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.split(" ")[4]?.startsWith(this.dir));
    if (stillMounted.length === 0) rmSync(this.dir, { recursive: true, force: true });
    else problems.push(`mounts left under ${this.dir}: ${stillMounted.join("; ")}`);
    if (problems.length > 0) throw new Error(`containerd cleanup: ${problems.join("; ")}`);
  }
}
