import { NetnsNotFoundError, NotANetnsError, openNetns, type Netns } from "../netns/netns.ts";
import { CniCode, CniError } from "./errors.ts";
import type { PluginContext } from "./skel.ts";

/** Opens CNI_NETNS for ADD/CHECK: a missing netns is code 3 (container unknown), a wrong path code 4. */
export function openContainerNetns(ctx: PluginContext): Netns {
  try {
    return openNetns(ctx.env.netns);
  } catch (e) {
    if (e instanceof NetnsNotFoundError) throw new CniError(CniCode.unknownContainer, `container netns "${ctx.env.netns}" does not exist`);
    if (e instanceof NotANetnsError) throw new CniError(CniCode.invalidEnvironment, "CNI_NETNS is not a network namespace", e.message);
    throw e;
  }
}

/** Opens CNI_NETNS for DEL: undefined when it is empty or already gone (DEL then cleans up what it can). */
export function openContainerNetnsIfPresent(ctx: PluginContext): Netns | undefined {
  if (!ctx.env.netns) return undefined;
  try {
    return openNetns(ctx.env.netns);
  } catch (e) {
    if (e instanceof NetnsNotFoundError) return undefined;
    throw e;
  }
}
