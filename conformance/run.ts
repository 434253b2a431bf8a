// npm run conformance -- --cni-path DIR [--only loopback,skel] [--plugins a,b] [--strict] [-- <tap args>]
// Runs the conformance sections (conformance/<section>.test.ts) with tap against the plugins in
// DIR, then lists the reference deviations the run named.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);

const { values, positionals } = parseArgs({
  options: {
    "cni-path": { type: "string", default: join(root, "dist/bin") },
    only: { type: "string" },
    plugins: { type: "string" },
    strict: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
  allowPositionals: true,
});

const sections = readdirSync(here)
  .filter((name) => name.endsWith(".test.ts"))
  .map((name) => name.slice(0, -".test.ts".length))
  .sort();

if (values.help) {
  console.log(`usage: npm run conformance -- --cni-path DIR [--only SECTION[,SECTION]] [--plugins NAME,...] [-- TAP-ARGS]
sections: ${sections.join(", ")}
--plugins narrows the generic "skel" section to these executables.
--strict fails the run when any reference deviation was tolerated (for CI on our own build).`);
  process.exit(0);
}

const cniPath = resolve(values["cni-path"]!);
if (!existsSync(cniPath)) {
  console.error(`conformance: ${cniPath} does not exist${cniPath.endsWith("dist/bin") ? " (build it with: node build.mjs)" : ""}`);
  process.exit(2);
}
const only = values.only?.split(",").filter(Boolean) ?? sections;
const unknown = only.filter((section) => !sections.includes(section));
if (unknown.length > 0) {
  console.error(`conformance: unknown section(s) ${unknown.join(", ")}; known: ${sections.join(", ")}`);
  process.exit(2);
}

const logDir = mkdtempSync(join(tmpdir(), "tcf-run-"));
const deviationLog = join(logDir, "deviations.jsonl");
const files = only.map((section) => relative(root, join(here, `${section}.test.ts`)));
const tap = spawnSync(join(root, "node_modules/.bin/tap"), [...files, ...positionals], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    CONFORMANCE_CNI_PATH: cniPath,
    CONFORMANCE_DEVIATION_LOG: deviationLog,
    ...(values.plugins && { CONFORMANCE_PLUGINS: values.plugins }),
  },
});

const seen = new Map<string, { text: string; plugins: Set<string>; count: number }>();
if (existsSync(deviationLog)) {
  for (const line of readFileSync(deviationLog, "utf8").split("\n").filter(Boolean)) {
    const { id, text, plugin } = JSON.parse(line) as { id: string; text: string; plugin: string };
    const entry = seen.get(id) ?? { text, plugins: new Set<string>(), count: 0 };
    entry.plugins.add(plugin);
    entry.count++;
    seen.set(id, entry);
  }
}
rmSync(logDir, { recursive: true, force: true });

console.log(`\nconformance of ${cniPath}: sections ${only.join(", ")}`);
if (seen.size === 0) {
  console.log("no reference deviations named: every assertion was held to the spec");
} else {
  console.log("reference deviations named (tolerated as TODO, they would fail for any other implementation):");
  for (const [id, { text, plugins, count }] of seen) {
    console.log(`  ${id}: ${text} — ${count} assertion(s); ${[...plugins].sort().join(", ")}`);
  }
}
if (values.strict && seen.size > 0) {
  console.log("--strict: deviations are not allowed in this run");
  process.exit(1);
}
process.exit(tap.status ?? 1);
