// A throw-away "host" netns whose veth end tmv-m0 is the macvlan master (peer tmv-p0 in the same
// netns), host-local leases in a per-test directory, and the built macvlan run against it.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { inNs, ipJson, makeNetns } from "./netns.ts";
import { DIST_BIN, execPlugin, type Invocation, type Reply } from "./plugin-exec.ts";

const MACVLAN = join(DIST_BIN, "macvlan");

export interface Netns {
  name: string;
  path: string;
}

/** `ipam`: host-local's keys besides type and dataDir. `peerUp`: tmv-p0 up too (the master then has carrier). */
export function macvlanLab(t: Test, ipam: Record<string, unknown>, { peerUp = false }: { peerUp?: boolean } = {}) {
  const host = makeNetns(t, "tmv-h");
  inNs(host.name, "ip", ["link", "add", "tmv-m0", "type", "veth", "peer", "name", "tmv-p0"]);
  inNs(host.name, "ip", ["link", "set", "tmv-m0", "up"]);
  if (peerUp) inNs(host.name, "ip", ["link", "set", "tmv-p0", "up"]);
  const dataDir = t.testdir({});
  const network = (extra: Record<string, unknown> = {}) => ({
    cniVersion: "1.1.0",
    name: "tmvnet",
    type: "macvlan",
    master: "tmv-m0",
    ipam: { type: "host-local", dataDir, ...ipam },
    ...extra,
  });
  const run = (command: Invocation["command"], ctr: Netns, config: object, more: Partial<Invocation> = {}): Reply =>
    execPlugin(MACVLAN, host.name, { command, containerId: ctr.name, netns: ctr.path, ifname: "eth0", ...more }, config);
  const add = (ctr: Netns, config: object, more: Partial<Invocation> = {}) => {
    const reply = run("ADD", ctr, config, more);
    if (reply.status !== 0) throw new Error(`ADD failed: ${reply.stdout}${reply.stderr}`);
    return reply.json;
  };
  /** The leased addresses, sorted; none before the first ADD made the directory. */
  const leases = (): string[] => {
    try {
      return readdirSync(join(dataDir, "tmvnet")).filter((f) => /^[0-9a-f.:]+$/.test(f) && /[.:]/.test(f)).sort();
    } catch {
      return [];
    }
  };
  const hostLinks = () => ipJson<Array<{ ifname: string }>>(host.name, ["link", "show"]).map((l) => l.ifname).sort();
  return { host, network, run, add, leases, hostLinks, container: () => makeNetns(t, "tmv-c") };
}
