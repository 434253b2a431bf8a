import { invalidConfig } from "../../lib/cni/errors.ts";
import type { UndoStack } from "../../lib/cni/undo.ts";
import { withNetnsSync, type Netns } from "../../lib/netns/netns.ts";
import { netSysctlPath, SysctlKeyError } from "../../lib/netns/sysctl-path.ts";
import { readSysctl, writeSysctl } from "../../lib/netns/sysctl.ts";
import { isErrno } from "../../lib/sys/files.ts";
import { O_CLOEXEC, O_WRONLY, sys } from "../../lib/sys/index.ts";
import type { SysctlSetting } from "./config.ts";

export interface SysctlWrite {
  setting: SysctlSetting;
  /** Under /proc/sys, `IFNAME` replaced. */
  path: string;
  /** Undefined for a write-only sysctl (nothing to compare with or restore). */
  current: string | undefined;
}

/** Multi-value sysctls (tcp_rmem) read back tab-separated; a config writes them with spaces. */
const normalize = (value: string): string => value.trim().split(/\s+/).join(" ");

function pathOf(s: SysctlSetting, ifname: string): string {
  try {
    return netSysctlPath(s.components, ifname);
  } catch (e) {
    if (e instanceof SysctlKeyError) throw invalidConfig(e.message);
    throw e;
  }
}

/**
 * Checks, without changing anything, that every sysctl exists in the container's namespace and
 * can be written there, and reads its value. `ifname` replaces `IFNAME`.
 */
export function inspectSysctls(netns: Netns, sysctls: SysctlSetting[], ifname: string): SysctlWrite[] {
  const paths = sysctls.map((s) => pathOf(s, ifname));
  return withNetnsSync(netns.fd, () =>
    sysctls.map((setting, i): SysctlWrite => {
      const path = paths[i]!;
      let current: string | undefined;
      try {
        current = readSysctl(path);
      } catch (e) {
        if (isErrno(e, "ENOENT")) throw invalidConfig(`unknown sysctl "${setting.key}": /proc/sys/${path} does not exist in the container's network namespace`);
        if (isErrno(e, "EISDIR")) throw invalidConfig(`"${setting.key}" is a directory of sysctls, not a sysctl`);
        current = undefined; // write-only (EINVAL on read), e.g. net.ipv4.route.flush
      }
      try {
        sys.close(sys.open(`/proc/sys/${path}`, O_WRONLY | O_CLOEXEC));
      } catch (e) {
        if (isErrno(e, "EACCES") || isErrno(e, "EPERM")) throw invalidConfig(`sysctl "${setting.key}" is read-only in the container's network namespace`);
        throw e;
      }
      return { setting, path, current };
    }),
  );
}

/** Writes the values that differ; each write pushes the undo that writes the old value back. */
export function writeSysctls(netns: Netns, writes: SysctlWrite[], undo: UndoStack): void {
  withNetnsSync(netns.fd, () => {
    for (const { setting, path, current } of writes) {
      if (current !== undefined && normalize(current) === normalize(setting.value)) continue;
      try {
        writeSysctl(path, setting.value);
      } catch (e) {
        const msg = `failed to set sysctl "${setting.key}" to ${JSON.stringify(setting.value)}: ${(e as Error).message}`;
        // The kernel's answer to a value it cannot parse or that is out of range.
        throw isErrno(e, "EINVAL") || isErrno(e, "ERANGE") ? invalidConfig(msg) : new Error(msg);
      }
      if (current !== undefined) undo.push(`restore sysctl "${setting.key}"`, () => withNetnsSync(netns.fd, () => writeSysctl(path, current)));
    }
  });
}

/** Every sysctl whose value differs from the config, as messages (CHECK). */
export function sysctlMismatches(netns: Netns, sysctls: SysctlSetting[], ifname: string): string[] {
  const paths = sysctls.map((s) => pathOf(s, ifname));
  return withNetnsSync(netns.fd, () =>
    sysctls.flatMap((s, i) => {
      let current: string;
      try {
        current = readSysctl(paths[i]!);
      } catch (e) {
        return [`cannot read sysctl "${s.key}": ${(e as Error).message}`];
      }
      return normalize(current) === normalize(s.value) ? [] : [`sysctl "${s.key}" is ${JSON.stringify(current)}, configured ${JSON.stringify(s.value)}`];
    }),
  );
}
