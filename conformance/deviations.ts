/**
 * Known ways the Go reference plugins (Debian containernetworking-plugins 1.1.1) depart from the
 * spec. The suite tolerates them, by name, only for a plugin that behaves like the reference (see
 * Profile.isReference); for any other plugin the same assertion is strict.
 */
export const REFERENCE_DEVIATIONS = {
  "version-reply": "answers VERSION with its own library version instead of the requested cniVersion",
  "no-1.1.0": "does not support cniVersion 1.1.0 (nor GC/STATUS): its newest version is 1.0.0",
  "error-without-version": "prints error JSON without cniVersion",
  "own-netns-accepted": "does not refuse a CNI_NETNS naming its own netns (no code 8)",
  "own-netns-changed": "acts on its own netns when CNI_NETNS names it (any netns==self check comes after the command)",
  "loopback-result-shape": "prints the 1.0.0 result shape whatever the requested version (no ip4/ip6 for 0.1.0/0.2.0, no ips[].version for 0.3.x/0.4.0)",
  "config-error-999": "reports invalid network config with code 999 instead of 7",
  "missing-netns-999": "reports a missing container netns with code 999 instead of 3",
  "add-failure-leaks-link": "leaves its link in the container when IPAM fails during ADD",
  "del-leaves-host-veth": "leaves the host end of the veth to the kernel's asynchronous netns teardown when DEL comes after the netns was deleted (the port lingers on the bridge for a moment)",
  "add-failure-keeps-changes": "keeps the changes it already made (sysctls, interface attributes) when ADD fails halfway",
  "drops-prev-interfaces": "drops prevResult's interfaces and IPs from its result instead of passing them through",
  "drops-ipam-dns": "puts the config's dns in the result and drops the IPAM plugin's",
  "no-kernel-support-999": "reports a kernel without the link type it needs with code 999 instead of 50 (plugin not available)",
  "portmap-del-needs-mappings": "removes no port mapping on DEL unless the runtime sends runtimeConfig.portMappings again",
  "portmap-duplicate-host-port": "accepts a host port another container already maps (silently, the older rule keeps the traffic)",
  "portmap-del-keeps-conntrack": "leaves the UDP conntrack entries of the mapped ports on DEL (plugins#1190)",
  "portmap-check-both-families": "fails CHECK of an IPv4-only pod: it looks for the IPv4 DNAT chain in ip6tables too",
} as const;

export type DeviationId = keyof typeof REFERENCE_DEVIATIONS;
