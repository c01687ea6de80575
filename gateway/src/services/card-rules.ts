/**
 * Checks on the fields of a card the issuer is about to personalise (POST /v1/cards and the
 * replacement), run before any transaction: a field that cannot be written on a card is a 400
 * problem naming it, never a 500 from the card codec.
 */
import { ApiError, registerErrorCodes } from '../http/problem.ts';

export const CARD_FIELD_ERROR_CODES = {
  'invalid-date': { status: 400, title: 'A date field is not a calendar date YYYYMMDD' },
} as const;
registerErrorCodes(CARD_FIELD_ERROR_CODES);

/** True for a calendar date YYYYMMDD (30 February and month 13 are not). */
export function isCalendarDate(value: number): boolean {
  if (!Number.isInteger(value) || value < 10000101 || value > 99991231) return false;
  const year = Math.floor(value / 10_000);
  const month = Math.floor(value / 100) % 100;
  const day = value % 100;
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** 400 `invalid-date` (with `field` and `value`) unless `value` is a calendar date. */
export function requireCalendarDate(value: number, field: string): void {
  if (!isCalendarDate(value)) throw new ApiError('invalid-date', `${field} ${value} is not a calendar date YYYYMMDD`, { field, value });
}
