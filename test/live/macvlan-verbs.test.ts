// macvlan CHECK, STATUS and GC through the built executable.
import { join } from "node:path";
import t, { type Test } from "tap";
import { macvlanLab } from "../helpers/macvlan-lab.ts";
import { DIST_BIN, execPlugin } from "../helpers/plugin-exec.ts";
import { inNs, isRoot } from "../helpers/netns.ts";

const lab = (t: Test) => macvlanLab(t, { ranges: [[{ subnet: "10.77.0.0/24" }], [{ subnet: "fd00:77::/64" }]], routes: [{ dst: "10.78.0.0/16" }] });

if (!isRoot()) {
  t.fail("live tests need root (CI runs as root)");
  process.exit(1);
}


t.test("CHECK passes on what ADD made and names what changed", async (t) => {
  const { network, run, container } = lab(t);
  const c1 = container();
  const added = run("ADD", c1, network());
  t.equal(added.status, 0, added.stdout);
  const prevResult = added.json;
  const check = (extra: Record<string, unknown> = {}) => run("CHECK", c1, network({ prevResult, ...extra }));

  const ok = check();
  t.equal(ok.status, 0, `CHECK passes: ${ok.stdout}`);
  t.match(run("CHECK", c1, network()).json, { code: 7, msg: "CHECK needs prevResult" });
  t.match(check({ mode: "private" }).json, { code: 7, msg: 'interface "eth0" in the container has macvlan mode bridge, not private' });
  t.match(check({ mac: "02:00:00:00:00:09" }).json, { msg: /has MAC .*, not the configured 02:00:00:00:00:09/ });
  const elsewhere = { ...prevResult, interfaces: [{ ...prevResult.interfaces[0], sandbox: "/run/netns/other" }] };
  t.match(check({ prevResult: elsewhere }).json, { msg: /has sandbox "\/run\/netns\/other" in prevResult/ });

  inNs(c1.name, "ip", ["route", "del", "10.78.0.0/16"]);
  t.match(check().json, { code: 7, msg: 'route 10.78.0.0/16 via 10.77.0.1 not found on interface "eth0"' });
  inNs(c1.name, "ip", ["addr", "del", "fd00:77::2/64", "dev", "eth0"]);
  t.match(check().json, { code: 7, msg: 'address fd00:77::2/64 not found on interface "eth0"' });
  inNs(c1.name, "ip", ["link", "del", "eth0"]);
  t.match(check().json, { code: 7, msg: 'interface "eth0" in the container does not exist' });
});

t.test("CHECK asks IPAM: a released lease fails it", async (t) => {
  const { host, network, run, container } = lab(t);
  const c1 = container();
  const prevResult = run("ADD", c1, network()).json;
  const l2only = network({ ipam: {} });
  // Release the lease behind the plugin's back.
  const hostLocal = join(DIST_BIN, "host-local");
  const released = execPlugin(hostLocal, host.name, { command: "DEL", containerId: c1.name, netns: c1.path, ifname: "eth0" }, network());
  t.equal(released.status, 0, released.stdout);
  t.not(run("CHECK", c1, network({ prevResult })).status, 0, "CHECK fails once IPAM has no lease");
  t.equal(run("CHECK", c1, { ...l2only, prevResult: { ...prevResult, ips: [], routes: [] } }).status, 0, "L2-only CHECK does not ask IPAM");
});

t.test("STATUS: the master must exist; IPAM STATUS is asked", async (t) => {
  const { host, network, run, container } = lab(t);
  const c1 = container();
  t.equal(run("STATUS", c1, network()).status, 0);
  t.match(run("STATUS", c1, network({ master: "tmv-nope" })).json, { code: 50, msg: 'master "tmv-nope" not found in the host netns' });
  const noDefault: Record<string, unknown> = network();
  delete noDefault.master;
  t.match(run("STATUS", c1, noDefault).json, { code: 50, msg: /no default route/ });
  inNs(host.name, "ip", ["addr", "add", "10.76.0.1/24", "dev", "tmv-m0"]);
  inNs(host.name, "ip", ["route", "add", "default", "via", "10.76.0.254"]);
  t.equal(run("STATUS", c1, noDefault).status, 0, "the default route's link will do");
  t.equal(run("STATUS", c1, network({ master: "tmv-nope", linkInContainer: true })).status, 0, "a master in the container is not checked");
  t.not(run("STATUS", c1, network({ ipam: { type: "host-local" } })).status, 0, "IPAM STATUS failures come through");
});

t.test("GC releases the leases of attachments no longer valid", async (t) => {
  const { network, run, leases, container } = lab(t);
  const c1 = container();
  const c2 = container();
  t.equal(run("ADD", c1, network()).status, 0);
  t.equal(run("ADD", c2, network()).status, 0);
  t.same(leases(), ["10.77.0.2", "10.77.0.3", "fd00:77::2", "fd00:77::3"]);
  const gc = run("GC", c1, network({ "cni.dev/valid-attachments": [{ containerID: c1.name, ifname: "eth0" }] }));
  t.equal(gc.status, 0, gc.stdout);
  t.same(leases(), ["10.77.0.2", "fd00:77::2"], "c2's leases are gone");
});
