import { Decimal } from 'decimal.js';
import { fen, type Fen, MAX_SAFE_FEN } from './fen.ts';

/**
 * Edge codec for yuan amounts on the wire: a decimal string with at most two decimals,
 * no sign, no exponent, no spaces ("50", "50.5", "50.00"). decimal.js only parses and
 * formats here; the value leaves as integer fen.
 */
const YUAN_PATTERN = /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$/;

export class YuanFormatError extends Error {
  override readonly name = 'YuanFormatError';
}

export function parseYuan(text: unknown, maxFen: number = MAX_SAFE_FEN): Fen {
  if (typeof text !== 'string') throw new YuanFormatError('amount must be a string of yuan such as "50.00"');
  if (!YUAN_PATTERN.test(text)) {
    throw new YuanFormatError(`amount "${text.slice(0, 32)}" is not a yuan amount with at most two decimals`);
  }
  const value = new Decimal(text).times(100);
  if (!value.isInteger()) throw new YuanFormatError(`amount "${text}" has more than two decimals`);
  if (value.greaterThan(maxFen)) {
    throw new YuanFormatError(`amount "${text}" is over the limit of ${formatYuan(fen(maxFen))}`);
  }
  return fen(value.toNumber());
}

/** Formats fen as a yuan string with exactly two decimals; negative values keep their sign. */
export function formatYuan(amount: number): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`fen amount must be a safe integer, got ${amount}`);
  return new Decimal(amount).dividedBy(100).toFixed(2);
}
