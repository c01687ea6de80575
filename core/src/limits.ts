/**
 * Every maximum and minimum of the system in one place (TIGER_STYLE: put a limit on
 * everything). Relationships between limits are asserted at the bottom, at load time.
 */
import { DEFAULT_OVERDRAFT_LIMIT_FEN } from './card/card-image.ts';

export const LIMITS = {
  /** Purse balance cap on the card: 1,000 yuan (DOMAIN.md section 2). */
  balanceCapFen: 100_000,
  /** Default overdraft limit (project policy, DOMAIN.md section 2). */
  overdraftLimitFen: DEFAULT_OVERDRAFT_LIMIT_FEN,
  /** Counter top-ups are whole multiples of 10 yuan (Yikatong rule). */
  counterLoadStepFen: 1_000,
  /** Smallest and largest single load. */
  minLoadFen: 1_000,
  maxLoadFen: 100_000,
  /** Cyclic transaction log on the card. */
  cardLogRecords: 10,
  /** Validator blacklist capacity (vendor validators hold 500k; we promise 10M+). */
  blacklistCapacity: 20_000_000,
  /** Blacklist delta entries per page / per applied batch. */
  blacklistDeltaPage: 10_000,
  blacklistApplyBatch: 2_000,
  /** Validator journal: unsent rows kept before taps are refused, and the alarm threshold. */
  journalCapacity: 1_000_000,
  journalAlarmAt: 800_000,
  /** Records in one sync upload batch. */
  syncBatchRecords: 5_000,
  /** Sync request body (msgpack) in bytes. */
  syncBodyBytes: 8 * 1024 * 1024,
  /** JSON request body in bytes for every other route. */
  jsonBodyBytes: 64 * 1024,
  /**
   * A fare-tables bundle (JSON text, characters): the network CSV, every policy, bus lines with
   * their stops, lots and parks. The default bundle is ~23 KB; a city's full bus network
   * (over a thousand lines) fits. Also the body limit of POST /v1/fare-tables.
   */
  fareTablesJsonChars: 4 * 1024 * 1024,
  /** Idempotency-Key header length. */
  idempotencyKeyMaxLength: 128,
  /** Time in system on the subway before the overtime fare (DOMAIN.md section 4). */
  maxTimeInSystemMs: 4 * 60 * 60 * 1000,
  /** Temporary loss reports expire by themselves after 15 days (seed question 17-20). */
  temporaryLossMs: 15 * 24 * 60 * 60 * 1000,
} as const;

function assert(condition: boolean, message: string): void {
  if (!condition) throw new Error(`limits.ts: ${message}`);
}

assert(LIMITS.maxLoadFen <= LIMITS.balanceCapFen, 'a single load cannot exceed the balance cap');
assert(LIMITS.minLoadFen % LIMITS.counterLoadStepFen === 0, 'minimum load is a whole step');
assert(LIMITS.journalAlarmAt < LIMITS.journalCapacity, 'the journal alarm sounds before it is full');
assert(LIMITS.blacklistApplyBatch <= LIMITS.blacklistDeltaPage, 'an apply batch fits in a delta page');
assert(LIMITS.balanceCapFen < 2 ** 32, 'balance fits the card u32');
