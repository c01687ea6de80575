/**
 * Representative money and platform scenarios run on both stores (issue 6): the same gateway,
 * the same genuine card simulators and issuer keys, on the SQLite file and on PostgreSQL (a
 * fresh schema per test). Requests are fired concurrently where the scenario is about
 * exactly-once; on PostgreSQL they really run at the same time on the pool's connections.
 * The books are checked after every test (GET /v1/ledger/reconciliation: discrepancy 0.00).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closeCheckingBooks,
  counterHeaders,
  countRows,
  creditLoad,
  initLoad,
  issueCard,
  ledgerBalance,
  loadCard,
  makeEveryMoneyAnomaly,
  makeValidator,
  shadowBalance,
  START_MS,
  startMoneyGateway,
  startPgMoneyGateway,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
} from './money-fixtures.ts';
import { serviceAvailable } from '../support/services.ts';
import { assertPostgresUp } from '../store/pg-test-db.ts';

const POSTGRES_UP = serviceAvailable('postgres', 'money scenarios on PostgreSQL');
const STORES: Array<[string, () => Promise<MoneyHarness>]> = [
  ['sqlite', startMoneyGateway],
  ...(POSTGRES_UP ? [['postgres', startPgMoneyGateway] as [string, () => Promise<MoneyHarness>]] : []),
];

beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

describe.each(STORES)('money scenarios on %s', (dialect, start) => {
  let h: MoneyHarness | undefined;
  afterEach(async () => {
    const done = h;
    h = undefined;
    if (done !== undefined) await closeCheckingBooks(done);
  });

  const count = (sql: string, params: (string | number)[] = []): Promise<number> => countRows(h!, sql, params);
  const balanceOf = (account: string): Promise<number> => ledgerBalance(h!, account);

  it('runs on the expected store', async () => {
    h = await start();
    expect(h.store.dialect).toBe(dialect);
  });

  it('one Idempotency-Key sent 10 times at once makes one load; confirming twice at once credits once', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 10_000);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        h!.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'same-key' }, payload: body }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(new Array(10).fill(201));
    expect(new Set(answers.map((a) => a.json().id)).size).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM loads')).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-authorise'")).toBe(1);
    const conflict = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'same-key' },
      payload: { ...body, amount: '20.00' },
    });
    expect(conflict.statusCode).toBe(409);

    const load = answers[0].json();
    const tac = creditLoad(card, load);
    const confirms = await Promise.all(
      Array.from({ length: 4 }, () => h!.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } })),
    );
    expect(confirms.map((c) => c.statusCode)).toEqual([200, 200, 200, 200]);
    expect(await shadowBalance(h, cardNo)).toBe(10_000);
    expect(await count("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-confirm'")).toBe(1);
    expect(await balanceOf('payment:cash')).toBe(10_000);
  });

  it('a teller-voided load the card was credited with anyway: concurrent confirms and the next load reinstate it once', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    const load = (
      await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'vr-1' }, payload: initLoad(card, cardNo, 3_000) })
    ).json();
    expect((await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/void`, headers: counter })).json().status).toBe('voided');
    const tac = creditLoad(card, load);
    const next = initLoad(card, cardNo, 2_000);
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => h!.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } })),
      h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'vr-2' }, payload: next }),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200, 201]);
    const settled = await h.app.inject({ method: 'GET', url: `/v1/loads/${load.id}`, headers: counter });
    expect(settled.json()).toMatchObject({ status: 'confirmed', resolution: 'void-reversed' });
    expect(await shadowBalance(h, cardNo)).toBe(3_000);
    expect(await count("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-void-reversed'")).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM money_anomalies WHERE kind = 'load-void-reversed'")).toBe(1);
    expect(await balanceOf('payment:cash')).toBe(5_000);
  });

  it('loads on many cards at once all succeed and post once each', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const cards = await Promise.all(Array.from({ length: 6 }, () => issueCard(h!)));
    await Promise.all(cards.map(({ cardNo, card }, i) => loadCard(h!, counter, card, cardNo, 1_000 * (i + 1), `card-${i}`)));
    for (const [i, { cardNo }] of cards.entries()) expect(await shadowBalance(h, cardNo)).toBe(1_000 * (i + 1));
    expect(await balanceOf('payment:cash')).toBe(21_000);
  });

  it('the same sync batch uploaded 6 times at once is applied once; out-of-order records close the ATC gap', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-01', 1);
    const records = [1, 2, 3, 4].map((i) => tap(gate, card, cardNo, 100 * i, START_MS + 60_000 * i));
    const batch = syncRequest(gate, records);
    const answers = await Promise.all(Array.from({ length: 6 }, () => sync(h!, gate, batch)));
    for (const a of answers) expect(a.response).toMatchObject({ acknowledged: [1, 2, 3, 4], quarantined: [], watermark: 4 });
    expect(await shadowBalance(h, cardNo)).toBe(4_000);
    expect(await balanceOf('revenue:subway')).toBe(-1_000);
    expect(await count('SELECT COUNT(*) AS n FROM journal_records')).toBe(4);
    expect(await count("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'sync-debits'")).toBe(1);

    // A second validator uploads later taps before the first uploads the one in between.
    const other = await makeValidator(h, 'gate-02', 2);
    const gap = tap(gate, card, cardNo, 50, START_MS + 600_000);
    const after = [tap(other, card, cardNo, 70, START_MS + 700_000)];
    await sync(h, other, syncRequest(other, after));
    expect(await count("SELECT COUNT(*) AS n FROM money_anomalies WHERE kind = 'atc-gap'")).toBe(1);
    await Promise.all([sync(h, gate, syncRequest(gate, [gap])), sync(h, gate, syncRequest(gate, [gap]))]);
    expect(await shadowBalance(h, cardNo)).toBe(4_000 - 50 - 70);
    const chain = await h.store.transaction((tx) =>
      tx.get<{ next_atc: number; max_atc: number }>('SELECT next_atc, max_atc FROM card_chains WHERE card_no = ?', [cardNo]),
    );
    expect(chain!.next_atc).toBe(chain!.max_atc + 1);
  });

  it('GET /v1/ops/anomalies: every kind in id order, filters, pages, and an atc-gap closing', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const s = await makeEveryMoneyAnomaly(h, counter);
    const get = async (query: string) => {
      const res = await h!.app.inject({ method: 'GET', url: `/v1/ops/anomalies${query}`, headers: h!.admin });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as {
        anomalies: Array<{ id: number; kind: string; cardNo: string; deviceSeq: number | null; loadId: string | null; open: boolean | null }>;
        more: boolean;
        nextAfter: number;
      };
    };
    const all = (await get('')).anomalies;
    expect(all.map((a) => [a.kind, a.cardNo])).toEqual([
      ['atc-gap', s.gap.cardNo],
      ['cloned-card', s.cloned.cardNo],
      ['tac-replayed', s.replayed.cardNo],
      ['tac-invalid', s.invalid.cardNo],
      ['load-void-reversed', s.voidReversed.cardNo],
    ]);
    expect(all.map((a) => a.open)).toEqual([true, null, null, null, null]);
    expect(all[4].loadId).toBe(s.voidReversed.loadId);
    expect((await get(`?kind=tac-replayed&cardNo=${s.replayed.cardNo}`)).anomalies).toEqual([
      expect.objectContaining({ deviceId: 'anom-a', deviceSeq: s.replayed.deviceSeq }),
    ]);
    expect(await get(`?after=${all[1].id}&limit=2`)).toEqual({ anomalies: all.slice(2, 4), more: true, nextAfter: all[3].id });
    h.now.ms += 60_000;
    await sync(h, s.gap.gate, syncRequest(s.gap.gate, [s.gap.missing]));
    expect((await get('?kind=atc-gap')).anomalies.map((a) => a.open)).toEqual([false]);
    expect((await h.app.inject({ method: 'GET', url: '/v1/ops/anomalies', headers: counter })).statusCode).toBe(403);
  });

  it('refund requests for one card at once make one refund, paid once, with the late tap written off', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-r', 11);
    const lateTap = tap(gate, card, cardNo, 300, START_MS + 60_000);
    const destination = { destinationAccount: '6222020200112233445', destinationName: 'Test Rider' };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => h!.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/refunds`, headers: counter, payload: destination })),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.json().id)).size).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM refunds')).toBe(1);
    const refund = answers[0].json();
    h.now.ms = refund.deadlineMs - 60 * 60 * 1000;
    const runs = await Promise.all([1, 2, 3].map(() => h!.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h!.admin })));
    expect(runs.flatMap((r) => r.json().refundsPaid)).toEqual([refund.id]);
    expect(await balanceOf('bank:refund-payouts')).toBe(-5_000);
    h.now.ms += 60_000;
    const late = await sync(h, gate, syncRequest(gate, [lateTap], 0));
    expect(late.response?.acknowledged).toEqual([1]);
    expect(await balanceOf('writeoff:late-taps')).toBe(300);
    expect(await shadowBalance(h, cardNo)).toBe(0);
  });

  it('loss reports of one card at once: one report, one blacklist entry, the rest refused', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const { cardNo } = await issueCard(h);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        h!.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/loss-reports`, headers: counter, payload: { kind: 'temporary' } }),
      ),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    expect(await count('SELECT COUNT(*) AS n FROM loss_reports WHERE card_no = ?', [cardNo])).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM blacklist_log WHERE card_no = ? AND op = 'add'", [cardNo])).toBe(1);
    const versions = await h.store.transaction((tx) => tx.all<{ version: number }>('SELECT version FROM blacklist_log ORDER BY version'));
    expect(versions.map((v) => v.version)).toEqual(versions.map((_, i) => i + 1));
  });

  it('teller and clearing reports read the same on both stores', async () => {
    h = await start();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 3_000, 'l1');
    const gate = await makeValidator(h, 'gate-rep', 21);
    await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 400, START_MS + 60_000), tap(gate, card, cardNo, 500, START_MS + 120_000)]));
    const clearing = await h.app.inject({ method: 'GET', url: '/v1/reports/clearing?day=2026-03-10', headers: h.admin });
    expect(clearing.statusCode).toBe(200);
    expect(clearing.json().operators.find((o: { operator: string }) => o.operator === 'subway')).toMatchObject({ debits: 2, amountFen: 900 });
    const teller = await h.app.inject({ method: 'GET', url: '/v1/reports/teller?day=2026-03-10', headers: h.admin });
    expect(teller.statusCode).toBe(200);
    expect(teller.json().totals).toMatchObject({ loads: 1, loadedFen: 3_000 });
    const history = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}/transactions`, headers: h.admin });
    expect(history.statusCode).toBe(200);
  });
});
