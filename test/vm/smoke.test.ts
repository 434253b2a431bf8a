// Proves the VM harness: the cloud kernel boots, its modules load, ipvlan and VLAN links can be made
// in a named netns, executables from binDir run, results and timeouts come back.
import * as fs from "node:fs";
import * as path from "node:path";
import t, { type Test } from "tap";
import { runInVm, type VmRun } from "./run-vm.ts";

const script = `
check module-ipvlan grep -q '^ipvlan ' /proc/modules
check module-8021q grep -q '^8021q ' /proc/modules
check netns-add netns_add ctr
check netns-path test -e /run/netns/ctr
check ipvlan-in-netns sh -c '
	ip -n ctr link add master0 type dummy &&
	ip -n ctr link add ipvl0 link master0 type ipvlan mode l2 &&
	ip -n ctr -d link show ipvl0 | grep -q "ipvlan  mode l2"'
check vlan-in-netns sh -c '
	ip -n ctr link add link master0 name master0.10 type vlan id 10 &&
	ip -n ctr -d link show master0.10 | grep -q "vlan protocol 802.1Q id 10"'
check bridge-vlan-filtering sh -c '
	ip link add br0 type bridge vlan_filtering 1 &&
	ip link add port0 type dummy &&
	ip link set port0 master br0 &&
	bridge vlan add dev port0 vid 20 &&
	bridge vlan show dev port0 | grep -qw 20'
check bin-runs sh -c 'test "$(/opt/cni/bin/hello hi)" = hi'
check bin-hard-link sh -c 'test /opt/cni/bin/hello -ef /opt/cni/bin/hello-link'
check harness-reports-failure false
`;

function skipLoudly(t: Test, run: VmRun): boolean {
  if (run.skipped === undefined) return false;
  console.error(`\n*** VM tests SKIPPED: ${run.skipped} ***\n`);
  t.pass("VM tests", { skip: run.skipped });
  return true;
}

t.test("a script in the VM sees ipvlan, 802.1Q, netns and binDir", async (t) => {
  const binDir = t.testdir({});
  // Any dynamic executable proves the loader and libraries were copied along.
  fs.copyFileSync("/bin/echo", path.join(binDir, "hello"));
  fs.linkSync(path.join(binDir, "hello"), path.join(binDir, "hello-link"));

  const run = await runInVm({ binDir, script, timeoutMs: 45_000 });
  if (skipLoudly(t, run)) return;

  t.equal(run.timedOut, false, "VM finished in time");
  t.equal(run.exitCode, 0, "script exited 0");
  const byName = new Map(run.results.map((r) => [r.name, r]));
  for (const name of [...script.matchAll(/^check (\S+)/gm)].map((m) => m[1]!)) {
    const result = byName.get(name);
    if (name === "harness-reports-failure") {
      t.match(result, { ok: false, detail: /^exit 1:/ }, "FAIL lines are parsed with their detail");
    } else {
      t.equal(result?.ok, true, name, { detail: result?.detail });
    }
  }
  if (!t.passing()) t.comment(run.lines.join("\n"));
});

t.test("a script that never finishes is cut off at the timeout", async (t) => {
  const run = await runInVm({ binDir: t.testdir({}), script: "pass started; sleep 600", timeoutMs: 8_000 });
  if (skipLoudly(t, run)) return;
  t.equal(run.timedOut, true, "reported as timed out");
  t.equal(run.exitCode, null, "no exit status");
});
