// Builds every executable into dist/bin: one Bun-compiled binary (`tscni`) and a hard link to it
// per plugin name; the binary dispatches on the name it was invoked by.
import { execFileSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const outDir = join(root, process.env.TSCNI_OUT_DIR ?? "dist/bin");
export const PLUGINS = ["bridge", "host-local", "ipvlan", "loopback", "macvlan", "tuning", "vxlan", "firewall", "portmap"];

const bun = join(dirname(createRequire(import.meta.url).resolve("@oven/bun-linux-x64/package.json")), "bin", "bun");

// Built beside the output and swapped in, so a concurrent build or a running test never sees a
// half-written directory.
const workDir = `${outDir}.tmp-${process.pid}`;
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const binary = join(workDir, "tscni");
execFileSync(
  bun,
  [
    "build",
    "--compile",
    "--minify",
    "--bytecode",
    "--format=esm",
    // Each plugin (and the CLI) becomes its own chunk, loaded only when invoked.
    "--splitting",
    "--target=bun-linux-x64",
    // A plugin must not pick up .env or bunfig.toml from whatever directory the runtime runs it in.
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    join(root, "plugins/main.ts"), "--outfile", binary],
  { stdio: ["ignore", "ignore", "inherit"] },
);
for (const name of PLUGINS) linkSync(binary, join(workDir, name));
const mb = (statSync(binary).size / 2 ** 20).toFixed(1);
const oldDir = `${outDir}.old-${process.pid}`;
if (existsSync(outDir)) renameSync(outDir, oldDir);
renameSync(workDir, outDir);
rmSync(oldDir, { recursive: true, force: true });
console.log(`built ${outDir}: tscni (${mb} MiB) + hard links ${PLUGINS.join(", ")}`);
