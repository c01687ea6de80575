/**
 * What the two processes of the city-scale run (the generator with the validators, and the
 * gateway) must agree on, computed from the seed alone: the issuer's master keys, the card
 * numbers, each card's opening balance, the simulated day.
 */
import { epochMsFromBeijing, makeCardNo } from '#core';
import type { MasterKeySet } from '#issuer/issuer-key-service';
import { SeededRandom } from '../seeded-random.ts';

/** The simulated day: Wednesday 2027-01-06 (a working day, inside the park-pass sale window). */
export const SCALE_DAY = 20270106;
export const SCALE_DAY_ISO = '2027-01-06';
export const SCALE_DAY_START_MS = epochMsFromBeijing(SCALE_DAY, 0);
/** The gateway's clock for the whole run: the evening of the day (every tap is before it). */
export const SCALE_GATEWAY_NOW_MS = SCALE_DAY_START_MS + 23 * 3_600_000 + 59 * 60_000;
/** Card numbers are makeCardNo(CARD_PREFIX, index + 1). */
export const CARD_PREFIX = '1001';
/** The park annual pass the park visitors hold. */
export const PASS_YEAR = 2027;

/** Issuer master keys of a run (demo keys from the seed; a real issuer's come from its key file or HSM). */
export function scaleMasterKeys(seed: number): MasterKeySet {
  const random = new SeededRandom((seed ^ 0x15500e) >>> 0);
  return { purchase: random.bytes(16), load: random.bytes(16), tac: random.bytes(16), block: random.bytes(16), issuer: random.bytes(16) };
}

export function cardNoOf(index: number): string {
  return makeCardNo(CARD_PREFIX, index + 1);
}

/** Opening balance of card `index`: 50.00 to 200.00 yuan in 10-yuan steps, seeded by the index. */
export function openingBalanceFen(index: number): number {
  return 5_000 + ((Math.imul(index + 1, 0x9e3779b1) >>> 0) % 16) * 1_000;
}

/** Sum of every card's opening balance (what the ledger's opening posting carries). */
export function openingTotalFen(cards: number): number {
  let total = 0;
  for (let i = 0; i < cards; i++) total += openingBalanceFen(i);
  return total;
}
