import { createSys } from "#sys-backend";
import type { Sys } from "./types.ts";

export * from "./types.ts";

/**
 * The process-wide syscall backend: bun:ffi inside the compiled executables, koffi under Node.
 * package.json "imports" picks the file by runtime condition ("bun" or default), so neither
 * runtime ever loads the other's FFI module.
 */
export const sys: Sys = createSys();
