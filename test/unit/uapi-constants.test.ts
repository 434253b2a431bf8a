import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as rtnl from "../../lib/rtnl/constants.ts";

// The constants in lib/rtnl/constants.ts must equal the kernel UAPI headers on this machine: a C
// program compiled against them prints every value, and each must match ours.
t.test("rtnetlink constants match /usr/include/linux", async (t) => {
  const dir = mkdtempSync("/tmp/tscni-uapi-");
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const source = new URL("uapi-constants.c", import.meta.url).pathname;
  execFileSync("cc", [source, "-o", `${dir}/uapi`]);
  const printed = execFileSync(`${dir}/uapi`, { encoding: "utf8" });
  const ours = rtnl as unknown as Record<string, number>;
  let checked = 0;
  for (const line of printed.trim().split("\n")) {
    const m = /^export const (\w+) = (-?\d+);$/.exec(line);
    if (!m) continue;
    t.equal(ours[m[1]!], Number(m[2]), m[1]!);
    checked++;
  }
  t.ok(checked > 150, `${checked} constants checked`);
});
