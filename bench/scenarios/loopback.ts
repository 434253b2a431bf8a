import { addNetworkList, delNetworkList, parseNetworkList, versionOf, type RuntimeConf } from "../../lib/runtime/index.ts";
import type { Scenario } from "../scenario.ts";

/** loopback ADD then DEL (with the cached result as prevResult, as libcni sends it), and VERSION. */
export const loopback: Scenario = {
  name: "loopback",
  description: "loopback ADD/DEL in one container netns, VERSION as libcni asks it",
  plugins: ["loopback"],
  steps: ["ADD", "DEL", "VERSION"],
  setup(ctx, side) {
    const ctr = ctx.netns(`lo-${side.name}`);
    const list = parseNetworkList(JSON.stringify({ cniVersion: ctx.cniVersion, name: "tbn-lo", plugins: [{ type: "loopback" }] }));
    const attachment = (iteration: number): RuntimeConf => ({ containerId: `tbn-lo-${iteration}`, netns: ctr.path, ifName: "lo" });
    return {
      step(name, iteration) {
        if (name === "ADD") addNetworkList(side.runtime, list, attachment(iteration));
        else if (name === "DEL") delNetworkList(side.runtime, list, attachment(iteration));
        else versionOf(side.runtime, "loopback");
      },
    };
  },
};
