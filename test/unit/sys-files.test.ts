import t from "tap";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { listDirectory, mkdirs, readTextFileIfExists, removeFile, renameFile, stat, statIfExists, writeFile, isDirectory, isRegularFile } from "../../lib/sys/files.ts";
import { caught } from "../helpers/assert.ts";

t.test("files through lib/sys agree with node:fs", async (t) => {
  const dir = mkdtempSync("/tmp/tscni-files-");
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirs(`${dir}/a/b/c`, 0o700);
  t.ok(isDirectory(stat(`${dir}/a/b/c`)));
  t.equal(statSync(`${dir}/a/b`).mode & 0o777, 0o700);
  writeFile(`${dir}/a/f`, "cid\r\neth0", { mode: 0o600, exclusive: true });
  t.equal(readFileSync(`${dir}/a/f`, "utf8"), "cid\r\neth0");
  t.equal(statSync(`${dir}/a/f`).mode & 0o777, 0o600);
  t.match(caught(() => writeFile(`${dir}/a/f`, "x", { exclusive: true })), { code: "EEXIST" });
  const s = stat(`${dir}/a/f`);
  t.ok(isRegularFile(s));
  t.equal(s.size, 9);
  t.equal(s.ino, statSync(`${dir}/a/f`).ino);
  t.equal(statIfExists(`${dir}/nope`), undefined);
  t.equal(readTextFileIfExists(`${dir}/nope`), undefined);
  for (let i = 0; i < 300; i++) writeFileSync(`${dir}/a/n${i}`, "");
  t.equal(listDirectory(`${dir}/a`).length, 302, "getdents over several buffers");
  renameFile(`${dir}/a/f`, `${dir}/a/g`);
  t.equal(readTextFileIfExists(`${dir}/a/g`), "cid\r\neth0");
  t.equal(removeFile(`${dir}/a/g`), true);
  t.equal(removeFile(`${dir}/a/g`), false);
});
