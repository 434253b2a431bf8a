import type { Sys } from "./types.ts";

export * from "./types.ts";

/**
 * The process-wide syscall backend: bun:ffi inside the compiled executables, koffi under Node.
 * Loaded with top-level await so that neither runtime ever parses the other's FFI module.
 */
export const sys: Sys =
  typeof Bun !== "undefined"
    ? (await import("./bun-backend.ts")).createBunSys()
    : (await import("./koffi-backend.ts")).createKoffiSys();
