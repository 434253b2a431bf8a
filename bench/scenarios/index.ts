import type { Scenario } from "../scenario.ts";
import { loopback } from "./loopback.ts";
import { macvlan } from "./macvlan.ts";
import { portmap, portmapScale } from "./portmap.ts";
import { vxlan } from "./vxlan.ts";

/** Every scenario, in the order they run. Add bridge+host-local, portmap, macvlan, vxlan here. */
export const SCENARIOS: Scenario[] = [loopback, macvlan, vxlan, portmap, portmapScale];
