/**
 * Races between TWO gateway instances on one PostgreSQL schema (issue 19): each instance is a
 * real gateway (buildGateway) with its own store and its own connection pool, so their
 * transactions really overlap in the database. Money writers run READ COMMITTED with the card's
 * account row locked (docs/postgres.md); these scenarios are the interleavings that design must
 * survive: one idempotency key sent to both; consecutive loads on one card whose confirmations
 * race the next load's INIT (consecutive online counters); purchases ingested by two validators,
 * through both instances, while the cards' loads are still being confirmed. After each: every
 * operation applied exactly once, the books reconcile, and no deadlock (40P01) and no
 * serialization failure happened in either instance (the stores count every one they see,
 * retried or not). And the one-park-pass-per-holder rule (issue 16, q47) when two cards of one
 * holder are sold a pass at once through the two instances: without the holder's cards locked
 * both sales went through (seen before the fix), now one is 409 park-pass-holder-has-pass.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { pack } from 'msgpackr';
import { buildGateway } from '#gateway/app';
import type { PostgresStore } from '#gateway/store/postgres-store';
import type { SqliteStore } from '#gateway/store/sqlite-store';
import { LockOrder } from '#gateway/store/store-port';
import {
  ADMIN_TOKEN,
  assertBooksBalance,
  counterHeaders,
  countRows,
  creditLoad,
  initLoad,
  issueCard,
  makeValidator,
  START_MS,
  shadowBalance,
  syncRequest,
  tap,
  type MoneyHarness,
  type Validator,
} from './money-fixtures.ts';
import { makeIssuer } from '../purse/fixtures.ts';
import { serviceAvailable } from '../support/services.ts';
import { assertPostgresUp, dropSchema, freshSchemaName, newPgStore } from '../store/pg-test-db.ts';

const POSTGRES_UP = serviceAvailable('postgres', 'two gateway instances racing on PostgreSQL');

interface Twins {
  /** Instance 0 and instance 1 (harness shape, so the money fixtures work on either). */
  h: [MoneyHarness, MoneyHarness];
  stores: [PostgresStore, PostgresStore];
  close(): Promise<void>;
}

async function startTwins(): Promise<Twins> {
  const schema = freshSchemaName('races');
  const now = { ms: START_MS };
  const issuer = makeIssuer();
  const stores = [newPgStore(schema, { clock: () => now.ms }), newPgStore(schema, { clock: () => now.ms })] as [PostgresStore, PostgresStore];
  // Both migrate at once, as two instances starting together do.
  const apps = (await Promise.all(
    stores.map((store) =>
      buildGateway({
        store,
        keys: issuer,
        clock: () => now.ms,
        adminToken: ADMIN_TOKEN,
        policies: { lossExpiryIntervalMs: 0, passwordKdf: { N: 1024, r: 8, p: 1 } },
      }),
    ),
  )) as [FastifyInstance, FastifyInstance];
  const harness = (i: 0 | 1): MoneyHarness => ({
    app: apps[i],
    store: stores[i] as unknown as SqliteStore,
    issuer,
    now,
    dir: '',
    admin: { authorization: `Bearer ${ADMIN_TOKEN}` },
    close: async () => undefined,
  });
  return {
    h: [harness(0), harness(1)],
    stores,
    async close() {
      await Promise.all(apps.map((app) => app.close()));
      await Promise.all(stores.map((store) => store.close()));
      await dropSchema(schema);
    },
  };
}

/** What the lock order must make impossible, summed over both instances. */
function contention(t: Twins): { deadlocks: number; serializationFailures: number; readCommitted: number } {
  return {
    deadlocks: t.stores[0].stats.deadlocks + t.stores[1].stats.deadlocks,
    serializationFailures: t.stores[0].stats.serializationFailures + t.stores[1].stats.serializationFailures,
    readCommitted: t.stores[0].stats.readCommitted + t.stores[1].stats.readCommitted,
  };
}

function postLoad(h: MoneyHarness, headers: Record<string, string>, key: string, body: unknown) {
  return h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...headers, 'idempotency-key': key }, payload: body as Record<string, unknown> });
}

function confirm(h: MoneyHarness, headers: Record<string, string>, id: string, tac: string) {
  return h.app.inject({ method: 'POST', url: `/v1/loads/${id}/confirm`, headers, payload: { tac } });
}

function postSync(h: MoneyHarness, v: Validator, records: ReturnType<typeof tap>[]) {
  return h.app.inject({
    method: 'POST',
    url: `/v1/devices/${v.deviceId}/sync`,
    headers: { ...v.headers, 'content-type': 'application/x-msgpack' },
    payload: pack(syncRequest(v, records)),
  });
}

describe('card lock order (both stores check it)', () => {
  it('sorts and de-duplicates a batch, refuses a card below one already held, and puts the device first', () => {
    const order = new LockOrder();
    expect(order.takeDevice('gate-1')).toBe(true);
    expect(order.takeCards(['300', '100', '200', '100'])).toEqual(['100', '200', '300']);
    // Already held: nothing to lock again; above the highest: allowed.
    expect(order.takeCards(['200', '400'])).toEqual(['400']);
    expect(() => order.takeCards(['350'])).toThrow(/lock order/);
    expect(() => order.takeDevice('gate-1')).toThrow(/after a card/);
    const second = new LockOrder();
    second.takeDevice('gate-1');
    expect(second.takeDevice('gate-1')).toBe(false);
    expect(() => second.takeDevice('gate-2')).toThrow(/second device/);
  });

  it('byte order, as COLLATE "C" sorts (not the locale)', () => {
    expect(new LockOrder().takeCards(['b', 'B', 'a', '9', '10'])).toEqual(['10', '9', 'B', 'a', 'b']);
  });
});

describe.skipIf(!POSTGRES_UP)('two gateway instances racing on PostgreSQL', { timeout: 60_000 }, () => {
  let t: Twins | undefined;
  beforeAll(async () => {
    await assertPostgresUp();
  });
  afterEach(async () => {
    const done = t;
    t = undefined;
    if (done === undefined) return;
    try {
      await assertBooksBalance(done.h[0]);
      await assertBooksBalance(done.h[1]);
    } finally {
      await done.close();
    }
  });

  it('lockCards serialises read-modify-write at READ COMMITTED: no lost update, opposite batch orders never deadlock', async () => {
    t = await startTwins();
    const [s0, s1] = t.stores;
    const cards = ['9000000000000001', '9000000000000002', '9000000000000003'];
    await s0.transaction(async (tx) => {
      for (const cardNo of cards) {
        await tx.run('INSERT INTO card_accounts (card_no, shadow_balance_fen, last_offline_atc, last_online_atc, updated_ms) VALUES (?, 0, -1, 0, 0)', [
          cardNo,
        ]);
      }
    });
    // 40 increments of every card, half from each instance, each batch's cards in a different
    // order; the read and the write are separate statements with a pause between them, so
    // without the lock READ COMMITTED would lose updates.
    const rounds = 20;
    const bump = (store: PostgresStore, order: string[]) =>
      store.transaction(
        async (tx) => {
          await tx.lockCards(order);
          for (const cardNo of order) {
            const row = await tx.get<{ b: number }>('SELECT shadow_balance_fen AS b FROM card_accounts WHERE card_no = ?', [cardNo]);
            await new Promise((resolve) => setImmediate(resolve));
            await tx.run('UPDATE card_accounts SET shadow_balance_fen = ? WHERE card_no = ?', [Number(row?.b) + 1, cardNo]);
          }
        },
        { isolation: 'read-committed' },
      );
    await Promise.all(
      Array.from({ length: rounds }, (_, i) => [
        bump(s0, [...cards]),
        bump(s1, [...cards].reverse()),
        bump(i % 2 ? s0 : s1, [cards[1], cards[2], cards[0]]),
      ]).flat(),
    );
    const rows = await s0.transaction(
      (tx) => tx.all<{ card_no: string; b: number }>('SELECT card_no, shadow_balance_fen AS b FROM card_accounts ORDER BY card_no'),
      {
        readOnly: true,
      },
    );
    expect(rows.map((r) => r.b)).toEqual([3 * rounds, 3 * rounds, 3 * rounds]);
    expect(contention(t)).toMatchObject({ deadlocks: 0, serializationFailures: 0 });
    // Put the cards back to zero so the books (no postings) still reconcile.
    await s0.transaction(async (tx) => tx.run('DELETE FROM card_accounts'));
    // A lock in a SERIALIZABLE transaction would read a snapshot older than the lock: refused.
    await expect(s0.transaction((tx) => tx.lockCards([cards[0]]))).rejects.toThrow(/read-committed/);
  });

  it('one Idempotency-Key sent to both instances at once makes one load, one posting, one answer', async () => {
    t = await startTwins();
    const [h0, h1] = t.h;
    const counter = await counterHeaders(h0);
    const { cardNo, card } = await issueCard(h0);
    const body = initLoad(card, cardNo, 5_000);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => postLoad(i % 2 ? h1 : h0, counter, 'same-key', body)));
    expect(answers.map((r) => r.statusCode)).toEqual(new Array(12).fill(201));
    expect(new Set(answers.map((r) => r.json().id)).size).toBe(1);
    expect(answers.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(11);
    expect(await countRows(h0, 'SELECT COUNT(*) AS n FROM loads')).toBe(1);
    expect(await countRows(h0, "SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-authorise'")).toBe(1);
    // The same key with a different body, to both at once: refused everywhere, nothing applied.
    const other = { ...body, amount: '60.00' };
    const refused = await Promise.all([postLoad(h0, counter, 'same-key', other), postLoad(h1, counter, 'same-key', other)]);
    expect(refused.map((r) => r.statusCode)).toEqual([409, 409]);
    expect(await countRows(h0, 'SELECT COUNT(*) AS n FROM loads')).toBe(1);
    expect(contention(t)).toMatchObject({ deadlocks: 0, serializationFailures: 0 });
  });

  it("consecutive loads on one card: each load's confirm races the next load's INIT on the other instance; online counters consecutive, each credited once", async () => {
    t = await startTwins();
    const [h0, h1] = t.h;
    const counter = await counterHeaders(h0);
    const { cardNo, card } = await issueCard(h1);
    const loads = 8;
    const amounts = Array.from({ length: loads }, (_, k) => 1_000 * (k + 1));
    let body = initLoad(card, cardNo, amounts[0]);
    let current = await postLoad(h0, counter, 'load-0', body);
    expect(current.statusCode).toBe(201);
    for (let k = 0; k < loads; k++) {
      const load = current.json();
      const tac = creditLoad(card, load);
      if (k === loads - 1) {
        // The last one: confirmed twice at once, once on each instance.
        const last = await Promise.all([confirm(h0, counter, load.id, tac), confirm(h1, counter, load.id, tac)]);
        expect(last.map((r) => r.statusCode)).toEqual([200, 200]);
        break;
      }
      // The card moved to the next online ATC: its next INIT proves this load credited. The
      // confirm (with the TAC) and the next load (sent twice, same key) race on both instances.
      body = initLoad(card, cardNo, amounts[k + 1]);
      const a = k % 2 === 0 ? h1 : h0;
      const b = k % 2 === 0 ? h0 : h1;
      const [confirmed, next, nextAgain] = await Promise.all([
        confirm(a, counter, load.id, tac),
        postLoad(b, counter, `load-${k + 1}`, body),
        postLoad(a, counter, `load-${k + 1}`, body),
      ]);
      expect(confirmed.statusCode).toBe(200);
      expect(confirmed.json().status).toBe('confirmed');
      expect([next.statusCode, nextAgain.statusCode]).toEqual([201, 201]);
      expect(nextAgain.json().id).toBe(next.json().id);
      current = next;
    }
    const rows = await t.stores[0].transaction(
      (tx) => tx.all<{ online_atc: number; status: string }>('SELECT online_atc, status FROM loads WHERE card_no = ? ORDER BY id', [cardNo]),
      { readOnly: true },
    );
    expect(rows.map((r) => r.online_atc)).toEqual(Array.from({ length: loads }, (_, k) => k));
    expect(rows.every((r) => r.status === 'confirmed')).toBe(true);
    expect(await countRows(h0, "SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-confirm'")).toBe(loads);
    expect(await shadowBalance(h0, cardNo)).toBe(amounts.reduce((sum, a) => sum + a, 0));
    expect(await countRows(h0, 'SELECT last_online_atc AS n FROM card_accounts WHERE card_no = ?', [cardNo])).toBe(loads - 1);
    expect(contention(t)).toMatchObject({ deadlocks: 0, serializationFailures: 0 });
  });

  it('purchases ingested by two validators through both instances while the cards are loading: each tap and each load once, no deadlock', async () => {
    t = await startTwins();
    const [h0, h1] = t.h;
    const counter = await counterHeaders(h0);
    const cards = [await issueCard(h0), await issueCard(h1, 'sm4'), await issueCard(h0)];
    const gates = [await makeValidator(h0, 'race-gate-a', 0x41), await makeValidator(h1, 'race-gate-b', 0x42)];
    // Every card: a first load credited on the card but not yet confirmed (pending at the gateway).
    const pending: Array<{ id: string; tac: string }> = [];
    for (const [i, { cardNo, card }] of cards.entries()) {
      const res = await postLoad(i % 2 ? h1 : h0, counter, `first-${i}`, initLoad(card, cardNo, 5_000));
      expect(res.statusCode).toBe(201);
      pending.push({ id: res.json().id, tac: creditLoad(card, res.json()) });
    }
    // Taps on the cards after the credit (their online ATC proves it): gate A sees the cards in
    // one order, gate B in the opposite one, so the two batches hold the same cards.
    const t0 = START_MS - 3_600_000;
    const batchA = [0, 1, 2, 0].map((c, n) => tap(gates[0], cards[c].card, cards[c].cardNo, 200 + n, t0 + 60_000 * n));
    const batchB = [2, 1, 0, 2].map((c, n) => tap(gates[1], cards[c].card, cards[c].cardNo, 300 + n, t0 + 600_000 + 60_000 * n));
    // A second load per card, INIT after the taps (its online ATC is evidence too).
    const second = cards.map(({ cardNo, card }) => initLoad(card, cardNo, 2_000));
    const fares = new Map<string, number>();
    for (const r of [...batchA, ...batchB]) fares.set(r.cardNo, (fares.get(r.cardNo) ?? 0) + r.amountFen);
    const both = <T>(f: (h: MoneyHarness) => Promise<T>) => [f(h0), f(h1)];
    const answers = await Promise.all([
      // Each batch uploaded to both instances at once.
      ...both((h) => postSync(h, gates[0], batchA)),
      ...both((h) => postSync(h, gates[1], batchB)),
      // The first loads confirmed (each on both instances), the second loads authorised.
      ...pending.flatMap(({ id, tac }) => both((h) => confirm(h, counter, id, tac))),
      ...second.map((body, i) => postLoad(i % 2 ? h0 : h1, counter, `second-${i}`, body)),
    ]);
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201, 201, 201]);
    const taps = batchA.length + batchB.length;
    expect(await countRows(h0, 'SELECT COUNT(*) AS n FROM journal_records')).toBe(taps);
    expect(await countRows(h0, 'SELECT COUNT(*) AS n FROM card_debits')).toBe(taps);
    expect(await countRows(h0, "SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'sync-debits'")).toBe(2);
    expect(await countRows(h0, "SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-confirm'")).toBe(cards.length);
    expect(await countRows(h0, "SELECT COUNT(*) AS n FROM loads WHERE status = 'pending'")).toBe(cards.length);
    for (const { cardNo } of cards) {
      expect(await shadowBalance(h1, cardNo)).toBe(5_000 - (fares.get(cardNo) ?? 0));
      const chain = await t.stores[1].transaction((tx) => tx.get<{ next_atc: number }>('SELECT next_atc FROM card_chains WHERE card_no = ?', [cardNo]), {
        readOnly: true,
      });
      expect(chain?.next_atc).toBe([...batchA, ...batchB].filter((r) => r.cardNo === cardNo).length);
    }
    expect(await countRows(h0, "SELECT COUNT(*) AS n FROM money_anomalies WHERE kind <> 'atc-gap'")).toBe(0);
    expect(contention(t)).toMatchObject({ deadlocks: 0, serializationFailures: 0 });
    expect(contention(t).readCommitted).toBeGreaterThan(0);
  });

  it('one park pass per holder and year: two cards of one holder sold a pass at once through both instances, one sale only', async () => {
    t = await startTwins();
    const [a, b] = t.h;
    // 2025-12-20 10:00 Beijing: the 2026 pass is on sale.
    a.now.ms = Date.UTC(2025, 11, 20, 2);
    const counters = [await counterHeaders(a), await counterHeaders(b)];
    const sell = (h: MoneyHarness, headers: Record<string, string>, cardNo: string, key: string) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/cards/${cardNo}/park-passes`,
        headers: { ...headers, 'idempotency-key': key },
        payload: { challenge: '01020304', paymentSource: 'cash' },
      });
    const HOLDERS = 4;
    for (let i = 0; i < HOLDERS; i++) {
      const ssn = `11010119900307${String(500 + i).padStart(3, '0')}X`;
      const first = await issueCard(a, 'sm4', { socialSecurityNo: ssn });
      const second = await issueCard(a, 'sm4', { socialSecurityNo: ssn });
      // The two cards of the holder, each through its own instance, at the same moment.
      const answers = await Promise.all([sell(a, counters[0], first.cardNo, `pp-${i}-a`), sell(b, counters[1], second.cardNo, `pp-${i}-b`)]);
      const codes = answers.map((r) => r.statusCode).sort();
      expect(codes, answers.map((r) => r.body).join('\n')).toEqual([201, 409]);
      expect(answers.find((r) => r.statusCode === 409)!.json().code).toBe('park-pass-holder-has-pass');
    }
    expect(await countRows(a, 'SELECT COUNT(*) AS n FROM park_pass_sales')).toBe(HOLDERS);
    const revenue = await a.store.transaction((tx) =>
      tx.get<{ total: number }>("SELECT COALESCE(SUM(amount_fen), 0) AS total FROM ledger_entries WHERE account = 'revenue:park-pass'"),
    );
    expect(Number(revenue!.total)).toBe(-HOLDERS * 10_000);
    expect(contention(t).deadlocks).toBe(0);
  });
});
