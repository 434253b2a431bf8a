// nftables over nfnetlink: transactions, expressions, intent-level rule helpers, listings, a fake.
export { NftTransaction } from "./transaction.ts";
export { NetlinkNftConnection, openNft, withNft, type NftConnection } from "./connection.ts";
export { FakeNftConnection } from "./fake.ts";
export { NftCommitError, NftInputError } from "./errors.ts";
export { ownerComment, parseOwnerComment, isOwnedBy, listOwnedRules, deleteOwnedRules, type RuleOwner } from "./owner.ts";
export { renderExprs, renderRuleset, ruleText } from "./render.ts";
export * from "./intents.ts";
export type * from "./types.ts";
export type { NftDataType, L4Proto } from "./datatypes.ts";
export type * from "./expr/index.ts";
export type { CmpOp } from "./expr/cmp.ts";
export type { MetaKey } from "./expr/meta.ts";
export type { CtKey } from "./expr/ct.ts";
export type { PayloadBase } from "./expr/payload.ts";
export type { NatFlag } from "./expr/nat.ts";
export type { FibFlag, FibResult } from "./expr/fib.ts";
