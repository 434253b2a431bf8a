import { NftInputError } from "./errors.ts";
import { NFT_REG32_00, NFT_REG32_15, NFT_REG_1, NFT_REG_4, NFT_REG_VERDICT } from "./constants.ts";

/**
 * Data registers are 16 four-byte slots. A value of n bytes loaded at a slot spans ceil(n/4) slots;
 * concatenations put their members in consecutive spans.
 */
export const REGISTER_SLOTS = 16;

/** The register number of slot `slot`, in the kernel's canonical form (as dumps show it). */
export function regForSlot(slot: number): number {
  return slot % 4 === 0 ? NFT_REG_1 + slot / 4 : NFT_REG32_00 + slot;
}

/** The first slot of a data register (NFT_REG_1..4 or NFT_REG32_00..15). */
export function slotOfReg(reg: number): number {
  if (reg >= NFT_REG_1 && reg <= NFT_REG_4) return (reg - NFT_REG_1) * 4;
  if (reg >= NFT_REG32_00 && reg <= NFT_REG32_15) return reg - NFT_REG32_00;
  throw new NftInputError(`${reg} is not a data register`);
}

export const slotsFor = (bytes: number): number => Math.ceil(bytes / 4);

/** Checks that `bytes` from `reg` stay inside the register file. */
export function checkRegister(reg: number, bytes: number, what: string): void {
  if (!Number.isInteger(reg) || reg === NFT_REG_VERDICT) throw new NftInputError(`${what}: ${reg} is not a data register`);
  if (slotOfReg(reg) + slotsFor(bytes) > REGISTER_SLOTS) {
    throw new NftInputError(`${what}: ${bytes} bytes from register ${reg} overflow the registers`);
  }
}
