import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addNetworkList, delNetworkList, parseNetworkList, type RuntimeConf } from "../../lib/runtime/index.ts";
import type { Scenario } from "../scenario.ts";

/**
 * macvlan ADD then DEL in one container netns, each side with its own host-local (so IPAM is part
 * of the time: in-process for ours, an exec for the reference). Each side has its own master, a
 * veth in the bench's host netns.
 */
export const macvlan: Scenario = {
  name: "macvlan",
  description: "macvlan (bridge mode, host-local IPv4) ADD/DEL in one container netns",
  plugins: ["macvlan", "host-local"],
  steps: ["ADD", "DEL"],
  setup(ctx, side) {
    const master = `tbn-mv-${side.name}`;
    execFileSync("ip", ["link", "add", master, "type", "veth", "peer", "name", `${master}p`]);
    execFileSync("ip", ["link", "set", master, "up"]);
    execFileSync("ip", ["link", "set", `${master}p`, "up"]);
    const dataDir = mkdtempSync(join(tmpdir(), "tbn-mv-ipam-"));
    const ctr = ctx.netns(`mv-${side.name}`);
    const list = parseNetworkList(
      JSON.stringify({
        cniVersion: ctx.cniVersion,
        name: `tbn-mv-${side.name}`,
        plugins: [{ type: "macvlan", master, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.88.0.0/16" }]] } }],
      }),
    );
    const attachment = (iteration: number): RuntimeConf => ({ containerId: `tbn-mv-${iteration}`, netns: ctr.path, ifName: "eth0" });
    return {
      step(name, iteration) {
        if (name === "ADD") addNetworkList(side.runtime, list, attachment(iteration));
        else delNetworkList(side.runtime, list, attachment(iteration));
      },
      teardown() {
        execFileSync("ip", ["link", "del", master]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};
