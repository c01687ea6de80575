/**
 * The gateway keeps a recovered torn debit at the time of the original transaction (issue 17):
 * journal_records.occurred_at_ms is when the card was debited, recovered_at_ms when the later tap
 * recovered it, and the card's history shows both (atMs, recoveredAtMs). Firmware that sends no
 * recoveredAtMs (its occurredAtMs is the recovering tap) is still dated right: the date and time
 * the TAC covers are the original's. SQLite and PostgreSQL (the journal insert changed).
 */
import { TAP_RESULT, epochMsFromBeijing, type JournalRecord } from '#core';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPostgresUp } from '../store/pg-test-db.ts';
import {
  closeCheckingBooks,
  counterHeaders,
  issueCard,
  loadCard,
  makeValidator,
  START_MS,
  startMoneyGateway,
  startPgMoneyGateway,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
} from './money-fixtures.ts';

const HOUR = 3_600_000;
const ORIGINAL_MS = START_MS + 60_000;
const RECOVERED_MS = ORIGINAL_MS + 5 * HOUR;

let h: MoneyHarness | undefined;
afterEach(async () => {
  const done = h;
  h = undefined;
  if (done !== undefined) await closeCheckingBooks(done);
});

/** A genuine debit made at ORIGINAL_MS, journaled as recovered at RECOVERED_MS by `firmware`. */
function recoveredRecord(base: JournalRecord, firmware: 'current' | 'older'): JournalRecord {
  const record: JournalRecord = { ...base, resultCode: TAP_RESULT.TORN_TRANSACTION_RECOVERED, recovered: true };
  if (firmware === 'current') return { ...record, occurredAtMs: ORIGINAL_MS, recoveredAtMs: RECOVERED_MS };
  // Older firmware: the record is dated at the recovering tap and has no recoveredAtMs.
  return { ...record, occurredAtMs: RECOVERED_MS };
}

async function scenario(start: () => Promise<MoneyHarness>, firmware: 'current' | 'older'): Promise<void> {
  h = await start();
  const counter = await counterHeaders(h);
  const { cardNo, card } = await issueCard(h);
  await loadCard(h, counter, card, cardNo, 5_000, 'l1');
  const gate = await makeValidator(h, 'gate-torn', 41);
  const debit = tap(gate, card, cardNo, 300, ORIGINAL_MS);
  const later = tap(gate, card, cardNo, 400, RECOVERED_MS);
  h.now.ms = RECOVERED_MS + 60_000;
  const answer = await sync(h, gate, syncRequest(gate, [recoveredRecord(debit, firmware), later]));
  expect(answer.status, JSON.stringify(answer.problem)).toBe(200);
  expect(answer.response?.acknowledged).toEqual([1, 2]);

  const row = await h.store.transaction((tx) =>
    tx.get<{ occurred_at_ms: number; recovered_at_ms: number | null }>(
      'SELECT occurred_at_ms, recovered_at_ms FROM journal_records WHERE device_id = ? AND device_seq = 1',
      ['gate-torn'],
    ),
  );
  expect(Number(row!.occurred_at_ms)).toBe(epochMsFromBeijing(debit.date, debit.time));
  expect(Number(row!.occurred_at_ms)).toBe(ORIGINAL_MS);
  expect(Number(row!.recovered_at_ms)).toBe(RECOVERED_MS);

  const history = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}/transactions`, headers: counter });
  const entries = history.json().transactions as Array<{ id: string; atMs: number; recoveredAtMs: number | null; resultName: string }>;
  expect(entries.map((e) => [e.id, e.atMs, e.recoveredAtMs])).toEqual([
    ['tap:gate-torn:2', RECOVERED_MS, null],
    ['tap:gate-torn:1', ORIGINAL_MS, RECOVERED_MS],
    [expect.stringMatching(/^load:/), START_MS, null],
  ]);
  expect(entries[1].resultName).toBe('TORN_TRANSACTION_RECOVERED');
}

describe('a recovered torn debit keeps the original time (SQLite)', () => {
  it('recoveredAtMs from current firmware', async () => {
    await scenario(() => startMoneyGateway(), 'current');
  });
  it('older firmware without recoveredAtMs: dated by the TAC-covered date and time', async () => {
    await scenario(() => startMoneyGateway(), 'older');
  });
  it('recoveredAtMs must be epoch ms when present', async () => {
    h = await startMoneyGateway();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-bad', 42);
    const record = { ...recoveredRecord(tap(gate, card, cardNo, 300, ORIGINAL_MS), 'current'), recoveredAtMs: 'soon' as unknown as number };
    const answer = await sync(h, gate, syncRequest(gate, [record]));
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.problem)).toContain('recoveredAtMs');
  });
});

describe('a recovered torn debit keeps the original time (PostgreSQL)', () => {
  it('recoveredAtMs from current firmware', async () => {
    await assertPostgresUp();
    await scenario(() => startPgMoneyGateway(), 'current');
  });
});
