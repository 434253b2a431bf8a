/** Error codes from the CNI spec (SPEC.md "Error") plus the reference skel's 8 and 999. */
export const CniCode = {
  unknown: 0,
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodingFailure: 6,
  invalidNetworkConfig: 7,
  invalidNetns: 8,
  tryAgainLater: 11,
  pluginNotAvailable: 50,
  limitedConnectivity: 51,
  internal: 999,
} as const;

export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

/** An error reported to the runtime as `{cniVersion, code, msg, details}`. */
export class CniError extends Error {
  readonly code: number;
  readonly details: string | undefined;

  constructor(code: number, msg: string, details?: string) {
    super(msg);
    this.name = "CniError";
    this.code = code;
    this.details = details;
  }

  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: this.message };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Wraps anything thrown into a CniError exactly once: CniErrors pass through unchanged. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof Error) return new CniError(CniCode.internal, err.message);
  return new CniError(CniCode.internal, String(err));
}

export const invalidConfig = (msg: string, details?: string): CniError =>
  new CniError(CniCode.invalidNetworkConfig, msg, details);
