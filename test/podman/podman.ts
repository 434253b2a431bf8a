// A real podman (Debian's 4.3, CNI backend) for one test, with everything private to it:
// - network: every podman command runs inside a throw-away "host" netns (`nsenter --net`, not
//   `ip netns exec`, which remounts /sys and hides the cgroup mounts runc needs), so the bridge,
//   the rules, the veths and the published ports live there and the root netns is never touched;
// - files: containers.conf and storage.conf of its own (`CONTAINERS_CONF`, `CONTAINERS_STORAGE_CONF`)
//   put the network config dir, storage, tmp dir, locks (file locks, not /dev/shm) and event log
//   in a temp dir; podman and the plugins also write where no setting reaches (host-local's leases
//   /var/lib/cni/networks, libcni's result cache /var/lib/cni/results, the container netns mounts
//   /run/netns, runc's state /run/runc, the image blob cache /var/lib/containers/cache), so they run
//   in a private mount namespace in which /var/lib and /run are overlays whose upper layers are in
//   the temp dir;
// - cgroups: containers get a cgroup parent of their own (`--cgroup-parent`; conmon lands in
//   `<parent>/conmon`), removed at the end.
// The mount namespace is kept alive by a small holder process. Cleanup removes the containers
// through podman, then kills every process of the mount namespace and of the cgroup parent (conmon,
// container processes; by pid), removes the cgroups, the netns and the temp dir, even when the
// test failed.
import { type ChildProcess, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startMountNamespaceHolder } from "../helpers/mount-namespace.ts";
import { sh } from "../helpers/netns.ts";
import { killUntilGone, pidsInCgroups, pidsInMountNamespaceOf, removeCgroupsPatiently } from "../helpers/process-reaper.ts";
import { buildImageArchive, IMAGE_NAME } from "../cri/image.ts";

export interface PodmanOptions {
  /** `cni_plugin_dirs`: the only directory podman looks for CNI plugins in. */
  binDir: string;
  /** Prefix of the netns, cgroup and temp dir names. */
  prefix: string;
}

/** What `podman inspect` says about a running container, and what the harness gave it. */
export interface Container {
  name: string;
  /** The full container id: the CNI container id. */
  id: string;
  /** The container's init pid, whose /proc/<pid>/ns/net is its netns. */
  pid: number;
  /** IP and MAC podman reports for the container on `network`. */
  ip: string;
  mac: string;
  /** The netns mount podman made (`/run/netns/netns-…`, in the private mount namespace). */
  netnsPath: string;
  network: string;
  /** What the container's servers answer (TCP_PORT, UDP_PORT), when it runs them. */
  token: string;
  serving: boolean;
}

export interface RunOptions {
  network: string;
  /** `-p` arguments, e.g. `18080:8000`, `10.0.0.1:18081:8000`, `18082:8001/udp`. */
  publish?: string[];
  ip?: string;
  mac?: string;
  /** Run the token servers (default true); false: the image's `sleep infinity`. */
  serve?: boolean;
}

export const TCP_PORT = 8000;
export const UDP_PORT = 8001;

/** Every podman command; podman run and rm are quick, this only catches a hang. */
const COMMAND_TIMEOUT_MS = 60_000;

export class Podman {
  readonly dir: string;
  readonly confDir: string;
  /** The "host": the netns podman and the CNI plugins run in. */
  readonly hostNs: { name: string; path: string };
  /** Cgroup parent of the containers (cgroupfs syntax). */
  readonly cgroupParent: string;
  readonly image = IMAGE_NAME;
  private holder: ChildProcess | undefined;
  private cleanedUp = false;

  private constructor(
    readonly options: PodmanOptions,
    dir: string,
  ) {
    const id = randomBytes(3).toString("hex");
    this.dir = dir;
    this.confDir = join(dir, "net.d");
    this.hostNs = { name: `${options.prefix}-${id}`, path: `/run/netns/${options.prefix}-${id}` };
    this.cgroupParent = `/${options.prefix}-${id}`;
  }

  /** Sets podman up on `binDir` and loads the image; registers the cleanup with `t`. */
  static async start(t: { teardown(fn: () => Promise<void> | void): void }, options: PodmanOptions): Promise<Podman> {
    const pm = new Podman(options, mkdtempSync(`/tmp/${options.prefix}-`));
    t.teardown(() => pm.cleanup());
    sh("ip", ["netns", "add", pm.hostNs.name]);
    sh("ip", ["netns", "exec", pm.hostNs.name, "ip", "link", "set", "lo", "up"]);
    pm.writeConfig();
    await pm.startHolder();
    pm.podman(["load", "--quiet", "--input", buildImageArchive(join(pm.dir, "image"))]);
    return pm;
  }

  /** Runs podman (in the private mount namespace and the host netns); its stdout. */
  podman(args: string[], opts: { allowFail?: boolean } = {}): string {
    const env = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      CONTAINERS_CONF: join(this.dir, "containers.conf"),
      CONTAINERS_STORAGE_CONF: join(this.dir, "storage.conf"),
      CONTAINERS_REGISTRIES_CONF: join(this.dir, "registries.conf"),
      TMPDIR: join(this.dir, "tmp"),
    };
    try {
      return execFileSync("nsenter", [`--mount=/proc/${this.holderPid()}/ns/mnt`, `--net=${this.hostNs.path}`, "--", "podman", ...args], {
        encoding: "utf8",
        env,
        stdio: ["ignore", "pipe", "pipe"],
        timeout: COMMAND_TIMEOUT_MS,
      });
    } catch (e) {
      if (opts.allowFail) return "";
      const err = e as { stderr?: string; message: string };
      throw new Error(`podman ${args.join(" ")}: ${err.stderr?.trim() || err.message}`);
    }
  }

  /** `podman run -d` of the image on `network`, with the token servers unless `serve: false`. */
  async run(name: string, opts: RunOptions): Promise<Container> {
    const token = `token-${name}`;
    const reply = `SYSTEM:'echo ${token}'`;
    const serving = opts.serve ?? true;
    const args = ["run", "--detach", "--name", name, "--network", opts.network, "--cgroup-parent", this.cgroupParent, "--cap-add", "NET_RAW"];
    for (const p of opts.publish ?? []) args.push("--publish", p);
    if (opts.ip) args.push("--ip", opts.ip);
    if (opts.mac) args.push("--mac-address", opts.mac);
    args.push(this.image);
    if (serving) args.push("/bin/sh", "-c", `socat TCP-LISTEN:${TCP_PORT},fork,reuseaddr ${reply} & exec socat UDP-RECVFROM:${UDP_PORT},fork ${reply}`);
    this.podman(args);
    const c = { ...this.inspect(name, opts.network), token, serving };
    if (serving) await waitListening(c);
    return c;
  }

  /** `podman restart` (DEL, then ADD of the same container id); the container as it is afterwards. */
  async restart(c: Container): Promise<Container> {
    this.podman(["restart", "--time", "0", c.name]);
    const after = { ...c, ...this.inspect(c.name, c.network) };
    if (after.serving) await waitListening(after);
    return after;
  }

  /** The container as `podman inspect` shows it now (a restart gives it a new pid and netns). */
  inspect(name: string, network: string): Omit<Container, "token" | "serving"> {
    const [info] = JSON.parse(this.podman(["inspect", "--type", "container", name])) as {
      Id: string;
      State: { Pid: number };
      NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; MacAddress: string }> };
    }[];
    const net = info?.NetworkSettings.Networks[network];
    if (!info || !net) throw new Error(`podman inspect ${name}: not attached to ${network}`);
    return { name, id: info.Id, pid: info.State.Pid, ip: net.IPAddress, mac: net.MacAddress, netnsPath: info.NetworkSettings.SandboxKey, network };
  }

  /** `podman rm -f` (with `-t 0`: `sleep`/`socat` as pid 1 ignore SIGTERM, podman would wait 10 s). */
  remove(name: string): void {
    this.podman(["rm", "--force", "--time", "0", name]);
  }

  /** Names of the containers podman knows (running or not). */
  containerNames(): string[] {
    return this.podman(["ps", "--all", "--format", "{{.Names}}"]).split("\n").filter(Boolean);
  }

  /** A path as podman and the plugins see it (through the holder's root: the overlays, the netns mounts). */
  pathInMountNs(path: string): string {
    return `/proc/${this.holderPid()}/root${path}`;
  }

  /** host-local's default `dataDir` for a network (podman's conflists set none). */
  leaseDir(network: string): string {
    return this.pathInMountNs(`/var/lib/cni/networks/${network}`);
  }

  /** libcni's result cache (podman's CNI backend keeps libcni's default cache dir). */
  get resultCacheDir(): string {
    return this.pathInMountNs("/var/lib/cni/results");
  }

  private holderPid(): number {
    const pid = this.holder?.pid;
    if (pid === undefined) throw new Error("podman's mount namespace holder is not running");
    return pid;
  }

  private writeConfig(): void {
    for (const d of [this.confDir, "tmp", "libpod", "static", "volumes", "storage", "runroot"]) mkdirSync(join(this.dir, d), { recursive: true });
    const q = JSON.stringify;
    writeFileSync(
      join(this.dir, "containers.conf"),
      `[containers]
# Raising a limit needs CAP_SYS_RESOURCE, which this machine's root lacks: stay within ours.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[network]
network_backend = "cni"
cni_plugin_dirs = [${q(this.options.binDir)}]
network_config_dir = ${q(this.confDir)}

[engine]
# crun 1.8 refuses hybrid cgroups (v1 + v2), as this machine has; no systemd as PID 1.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = ${q(join(this.dir, "events.log"))}
tmp_dir = ${q(join(this.dir, "libpod"))}
static_dir = ${q(join(this.dir, "static"))}
volume_path = ${q(join(this.dir, "volumes"))}
image_copy_tmp_dir = ${q(join(this.dir, "tmp"))}
# shm locks would live in /dev/shm, which no overlay covers.
lock_type = "file"
`,
    );
    writeFileSync(
      join(this.dir, "storage.conf"),
      `[storage]
driver = "overlay"
graphroot = ${q(join(this.dir, "storage"))}
runroot = ${q(join(this.dir, "runroot"))}
`,
    );
    writeFileSync(join(this.dir, "registries.conf"), "unqualified-search-registries = []\n");
  }

  /** The private mount namespace: /var/lib and /run as overlays with upper layers in the temp dir. */
  private async startHolder(): Promise<void> {
    this.holder = await startMountNamespaceHolder(this.dir);
  }

  /** Pids of every process in the private mount namespace (conmon, the holder, a stuck podman). */
  private mountNsPids(): number[] {
    const pid = this.holder?.pid;
    return pid === undefined ? [] : pidsInMountNamespaceOf(pid);
  }

  async cleanup(): Promise<void> {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    const problems: string[] = [];
    if (this.holder) {
      try {
        this.podman(["rm", "--all", "--force", "--time", "0"]);
      } catch (e) {
        problems.push(`removing containers: ${(e as Error).message}`);
      }
    }
    // Whatever is left (conmon, container processes, the holder) is ours: kill it by pid.
    // Container processes are found through their cgroups: they have mount namespaces of their own.
    await killUntilGone(() => [...this.mountNsPids(), ...pidsInCgroups(this.cgroupParent)]);
    this.holder = undefined;
    const left = await removeCgroupsPatiently(this.cgroupParent);
    if (left.length > 0) problems.push(`cgroups left: ${left.join(", ")}`);
    sh("ip", ["netns", "del", this.hostNs.name], { allowFail: true });
    // Every mount (overlays, container rootfs, netns) was in the private mount namespace, gone with
    // its last process: nothing under the temp dir is mounted in ours, so removing it stays inside.
    const stillMounted = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.split(" ")[4]?.startsWith(this.dir));
    if (stillMounted.length === 0) rmSync(this.dir, { recursive: true, force: true });
    else problems.push(`mounts left under ${this.dir}: ${stillMounted.join("; ")}`);
    if (problems.length > 0) throw new Error(`podman cleanup: ${problems.join("; ")}`);
  }
}

/** `/proc/<pid>/net/{tcp,udp}` lists a socket bound to `port` (hex, as the kernel prints it). */
function listening(pid: number, proto: "tcp" | "udp", port: number): boolean {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync(`/proc/${pid}/net/${proto}`, "utf8")
    .split("\n")
    .slice(1)
    .some((line) => line.trim().split(/\s+/)[1]?.endsWith(local) === true);
}

async function waitListening(c: Container): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(listening(c.pid, "tcp", TCP_PORT) && listening(c.pid, "udp", UDP_PORT))) {
    if (Date.now() > deadline) throw new Error(`token servers of ${c.name} not listening after 10 s`);
    await sleep(50);
  }
}
