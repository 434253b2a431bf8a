import { errnoName } from "../sys/errno.ts";

/** Something queued into a transaction is invalid (thrown when it is queued, before any I/O). */
export class NftInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NftInputError";
  }
}

/**
 * A transaction the kernel (or the fake) refused: nothing of it was applied. `op` is the nft text of
 * the first operation that failed.
 */
export class NftCommitError extends Error {
  readonly code: string;

  constructor(
    readonly op: string,
    readonly errno: number,
    readonly extAck?: string,
  ) {
    const code = errnoName(errno);
    super(`nft transaction failed at "${op}": ${code}${extAck ? ` (${extAck})` : ""}`);
    this.name = "NftCommitError";
    this.code = code;
  }
}
