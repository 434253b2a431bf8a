// The libcni-like runtime shared by the CLI, the conformance suite and the bench. The executor
// that runs plugins as children of this process is lib/runtime/direct-exec.ts (not re-exported:
// it loads the syscall layer).
export { loadNetworkList, readNetworkDir, readNetworkFile, type NetworkDir, type NetworkFile } from "./conf-dir.ts";
export { PluginError, RuntimeError } from "./errors.ts";
export { networkListFromConf, parseNetworkList, type NetworkList, type PluginConf } from "./network-list.ts";
export {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  statusNetworkList,
  versionOf,
  type Attachment,
  type RuntimeConf,
  type VersionInfo,
} from "./operations.ts";
export { execPlugin, findInPath, type ExecOutcome, type ExecRequest, type PluginExec, type RuntimeOptions } from "./plugin-exec.ts";
export { cachePath, getCachedAttachments, readCachedResult, type CachedAttachment } from "./result-cache.ts";
