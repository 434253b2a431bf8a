// Boots a throwaway Debian cloud kernel under QEMU to run a shell script against kernel features the
// host may lack (ipvlan, 802.1Q, bridge VLAN filtering). The script reports through console lines
// "PASS <name>" and "FAIL <name> <detail>" (see lib.sh). No disk, no network device: everything
// lives in the initramfs, which is the cached base from prepare.sh plus a per-run archive with
// /init, the script, extraFiles and binDir at /opt/cni/bin.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface VmOptions {
  /** Copied to /opt/cni/bin (hard links kept), with the shared libraries its executables need. */
  binDir: string;
  /** Run by sh (dash) with lib.sh sourced; busybox provides most commands, iproute2 ip and bridge. */
  script: string;
  timeoutMs?: number;
  memoryMb?: number;
  /** Absolute path inside the VM → file contents. Cannot replace files of the base initramfs. */
  extraFiles?: Record<string, string>;
}

export interface VmTestResult {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface VmRun {
  /** Console output, one entry per line. */
  lines: string[];
  results: VmTestResult[];
  timedOut: boolean;
  /** The script's exit status; null when it did not finish (timeout, panic, failed boot). */
  exitCode: number | null;
  /** Why the VM could not be run at all (prepare.sh exited 77). */
  skipped?: string;
}

const vmDir = import.meta.dirname;
const cacheDir = path.join(vmDir, ".cache");
const prepareSkipStatus = 77;

export async function runInVm(opts: VmOptions): Promise<VmRun> {
  const skipped = prepare();
  if (skipped !== undefined) {
    return { lines: [], results: [], timedOut: false, exitCode: null, skipped };
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-vm-"));
  try {
    const initrd = path.join(work, "initrd");
    buildInitrd(path.join(work, "root"), initrd, opts);
    const { output, timedOut } = await boot(initrd, opts.timeoutMs ?? 120_000, opts.memoryMb ?? 1024);
    return { ...parseConsole(output), timedOut };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Runs prepare.sh; returns the skip reason when it exits 77. */
function prepare(): string | undefined {
  const res = spawnSync("bash", [path.join(vmDir, "prepare.sh")], { encoding: "utf8" });
  const output = `${res.stdout ?? ""}${res.stderr ?? ""}`;
  if (res.status === prepareSkipStatus) {
    return /^SKIP: (.*)$/m.exec(output)?.[1] ?? output.trim();
  }
  if (res.status !== 0) {
    throw new Error(`test/vm/prepare.sh failed (${res.error?.message ?? `status ${res.status}`}):\n${output}`);
  }
  return undefined;
}

function buildInitrd(root: string, initrd: string, opts: VmOptions): void {
  const files: Record<string, string> = {
    ...opts.extraFiles,
    "/vm/lib.sh": fs.readFileSync(path.join(vmDir, "lib.sh"), "utf8"),
    "/vm/test.sh": opts.script,
  };
  fs.mkdirSync(root);
  for (const [vmPath, contents] of Object.entries(files)) {
    writeInto(root, vmPath, contents);
  }
  fs.copyFileSync(path.join(vmDir, "init.sh"), path.join(root, "init"));
  fs.chmodSync(path.join(root, "init"), 0o755);

  const executables = copyKeepingHardLinks(opts.binDir, path.join(root, "opt/cni/bin"));
  for (const lib of new Set(executables.flatMap(sharedLibraries))) {
    const dest = path.join(root, lib);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(fs.realpathSync(lib), dest);
  }

  // The kernel unpacks concatenated archives in turn. The per-run one goes uncompressed (the ~100 MB
  // executables take seconds to gzip here and longer to inflate under TCG), and first: the kernel
  // mis-finds an uncompressed archive that follows a gzip one. So base files win over per-run ones.
  const pack = 'find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 >"$0" && cat "$1" >>"$0"';
  const res = spawnSync("sh", ["-c", pack, initrd, path.join(cacheDir, "base.cpio.gz")], { cwd: root, encoding: "utf8" });
  if (res.status !== 0) {
    throw new Error(`packing ${root} failed: ${res.stderr}`);
  }
}

function writeInto(root: string, vmPath: string, contents: string): void {
  const dest = path.join(root, vmPath);
  if (!path.isAbsolute(vmPath) || !dest.startsWith(root + path.sep)) {
    throw new Error(`extraFiles path must be absolute and inside the VM: "${vmPath}"`);
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(dest, contents);
}

/** Copies the regular files of `from` into `to`, linking names that share an inode; returns the first copy of each. */
function copyKeepingHardLinks(from: string, to: string): string[] {
  fs.mkdirSync(to, { recursive: true });
  const copied = new Map<string, string>();
  for (const name of fs.readdirSync(from).sort()) {
    const src = path.join(from, name);
    const st = fs.statSync(src);
    if (!st.isFile()) continue;
    const dest = path.join(to, name);
    const key = `${st.dev}:${st.ino}`;
    const first = copied.get(key);
    if (first !== undefined) {
      fs.linkSync(first, dest);
    } else {
      fs.copyFileSync(src, dest);
      fs.chmodSync(dest, st.mode & 0o7777);
      copied.set(key, dest);
    }
  }
  return [...copied.values()];
}

/** Host paths of the dynamic loader and libraries `ldd` names for an ELF; none for anything else. */
function sharedLibraries(file: string): string[] {
  const res = spawnSync("ldd", [file], { encoding: "utf8" });
  if (res.status !== 0) return []; // static, or not an executable
  return [...res.stdout.matchAll(/(?:=> |^\s+)(\/\S+)/gm)].map((m) => m[1]!);
}

async function boot(initrd: string, timeoutMs: number, memoryMb: number): Promise<{ output: string; timedOut: boolean }> {
  const qemu = [
    "qemu-system-x86_64",
    ...["-accel", "tcg", "-cpu", "max", "-m", String(memoryMb), "-smp", "1"],
    ...["-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none", "-no-reboot"],
    ...["-kernel", path.join(cacheDir, "vmlinuz"), "-initrd", initrd],
    ...["-append", "console=ttyS0 panic=-1 quiet"],
  ];
  // setpriv's parent-death signal kills QEMU even if this process is killed outright.
  const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", ...qemu], { stdio: ["ignore", "pipe", "pipe"] });
  const chunks: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => chunks.push(b));
  child.stderr.on("data", (b: Buffer) => chunks.push(b));
  const kill = () => child.kill("SIGKILL");
  process.on("exit", kill);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", () => resolve());
    });
  } finally {
    clearTimeout(timer);
    process.off("exit", kill);
  }
  return { output: Buffer.concat(chunks).toString("utf8"), timedOut };
}

function parseConsole(output: string): Omit<VmRun, "timedOut"> {
  const lines = output.split(/\r?\n/).map((l) => l.replace(/\r/g, ""));
  const results: VmTestResult[] = [];
  let exitCode: number | null = null;
  for (const line of lines) {
    const m = /^(PASS|FAIL) (\S+)(?: (.*))?$/.exec(line);
    if (m) {
      results.push(m[1] === "PASS" ? { name: m[2]!, ok: true } : { name: m[2]!, ok: false, detail: m[3] ?? "" });
    }
    const exit = /^VM-EXIT (\d+)$/.exec(line);
    if (exit) exitCode = Number(exit[1]);
  }
  return { lines, results, exitCode };
}
