// tuning side by side with the Go reference (/usr/lib/cni/tuning, Debian 1.1.1): the same config
// gives the same interface and sysctls, and each one's DEL restores after the other's ADD (the
// saved-values file is shared).
import { existsSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { isRoot } from "../helpers/netns.ts";
import { attributes, REFERENCE_TUNING, sysctl, tuningLab, TUNING, type Netns } from "../helpers/tuning-lab.ts";

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}
if (!existsSync(REFERENCE_TUNING)) {
  t.fail(`${REFERENCE_TUNING} is missing (apt-get install containernetworking-plugins)`);
  process.exit(1);
}

// No txQLen: the reference 1.1.1 predates it.
const TUNED = {
  mac: "c2:11:22:33:44:56",
  mtu: 1410,
  promisc: true,
  allmulti: true,
  sysctl: { "net.ipv4.conf.IFNAME.arp_filter": "1", "net.core.somaxconn": "333" },
};

const state = (ctr: Netns) => ({
  ...attributes(ctr, "eth0"),
  arpFilter: sysctl(ctr, "net/ipv4/conf/eth0/arp_filter"),
  somaxconn: sysctl(ctr, "net/core/somaxconn"),
});

/** The result without what only one side prints (Go's `"dns": {}`, our interface mtu). */
const comparable = (result: { interfaces?: Array<Record<string, unknown>>; dns?: unknown }) => ({
  ...result,
  dns: undefined,
  interfaces: result.interfaces?.map(({ mtu: _mtu, ...rest }) => rest),
});

t.test("the same config: the same interface, sysctls and result; DEL restores the same", async (t) => {
  const { container, config, run } = tuningLab(t);
  const ours = container();
  const theirs = container();
  const withoutMac = ({ address: _a, ...rest }: ReturnType<typeof state>) => rest;
  t.same(withoutMac(state(ours)), withoutMac(state(theirs)), "two identical containers (but their MACs)");
  const original = { ours: state(ours), theirs: state(theirs) };

  const a = run("ADD", ours, config(ours, TUNED), { containerId: "ttu-ours" });
  const b = run("ADD", theirs, config(theirs, TUNED), { plugin: REFERENCE_TUNING, containerId: "ttu-theirs" });
  t.equal(a.status, 0, a.stdout);
  t.equal(b.status, 0, b.stdout);
  t.same(state(ours), state(theirs), "same MAC, MTU, promisc, allmulti, sysctls");
  t.same(state(ours), { ...original.ours, address: TUNED.mac, mtu: 1410, promisc: true, allmulti: true, arpFilter: "1", somaxconn: "333" });
  const sandboxFree = (r: { interfaces: Array<{ sandbox?: string }> }) => ({ ...r, interfaces: r.interfaces.map(({ sandbox: _s, ...i }) => i) });
  t.same(sandboxFree(comparable(a.json) as never), sandboxFree(comparable(b.json) as never), "the same result (the new MAC on the container interface)");

  // The reference 1.1.1's CHECK does not replace IFNAME (fixed in v1.3.0), so CHECK without that key.
  const checked = { ...TUNED, sysctl: { "net.core.somaxconn": "333" } };
  t.equal(run("CHECK", ours, config(ours, { ...checked, prevResult: a.json }), { containerId: "ttu-ours" }).status, 0, "our CHECK passes");
  const refCheck = run("CHECK", theirs, config(theirs, { ...checked, prevResult: b.json }), { plugin: REFERENCE_TUNING, containerId: "ttu-theirs" });
  t.equal(refCheck.status, 0, `theirs too ${refCheck.stdout}`);
  t.equal(run("CHECK", ours, config(ours, { ...TUNED, prevResult: a.json }), { containerId: "ttu-ours" }).status, 0, "ours with IFNAME too");

  t.equal(run("DEL", ours, config(ours, TUNED), { containerId: "ttu-ours" }).status, 0);
  t.equal(run("DEL", theirs, config(theirs, TUNED), { plugin: REFERENCE_TUNING, containerId: "ttu-theirs" }).status, 0);
  const sysctlsKept = { arpFilter: "1", somaxconn: "333" };
  t.same(state(ours), { ...original.ours, ...sysctlsKept }, "ours restored the original attributes (sysctls stay: the netns goes with the container)");
  t.same(state(theirs), { ...original.theirs, ...sysctlsKept }, "theirs too");
});

t.test("our DEL restores after the reference's ADD, and the reference's DEL after ours", async (t) => {
  const { container, config, run, dataDir } = tuningLab(t);
  for (const [adder, deleter] of [
    [REFERENCE_TUNING, TUNING],
    [TUNING, REFERENCE_TUNING],
  ] as const) {
    const ctr = container();
    const before = attributes(ctr, "eth0");
    const conf = config(ctr, TUNED);
    const added = run("ADD", ctr, conf, { plugin: adder });
    t.equal(added.status, 0, added.stdout);
    t.equal(attributes(ctr, "eth0").mtu, 1410);
    const file = join(dataDir, `${ctr.name}_eth0.json`);
    t.ok(existsSync(file), `${adder} saved ${file}`);
    const deleted = run("DEL", ctr, conf, { plugin: deleter });
    t.equal(deleted.status, 0, deleted.stdout);
    t.same(attributes(ctr, "eth0"), before, `${deleter} restored what ${adder} changed`);
    t.notOk(existsSync(file), "and removed the file");
  }
});

t.test("sysctl keys both refuse, and the ones only we refuse", async (t) => {
  const { container, config, run } = tuningLab(t);
  const ctr = container();
  for (const key of ["kernel.hostname", "net/../kernel/hostname", "net.core.nope"]) {
    const ref = run("ADD", ctr, config(ctr, { sysctl: { [key]: "1" } }), { plugin: REFERENCE_TUNING });
    const our = run("ADD", ctr, config(ctr, { sysctl: { [key]: "1" } }));
    t.equal(ref.json?.code, 999, `reference refuses "${key}" (as code 999): ${ref.json?.msg}`);
    t.equal(our.json?.code, 7, `we refuse "${key}" with code 7: ${our.json?.msg}`);
  }
  // The reference joins the key onto /proc/sys, so an absolute path still lands under it.
  const absolute = { sysctl: { "/net/core/somaxconn": "444" } };
  t.equal(run("ADD", ctr, config(ctr, absolute), { plugin: REFERENCE_TUNING }).status, 0, "the reference accepts an absolute key");
  t.equal(sysctl(ctr, "net/core/somaxconn"), "444");
  t.equal(run("ADD", ctr, config(ctr, absolute)).json?.code, 7, "we refuse it");
});
