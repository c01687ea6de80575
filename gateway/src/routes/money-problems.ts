/**
 * Problem codes of the money routes (loads, sync, refunds, ledger, reports), registered into
 * the platform's one error table (http/problem.ts). Never renamed: clients match on them.
 */
import { registerErrorCodes } from '../http/problem.ts';

export const MONEY_ERROR_CODES = {
  'load-not-found': { status: 404, title: 'No such load' },
  'load-not-pending': { status: 409, title: 'The load is no longer pending' },
  'load-amount-out-of-range': { status: 400, title: 'A load is between 10 and 1,000 yuan' },
  'counter-load-step': { status: 400, title: 'Counter loads are whole multiples of 10 yuan' },
  'balance-cap-exceeded': { status: 409, title: 'The card balance would exceed 1,000 yuan' },
  'mac1-invalid': { status: 400, title: 'The card MAC1 does not verify' },
  'load-init-replayed': { status: 409, title: 'This INITIALIZE FOR LOAD answer was already used' },
  'load-init-stale': { status: 409, title: 'The INITIALIZE FOR LOAD answer is older than a known credit' },
  'tac-invalid': { status: 400, title: 'The card TAC does not verify' },
  'payment-source-not-allowed': { status: 400, title: 'This caller cannot take this payment source' },
  'idempotency-key-required': { status: 400, title: 'POST /v1/loads needs an Idempotency-Key header' },
  // A lost card's value is on the chip (seed question 46).
  'lost-card-no-refund': { status: 409, title: 'A lost card is not refunded' },
  'refund-not-found': { status: 404, title: 'No such refund' },
  'invalid-msgpack': { status: 400, title: 'The body is not a valid msgpack sync request' },
  'invalid-sync-batch': { status: 400, title: 'The sync request does not match the journal contract' },
} as const;

registerErrorCodes(MONEY_ERROR_CODES);
