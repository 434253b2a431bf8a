import type { IpAddress } from "../ip/address.ts";
import { rangeContains, type IpRange, type RangeSet } from "./range-set.ts";

export interface Candidate {
  ip: IpAddress;
  range: IpRange;
}

/**
 * The order in which host-local tries addresses (Go's RangeIter): the ranges of the set one after
 * the other, starting right after `lastReserved` when it lies in the set (else at the first
 * rangeStart), wrapping around, every address once, gateways skipped. A crash-looping container
 * thus does not get the same address back until the whole set has been used.
 */
export function* roundRobin(set: RangeSet, lastReserved: IpAddress | undefined): Generator<Candidate> {
  const k = lastReserved ? set.findIndex((range) => rangeContains(range, lastReserved)) : -1;
  const startRange = set[k];
  if (!lastReserved || !startRange) {
    for (const range of set) yield* walk(range, range.rangeStart.value, range.rangeEnd.value);
    return;
  }
  yield* walk(startRange, lastReserved.value + 1n, startRange.rangeEnd.value);
  for (let i = 1; i < set.length; i++) {
    const range = set[(k + i) % set.length]!;
    yield* walk(range, range.rangeStart.value, range.rangeEnd.value);
  }
  yield* walk(startRange, startRange.rangeStart.value, lastReserved.value);
}

function* walk(range: IpRange, from: bigint, to: bigint): Generator<Candidate> {
  const { family } = range.rangeStart;
  for (let value = from; value <= to; value++) {
    if (value !== range.gateway.value) yield { ip: { family, value }, range };
  }
}
