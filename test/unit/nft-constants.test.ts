// lib/nft/constants.ts against the kernel headers: compiles a C program that prints every constant.
import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as C from "../../lib/nft/constants.ts";

// Not in the installed headers (see the comments in constants.ts).
const NOT_UAPI = /^(NFT_MSG_DESTROY|NFTNL_|NFT_BYTEORDER_|NFT_EXPR_CONCAT$|NFT_TYPE_BITS$)/;
// Header macros that take an argument.
const EXPRESSIONS: Record<string, string> = {
  NF_CT_STATE_ESTABLISHED_BIT: "NF_CT_STATE_BIT(IP_CT_ESTABLISHED)",
  NF_CT_STATE_RELATED_BIT: "NF_CT_STATE_BIT(IP_CT_RELATED)",
  NF_CT_STATE_NEW_BIT: "NF_CT_STATE_BIT(IP_CT_NEW)",
};

t.test("constants match the uapi headers", async (t) => {
  const names = Object.keys(C).filter((n) => !NOT_UAPI.test(n));
  const dir = mkdtempSync(join(tmpdir(), "tnft-consts-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const source = [
    "#include <stdio.h>",
    "#include <linux/netlink.h>",
    "#include <linux/netfilter.h>",
    "#include <linux/netfilter/nfnetlink.h>",
    "#include <linux/netfilter/nf_tables.h>",
    "#include <linux/netfilter/nf_nat.h>",
    "#include <linux/netfilter/nf_conntrack_common.h>",
    "int main(void) {",
    ...names.map((n) => `  printf("%s %lld\\n", "${n}", (long long)(${EXPRESSIONS[n] ?? n}));`),
    "  return 0;",
    "}",
  ].join("\n");
  writeFileSync(join(dir, "c.c"), source);
  execFileSync("cc", ["-o", join(dir, "c"), join(dir, "c.c")], { stdio: "pipe" });
  const printed = Object.fromEntries(
    execFileSync(join(dir, "c"), { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .map(([n, v]) => [n, Number(v)]),
  );
  const ours = Object.fromEntries(names.map((n) => [n, (C as Record<string, number>)[n]]));
  t.same(ours, printed);
  t.ok(names.length > 150, `${names.length} constants checked`);
});
