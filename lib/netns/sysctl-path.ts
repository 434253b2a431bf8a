// Sysctl keys as users write them (`net.ipv4.conf.eth0.rp_filter`), checked to name a sysctl of the
// network namespace and turned into the slash path that readSysctl/writeSysctl take.

export class SysctlKeyError extends Error {
  constructor(
    readonly key: string,
    why: string,
  ) {
    super(`invalid net sysctl key "${key}": ${why}`);
    this.name = "SysctlKeyError";
  }
}

/** The path component that stands for the interface name (as in the reference tuning plugin). */
export const IFNAME_PLACEHOLDER = "IFNAME";

/**
 * Splits a key into its /proc/sys path components the way sysctl(8) reads keys: the first
 * separator decides the form. `net.ipv4.conf.eth0/100.rp_filter` separates with dots and writes a
 * dot inside a name as `/`; `net/ipv4/conf/eth0.100/rp_filter` separates with slashes and keeps
 * dots. The key must lie under `net/`, and no component may be empty, `.` or `..`, so neither an
 * absolute path nor a traversal can leave /proc/sys/net.
 */
export function parseNetSysctlKey(key: string): string[] {
  const firstSeparator = key.search(/[./]/);
  const slashForm = firstSeparator >= 0 && key[firstSeparator] === "/";
  const components = slashForm ? key.split("/") : key.split(".").map((part) => part.replaceAll("/", "."));
  checkComponents(key, components);
  if (components[0] !== "net" || components.length < 2) throw new SysctlKeyError(key, "only sysctls under net/ (the network namespace's) can be set");
  return components;
}

/** The key in sysctl(8)'s dotted form (dots inside names written as `/`): what allowlists match. */
export const dottedSysctlKey = (components: readonly string[]): string => components.map((c) => c.replaceAll(".", "/")).join(".");

/**
 * The slash path under /proc/sys (`net/ipv4/conf/eth0.100/rp_filter`), with every `IFNAME`
 * component replaced by `ifname`. Replacing whole components after splitting keeps interface
 * names with dots (VLAN devices like `eth0.100`) in one piece.
 */
export function netSysctlPath(components: readonly string[], ifname: string): string {
  const resolved = components.map((c) => (c === IFNAME_PLACEHOLDER ? ifname : c));
  checkComponents(resolved.join("/"), resolved);
  return resolved.join("/");
}

function checkComponents(key: string, components: readonly string[]): void {
  for (const c of components) {
    if (c === "") throw new SysctlKeyError(key, "empty path component (leading, trailing or doubled separator)");
    if (c === "." || c === "..") throw new SysctlKeyError(key, `path component "${c}" is not allowed`);
    if (c.includes("/") || c.includes("\0")) throw new SysctlKeyError(key, `path component "${c}" contains "/" or NUL`);
  }
}
