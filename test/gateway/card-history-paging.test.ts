/**
 * Card history paging (issue 17): GET /v1/cards/{cardNo}/transactions pages are keyset pages on
 * (time, then a unique record id), so paging never skips or repeats a record, even when many
 * share one millisecond. Property-tested on SQLite and on PostgreSQL (the same query).
 *
 * The old `before=<atMs of the last record>` paging lost every record that shared the last
 * record's millisecond; the cursor pages start strictly after the last record's key.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPostgresUp } from '../store/pg-test-db.ts';
import { issueCard, START_MS, startMoneyGateway, startPgMoneyGateway, type MoneyHarness } from './money-fixtures.ts';

interface TapRow {
  kind: 'tap';
  deviceId: string;
  seq: number;
  atMs: number;
}
interface LoadRow {
  kind: 'load';
  atMs: number;
}
type Row = TapRow | LoadRow;

const DEVICES = ['BUS07', 'GATE01', 'GATE02', 'PARK3'];

/** Up to 60 records over 3 milliseconds (most share one), taps from 4 devices, and loads. */
const rowsArb = fc
  .array(
    fc.record({
      tap: fc.boolean(),
      device: fc.integer({ min: 0, max: DEVICES.length - 1 }),
      atMs: fc.constantFrom(START_MS, START_MS, START_MS, START_MS + 1, START_MS + 2),
    }),
    { minLength: 1, maxLength: 60 },
  )
  .map((specs) => {
    const nextSeq = new Map<string, number>();
    return specs.map((spec): Row => {
      if (!spec.tap) return { kind: 'load', atMs: spec.atMs };
      const deviceId = DEVICES[spec.device];
      // Sequences are unique per device, in no particular relation to time.
      const seq = (nextSeq.get(deviceId) ?? 1) + 1;
      nextSeq.set(deviceId, seq);
      return { kind: 'tap', deviceId, seq: (seq * 7919) % 10_007, atMs: spec.atMs };
    });
  });

async function store(h: MoneyHarness, cardNo: string, rows: readonly Row[]): Promise<void> {
  await h.store.transaction(async (tx) => {
    await tx.run('DELETE FROM journal_records WHERE card_no = ?', [cardNo]);
    await tx.run('DELETE FROM loads WHERE card_no = ?', [cardNo]);
    let atc = 0;
    for (const row of rows) {
      atc++;
      if (row.kind === 'tap') {
        await tx.run(
          `INSERT INTO journal_records (device_id, device_seq, status, reason, card_no, card_action, operator, device_kind, result_code,
             transaction_type, amount_fen, balance_before_fen, balance_after_fen, offline_atc, online_atc, terminal_id, tsn, tx_date,
             tx_time, tac, place, line, occurred_at_ms, received_ms)
           VALUES (?, ?, 'accepted', NULL, ?, 'debit', 'bus', 'bus', 0, 9, 200, 10000, 9800, ?, 0, '000000000001', ?, 20260310, 100000,
             '01020304', 1, 1, ?, ?)`,
          [row.deviceId, row.seq, cardNo, atc, atc, row.atMs, row.atMs],
        );
      } else {
        await tx.run(
          `INSERT INTO loads (card_no, amount_fen, payment_source, caller_scope, branch, terminal_id, online_atc, balance_before_fen,
             key_version, algorithm, load_date, load_time, mac2, status, resolution, tac, created_ms, resolved_ms)
           VALUES (?, 5000, 'cash', 'counter:t', 'b1', '0000000001A1', ?, 0, 1, '3des', 20260310, 100000, '01020304', 'pending', NULL, NULL, ?, NULL)`,
          [cardNo, atc, row.atMs],
        );
      }
    }
  });
}

interface Page {
  transactions: Array<{ id: string; atMs: number }>;
  more: boolean;
  nextCursor: string | null;
}

async function page(h: MoneyHarness, cardNo: string, query: string): Promise<Page> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}/transactions?${query}`, headers: h.admin });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Page;
}

/** Every page from the first, following nextCursor; the ids in the order received. */
async function allPages(h: MoneyHarness, cardNo: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 1_000; guard++) {
    const got: Page = await page(h, cardNo, `limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`);
    expect(got.transactions.length).toBeLessThanOrEqual(limit);
    ids.push(...got.transactions.map((t) => t.id));
    if (!got.more) {
      expect(got.nextCursor).toBeNull();
      return ids;
    }
    expect(got.transactions.length).toBe(limit);
    cursor = got.nextCursor;
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
  }
  throw new Error('paging did not end');
}

function idOf(row: Row, loadIds: Map<Row, number>): string {
  return row.kind === 'tap' ? `tap:${row.deviceId}:${row.seq}` : `load:${loadIds.get(row)}`;
}

function pagingProperty(harness: () => { h: MoneyHarness; cardNo: string }, runs: number) {
  return fc.assert(
    fc.asyncProperty(rowsArb, fc.integer({ min: 1, max: 7 }), async (rows, limit) => {
      const { h, cardNo } = harness();
      await store(h, cardNo, rows);
      const whole = await page(h, cardNo, 'limit=500');
      expect(whole.more).toBe(false);
      expect(whole.transactions).toHaveLength(rows.length);
      // The order: time descending, then the unique key; the ids are unique.
      const times = whole.transactions.map((t) => t.atMs);
      expect(times).toEqual([...times].sort((a, b) => b - a));
      expect(new Set(whole.transactions.map((t) => t.id)).size).toBe(rows.length);
      // Paged in any page size: the same records in the same order, none skipped or repeated.
      expect(await allPages(h, cardNo, limit)).toEqual(whole.transactions.map((t) => t.id));
    }),
    { numRuns: runs, seed: 17 },
  );
}

describe('card history keyset pages (SQLite)', () => {
  let h: MoneyHarness;
  let cardNo: string;
  beforeAll(async () => {
    h = await startMoneyGateway();
    cardNo = (await issueCard(h)).cardNo;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('records sharing one millisecond are neither skipped nor repeated, whatever the page size', async () => {
    await pagingProperty(() => ({ h, cardNo }), 60);
  });

  it('the exact order: time descending, a tap before a load in the same ms, then device id and sequence descending', async () => {
    const rows: Row[] = [
      { kind: 'load', atMs: START_MS },
      { kind: 'tap', deviceId: 'GATE01', seq: 5, atMs: START_MS },
      { kind: 'tap', deviceId: 'GATE01', seq: 12, atMs: START_MS },
      { kind: 'tap', deviceId: 'BUS07', seq: 99, atMs: START_MS },
      { kind: 'load', atMs: START_MS },
      { kind: 'tap', deviceId: 'BUS07', seq: 1, atMs: START_MS + 1 },
    ];
    await store(h, cardNo, rows);
    const loads = (await h.store.transaction((tx) => tx.all<{ id: number }>('SELECT id FROM loads WHERE card_no = ? ORDER BY id', [cardNo]))).map((r) =>
      Number(r.id),
    );
    const loadIds = new Map<Row, number>([
      [rows[0], loads[0]],
      [rows[4], loads[1]],
    ]);
    const expected = [rows[5], rows[2], rows[1], rows[3], rows[4], rows[0]].map((r) => idOf(r, loadIds));
    expect(await allPages(h, cardNo, 2)).toEqual(expected);
    // Where the old `before=` paging lost records: a page ending inside a millisecond.
    const first = await page(h, cardNo, 'limit=2');
    expect(first.transactions.map((t) => t.id)).toEqual(expected.slice(0, 2));
    const second = await page(h, cardNo, `limit=2&cursor=${first.nextCursor}`);
    expect(second.transactions.map((t) => t.id)).toEqual(expected.slice(2, 4));
  });

  it('a cursor that no answer gave is 400 invalid-request', async () => {
    for (const cursor of ['abc', Buffer.from('[1,2,3]').toString('base64url'), Buffer.from('[1,0,"x",1]').toString('base64url')]) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}/transactions?cursor=${cursor}`, headers: h.admin });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('invalid-request');
    }
  });
});

describe('card history keyset pages (PostgreSQL, the same query)', () => {
  let h: MoneyHarness;
  let cardNo: string;
  beforeAll(async () => {
    await assertPostgresUp();
    h = await startPgMoneyGateway();
    cardNo = (await issueCard(h)).cardNo;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('records sharing one millisecond are neither skipped nor repeated, whatever the page size', async () => {
    await pagingProperty(() => ({ h, cardNo }), 25);
  });
});
