// Generic checks every plugin in the directory must pass, whatever it does: VERSION, the error
// JSON ({code, msg} on stdout, exit != 0) for the requests the dispatcher refuses before the plugin
// runs (unknown command, missing env, undecodable config, unsupported version, CHECK before 0.4.0).
import t, { type Test } from "tap";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ALL_VERSIONS, cniDir, expectError, expectSpec, makeSandbox, probe, requireEnvironment, type Netns, type Profile, type Sandbox } from "./harness.ts";

const VERSION_SYNTAX = /^\d+\.\d+\.\d+$/;

/** Executable files in the directory under test, optionally narrowed by CONFORMANCE_PLUGINS=a,b. */
function executables(): string[] {
  const only = process.env.CONFORMANCE_PLUGINS?.split(",").filter(Boolean);
  return readdirSync(cniDir)
    .filter((name) => {
      const st = statSync(join(cniDir, name));
      return st.isFile() && (st.mode & 0o111) !== 0;
    })
    .filter((name) => !only || only.includes(name))
    .sort();
}

function plugin(t: Test, sb: Sandbox, ctr: Netns, name: string): void {
  const profile = probe(sb, name);
  if (profile.version.supportedVersions.length === 0) {
    // A CNI directory may hold helpers (our multi-call `tscni` invoked by its own name is one):
    // not a plugin, so there is nothing to check, but it must not pretend to be one.
    t.pass(`${name} answers no VERSION: a helper, not a CNI plugin`);
    return;
  }
  const newest = profile.version.supportedVersions.at(-1)!;
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: newest, name: "tcf-skel", type: name, ...extra });
  const env = (command: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: "tcf-skel", CNI_NETNS: ctr.path, CNI_IFNAME: "eth0" });

  versionChecks(t, sb, profile);

  const about = sb.invoke(name, {}, "");
  t.ok(about.status === 0 && about.stdout === "" && /CNI/.test(about.stderr), "without CNI_COMMAND: exit 0, an about text on stderr only (Go skel convention)", {
    status: about.status,
    stdout: about.stdout,
    stderr: about.stderr,
  });
  expectError(t, profile, sb.invoke(name, env("FROB"), conf()), 4, "unknown CNI_COMMAND");

  const bare = sb.invoke(name, { CNI_COMMAND: "ADD" }, conf());
  expectError(t, profile, bare, 4, "ADD with no CNI_CONTAINERID/NETNS/IFNAME");
  t.match((bare.json as { msg?: string } | undefined)?.msg ?? "", "CNI_CONTAINERID", "the msg names the missing variables");

  expectError(t, profile, sb.invoke(name, env("ADD"), `{"cniVersion":"${newest}","name":"tcf-skel",`), 6, "ADD with truncated JSON");
  expectError(t, profile, sb.invoke(name, env("ADD"), conf({ cniVersion: "0.9.9" })), 1, "ADD with an unknown cniVersion");
  const { name: _, ...nameless } = conf();
  expectError(t, profile, sb.invoke(name, env("ADD"), nameless), 7, "ADD with no network name");
  if (profile.supports("0.3.1")) expectError(t, profile, sb.invoke(name, env("CHECK"), conf({ cniVersion: "0.3.1" })), 1, "CHECK at 0.3.1");
}

function versionChecks(t: Test, sb: Sandbox, profile: Profile): void {
  const listed = profile.version.supportedVersions;
  t.ok(listed.every((v) => VERSION_SYNTAX.test(v)), "supportedVersions are MAJOR.MINOR.MICRO strings", { listed });
  // Chained-only plugins may start at 0.3.0 (no prevResult before it); all must speak the current spec.
  t.ok(listed.every((v) => (ALL_VERSIONS as readonly string[]).includes(v)), "supportedVersions are all spec versions", { listed });
  expectSpec(t, profile, "no-1.1.0", listed.includes("1.1.0"), "supportedVersions lists the current spec version 1.1.0", { listed });
  const asked = listed[0]!;
  const reply = sb.invoke(profile.plugin, { CNI_COMMAND: "VERSION" }, { cniVersion: asked });
  const answered = (reply.json as { cniVersion?: unknown } | undefined)?.cniVersion;
  expectSpec(t, profile, "version-reply", answered === asked, `VERSION asked in ${asked} answers in ${asked}`, { answered });
  const empty = sb.invoke(profile.plugin, { CNI_COMMAND: "VERSION" }, "");
  t.ok(empty.status === 0 && Array.isArray((empty.json as { supportedVersions?: unknown } | undefined)?.supportedVersions), "VERSION with empty stdin still answers");
}

if (requireEnvironment(t)) {
  const sb = makeSandbox(t);
  const ctr = sb.container();
  const names = executables();
  t.ok(names.length > 0, `${cniDir} holds executables`);
  for (const name of names) await t.test(name, async (t) => plugin(t, sb, ctr, name));
}
