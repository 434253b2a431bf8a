import type { Scenario } from "../scenario.ts";
import { bridge, bridgeConcurrency, bridgeScale } from "./bridge.ts";
import { loopback } from "./loopback.ts";
import { macvlan } from "./macvlan.ts";
import { portmap, portmapScale } from "./portmap.ts";
import { vxlan } from "./vxlan.ts";

/** Every scenario, in the order they run. */
export const SCENARIOS: Scenario[] = [loopback, bridge, bridgeScale, bridgeConcurrency, macvlan, vxlan, portmap, portmapScale];
