import { isErrno, joinPath, listDirectory, readJsonFileIfExists, removeFile, writeFileAtomically } from "../../lib/sys/files.ts";
import type { NftValue } from "../../lib/nft/index.ts";
import { isSetName } from "./ruleset.ts";
import type { OwnedElement } from "./plan.ts";

// What each attachment added, so that DEL and GC remove exactly that (whatever the runtime sends
// on DEL) without listing the maps: `<dataDir>/<network>/<containerID>:<ifname>` (neither a
// container ID nor an interface name can hold a `:`), JSON {"elements": [...]}.

export interface Attachment {
  network: string;
  containerId: string;
  ifname: string;
}

export class StateError extends Error {
  constructor(path: string, why: string) {
    super(`unreadable portmap state ${path}: ${why}`);
    this.name = "StateError";
  }
}

export const networkDir = (dataDir: string, network: string): string => joinPath(dataDir, network);
export const statePath = (dataDir: string, a: Attachment): string => joinPath(networkDir(dataDir, a.network), `${a.containerId}:${a.ifname}`);

/** The attachment a state file name stands for (undefined for names that are not ours). */
export function attachmentOfFile(network: string, name: string): Attachment | undefined {
  const colon = name.indexOf(":");
  if (colon <= 0 || colon === name.length - 1 || name.endsWith(".tmp")) return undefined;
  return { network, containerId: name.slice(0, colon), ifname: name.slice(colon + 1) };
}

/** Atomically (temp file + rename) records the attachment's elements. */
export function saveState(path: string, elements: readonly OwnedElement[]): void {
  writeFileAtomically(path, JSON.stringify({ elements }));
}

/** The recorded elements; undefined when there is no record. StateError when it is not ours to read. */
export function loadState(path: string): OwnedElement[] | undefined {
  let json: unknown;
  try {
    json = readJsonFileIfExists(path);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new StateError(path, e.message);
  }
  if (json === undefined) return undefined;
  const elements = (json as { elements?: unknown } | null)?.elements;
  if (!Array.isArray(elements) || !elements.every(isOwnedElement)) throw new StateError(path, 'want {"elements": [{"set", "key", "value"?}, ...]}');
  return elements;
}

const isValue = (v: unknown): v is NftValue => typeof v === "string" || typeof v === "number";

function isOwnedElement(e: unknown): e is OwnedElement {
  if (typeof e !== "object" || e === null) return false;
  const { set, key, value } = e as Record<string, unknown>;
  if (typeof set !== "string" || !isSetName(set) || !Array.isArray(key) || !key.every(isValue)) return false;
  if (value === undefined) return true;
  if (Array.isArray(value)) return value.every(isValue);
  const jump = (value as { jump?: unknown } | null)?.jump;
  return typeof jump === "string";
}

export const removeState = (path: string): boolean => removeFile(path);

/** The state file names of a network (none when the directory does not exist). */
export function listStateFiles(dataDir: string, network: string): string[] {
  try {
    return listDirectory(networkDir(dataDir, network));
  } catch (e) {
    if (isErrno(e, "ENOENT")) return [];
    throw e;
  }
}
