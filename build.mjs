// Builds every executable into dist/bin: one Bun-compiled binary (`tscni`) and a hard link to it
// per plugin name; the binary dispatches on the name it was invoked by.
import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const outDir = join(root, process.env.TSCNI_OUT_DIR ?? "dist/bin");
export const PLUGINS = ["loopback"];

const bun = join(dirname(createRequire(import.meta.url).resolve("@oven/bun-linux-x64/package.json")), "bin", "bun");

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const binary = join(outDir, "tscni");
execFileSync(
  bun,
  [
    "build",
    "--compile",
    "--minify",
    "--bytecode",
    "--format=esm",
    "--target=bun-linux-x64",
    // A plugin must not pick up .env or bunfig.toml from whatever directory the runtime runs it in.
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    join(root, "plugins/main.ts"), "--outfile", binary],
  { stdio: ["ignore", "ignore", "inherit"] },
);
for (const name of PLUGINS) linkSync(binary, join(outDir, name));
const mb = (statSync(binary).size / 2 ** 20).toFixed(1);
console.log(`built ${outDir}: tscni (${mb} MiB) + hard links ${PLUGINS.join(", ")}`);
