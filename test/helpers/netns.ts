import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

/** Tests observe state with iproute2/nft (never the plugins). */
export function sh(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input: opts.input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (e) {
    if (opts.allowFail) return "";
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${err.stderr?.trim() || err.message}`);
  }
}

/** Runs a command inside a named netns (`ip netns exec`). */
export const inNs = (ns: string, cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string =>
  sh("ip", ["netns", "exec", ns, cmd, ...args], opts);

export const ipJson = <T = unknown>(ns: string, args: string[]): T => JSON.parse(inNs(ns, "ip", ["-j", ...args]) || "[]") as T;

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * A throw-away network namespace `<prefix>-<random>` at /run/netns, deleted in teardown even when
 * the test fails. Loopback is brought up so local traffic works.
 */
export function makeNetns(t: Teardown, prefix: string): { name: string; path: string } {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  sh("ip", ["netns", "add", name]);
  t.teardown(() => void sh("ip", ["netns", "del", name], { allowFail: true }));
  inNs(name, "ip", ["link", "set", "lo", "up"]);
  return { name, path: `/run/netns/${name}` };
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Whether `ip` answers an echo request from inside `ns`, trying again until `seconds` pass: a lost
 * first request (ARP still resolving, a port that just joined) is no false "blocked", and a real
 * block is still seen as one.
 */
export function pings(ns: string, ip: string, seconds = 3): boolean {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      inNs(ns, "ping", ["-c", "1", "-W", "1", ip]);
      return true;
    } catch {
      if (Date.now() >= deadline) return false;
      // "Destination Host Unreachable" fails at once: pause before the next request.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
}
