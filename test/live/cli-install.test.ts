// `tscni install` with the built binary: hard links on the same filesystem, one copy elsewhere,
// foreign plugins kept, ours replaced only with --force, and what was installed runs.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { isRoot } from "../helpers/netns.ts";
import { DIST_BIN } from "../helpers/plugin-exec.ts";
import { TSCNI } from "../helpers/tscni.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}

const run = (args: string[]) => {
  const child = spawnSync(TSCNI, args, { encoding: "utf8", timeout: 60_000 });
  return { status: child.status ?? 128, stdout: child.stdout, stderr: child.stderr };
};

/** Every name dist/bin has: the binary and its hard links. */
const NAMES = readdirSync(DIST_BIN).sort();

t.test("same filesystem: every name is a hard link to the executable; foreign plugins stay", async (t) => {
  const dir = join(t.testdir({ bin: { flannel: "#!/bin/sh\n" } }), "bin");
  const r = run(["install", "--dir", dir, "--json"]);
  t.equal(r.status, 0, r.stderr);
  const steps = JSON.parse(r.stdout) as Array<{ name: string; action: string }>;
  t.strictSame(steps.map((s) => s.name).sort(), NAMES);
  t.ok(steps.every((s) => s.action === "linked"));
  const ino = statSync(TSCNI).ino;
  t.ok(NAMES.every((n) => statSync(join(dir, n)).ino === ino), "same inode as dist/bin/tscni");
  t.equal(readFileSync(join(dir, "flannel"), "utf8"), "#!/bin/sh\n");
  const version = spawnSync(join(dir, "loopback"), [], { env: { CNI_COMMAND: "VERSION" }, input: '{"cniVersion":"1.0.0"}', encoding: "utf8" });
  t.match(JSON.parse(version.stdout), { supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] }, "the installed plugin runs");
  t.match(run(["install", "--dir", dir]).stdout, /loopback\s+unchanged/);
});

t.test("existing files with our names: refused (nothing changed) unless --force", async (t) => {
  const dir = join(t.testdir({ bin: { bridge: "old bridge", loopback: "old loopback", portmapx: "other" } }), "bin");
  const refused = run(["install", "--dir", dir]);
  t.equal(refused.status, 1);
  t.equal(refused.stderr, `tscni: ${dir} already has bridge, loopback: not replacing them without --force\n`);
  t.strictSame(readdirSync(dir).sort(), ["bridge", "loopback", "portmapx"], "nothing added");
  const forced = run(["install", "--dir", dir, "--force", "--json"]);
  t.equal(forced.status, 0, forced.stderr);
  const actions = Object.fromEntries((JSON.parse(forced.stdout) as Array<{ name: string; action: string }>).map((s) => [s.name, s.action]));
  t.equal(actions.bridge, "replaced");
  t.equal(actions.loopback, "replaced");
  t.equal(actions.tscni, "linked");
  t.equal(statSync(join(dir, "bridge")).ino, statSync(TSCNI).ino);
  t.equal(readFileSync(join(dir, "portmapx"), "utf8"), "other");
});

t.test("another filesystem: one copy, the other names linked to it", async (t) => {
  if (!existsSync("/dev/shm") || statSync("/dev/shm").dev === statSync(DIST_BIN).dev) {
    t.fail("/dev/shm must be a filesystem other than dist/bin's for this test");
    return;
  }
  const dir = join("/dev/shm", `tcli-install-${process.pid}`);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = run(["install", "--dir", dir, "--json"]);
  t.equal(r.status, 0, r.stderr);
  const steps = JSON.parse(r.stdout) as Array<{ name: string; action: string }>;
  t.equal(steps.filter((s) => s.action === "copied").length, 1, "one copy");
  t.equal(steps.filter((s) => s.action === "linked").length, NAMES.length - 1);
  t.equal(new Set(NAMES.map((n) => statSync(join(dir, n)).ino)).size, 1, "all names share the copy");
  t.equal(statSync(join(dir, "tscni")).size, statSync(TSCNI).size);
  t.equal(statSync(join(dir, "tscni")).mode & 0o777, 0o755);
  t.equal(spawnSync(join(dir, "tscni"), ["--version"], { encoding: "utf8" }).stdout, "0.1.0\n", "the copy runs");
  t.match(run(["install", "--dir", dir]).stdout, /tscni\s+unchanged/, "an identical copy is left alone");
});
