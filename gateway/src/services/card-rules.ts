/**
 * Checks on the fields of a card the issuer is about to personalise (POST /v1/cards and the
 * replacement), run before any transaction: a field that cannot be written on a card is a 400
 * problem naming it, never a 500 from the card codec.
 */
import { isLuhnValid, isTUnionCardNo } from '#core';
import type { GatewayPolicies } from '../http/gateway-context.ts';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import { beijingDateTime } from './money-time.ts';
import { issuerRegistryOf } from './issuers.ts';

export const CARD_FIELD_ERROR_CODES = {
  'invalid-date': { status: 400, title: 'A date field is not a calendar date YYYYMMDD' },
  'card-number-check-digit': { status: 400, title: "The card number is in the issuer's own range but its Luhn check digit is wrong" },
  'card-number-out-of-range': { status: 400, title: 'The card number is in no range this issuer personalises' },
  'card-already-expired': { status: 400, title: 'The expiry date lies before today (Beijing time)' },
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

type CardNoPolicies = Pick<GatewayPolicies, 'cardNoPrefix' | 'ownCardNoPrefixes' | 'otherCardNoPrefixes' | 'issuers'>;

/**
 * An explicit card number for a new card (the schema has checked 16 digits). In the issuer's
 * own ranges (cardNoPrefix and ownCardNoPrefixes), where generated numbers carry a Luhn check
 * digit, the digit must be right; otherwise the number must start with one of
 * otherCardNoPrefixes (numbers assigned elsewhere, by format and prefix only).
 */
export function requireIssuableCardNo(cardNo: string, policies: CardNoPolicies): void {
  // A 19-digit T-Union number (issue 18): the home issuer's product prefix, no check digit.
  // Another issuer's number is never ours to personalise.
  if (isTUnionCardNo(cardNo)) {
    const registry = issuerRegistryOf(policies);
    const issuer = registry.issuerOfCardNo(cardNo);
    if (registry.isHome(issuer)) return;
    throw new ApiError(
      'card-number-out-of-range',
      `cardNo ${cardNo} is a T-Union number of ${issuer?.displayName ?? 'an unknown issuer'}, not of ${registry.home.name} (product ${registry.home.productPrefix})`,
      {
        field: 'cardNo',
      },
    );
  }
  const own = [policies.cardNoPrefix, ...(policies.ownCardNoPrefixes ?? [])];
  if (own.some((prefix) => cardNo.startsWith(prefix))) {
    if (!isLuhnValid(cardNo)) {
      throw new ApiError('card-number-check-digit', `cardNo ${cardNo} is in the issuer's own range but its check digit is wrong`, { field: 'cardNo' });
    }
    return;
  }
  if ((policies.otherCardNoPrefixes ?? []).some((prefix) => cardNo.startsWith(prefix))) return;
  throw new ApiError('card-number-out-of-range', `cardNo ${cardNo} is in no range this issuer personalises (own: ${own.join(', ')})`, { field: 'cardNo' });
}

/** A calendar date (400 invalid-date) not before today in Beijing (400 card-already-expired): a card valid through it. */
export function requireUnexpired(expiryDate: number, field: string, nowMs: number): void {
  requireCalendarDate(expiryDate, field);
  const today = beijingDateTime(nowMs).date;
  if (expiryDate < today) {
    throw new ApiError('card-already-expired', `${field} ${expiryDate} lies before today (${today}, Beijing): the card would be expired`, {
      field,
      value: expiryDate,
    });
  }
}
