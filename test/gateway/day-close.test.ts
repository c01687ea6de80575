/**
 * Day close (services/day-close.ts, docs/settlement.md) through the HTTP API on SQLite and, when
 * it is up, PostgreSQL (isolated schema): a business day runs to the 04:00 cut-off (a tap at
 * 02:00 belongs to the day before); it closes only after its end, in order, once; the summary
 * reconciles to 0.00, adds the companies up to the cleared debits and is signed (the signature
 * verifies against the clearing centre's certificate); a record of a closed day that arrives
 * later goes to the next day as an adjustment referencing its day and the closed day does not
 * change (the schema refuses an UPDATE of it); the jobs close a day once every active device has
 * synced after its end, or once the grace deadline has passed.
 */
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '#gateway/services/clearing-key';
import { assertPostgresUp } from '../store/pg-test-db.ts';
import { serviceAvailable } from '../support/services.ts';
import {
  closeCheckingBooks,
  counterHeaders,
  issueCard,
  loadCard,
  makeValidator,
  type MoneyHarness,
  START_MS,
  startMoneyGateway,
  startPgMoneyGateway,
  sync,
  syncRequest,
  tap,
} from './money-fixtures.ts';

const POSTGRES_UP = serviceAvailable('postgres', 'day close on PostgreSQL');
const STORES: Array<'sqlite' | 'postgres'> = ['sqlite', ...(POSTGRES_UP ? (['postgres'] as const) : [])];
beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

const HOUR = 3_600_000;
/** Beijing wall-clock time on March `day` 2026 → epoch ms. */
const bj = (day: number, hour: number, minute = 0): number => Date.UTC(2026, 2, day, hour - 8, minute);

describe.each(STORES)('day close on %s', (dialect) => {
  let h: MoneyHarness | undefined;
  afterEach(async () => {
    if (h !== undefined) await closeCheckingBooks(h);
    h = undefined;
  });

  const close = (day: string) => h!.app.inject({ method: 'POST', url: `/v1/settlement/days/${day}/close`, headers: h!.admin });
  const get = (day: string) => h!.app.inject({ method: 'GET', url: `/v1/settlement/days/${day}`, headers: h!.admin });
  const jobs = async () => {
    const res = await h!.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h!.admin });
    expect(res.statusCode).toBe(200);
    return res.json().daysClosed as string[];
  };

  it('closes a business day to the cut-off, signed and reconciled; late records become the next day’s adjustments', async () => {
    h = dialect === 'sqlite' ? await startMoneyGateway() : await startPgMoneyGateway();
    const counter = await counterHeaders(h);
    expect(START_MS).toBe(bj(10, 10));
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 10_000, 'l1');
    const gate = await makeValidator(h, 'gate-1', 1);
    expect((await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 300, bj(10, 10, 1)), tap(gate, card, cardNo, 400, bj(10, 10, 2))]))).status).toBe(
      200,
    );

    // Not before its end (11 March 04:00 Beijing time).
    h.now.ms = bj(11, 3, 59);
    const early = await close('2026-03-10');
    expect(early.statusCode).toBe(409);
    expect(early.json().code).toBe('day-not-ended');
    // A tap at 02:00 on the 11th still belongs to business day 10 March; one at 04:30 to the 11th.
    h.now.ms = bj(11, 5);
    const night = tap(gate, card, cardNo, 500, bj(11, 2));
    const morning = tap(gate, card, cardNo, 600, bj(11, 4, 30));
    expect((await sync(h, gate, syncRequest(gate, [night, morning]))).status).toBe(200);

    const res = await close('2026-03-10');
    expect(res.statusCode, res.body).toBe(201);
    const closed = res.json();
    const s = closed.summary;
    expect(s.cleared).toMatchObject({ debits: 3, amountFen: 1_200, quarantined: 0 });
    expect(s.cleared.services.find((x: { operator: string }) => x.operator === 'subway')).toEqual({ operator: 'subway', debits: 3, amountFen: 1_200 });
    expect(s.companies.reduce((n: number, c: { amountFen: number }) => n + c.amountFen, 0)).toBe(1_200);
    expect(s.issuers).toEqual([{ issuer: 'home', debits: 3, amountFen: 1_200 }]);
    expect(s.adjustments).toEqual([]);
    // The load (authorised and confirmed on the 10th) was collected; the purse owes 100 - 12 yuan… of this day's postings only.
    expect(s.collections.reduce((n: number, c: { amountFen: number }) => n + c.amountFen, 0)).toBe(10_000);
    expect(s.collections.every((c: { paymentSource: string }) => c.paymentSource === 'cash')).toBe(true);
    expect(s.refundsPaid).toEqual({ count: 0, amountFen: 0 });
    const movement = Object.fromEntries(s.ledger.accounts.map((a: { account: string; movementFen: number }) => [a.account, a.movementFen]));
    // The 04:30 tap was uploaded with the 02:00 one, at 05:00 on the 11th: its posting (one per batch) belongs to the 11th.
    expect(movement['payment:cash']).toBe(10_000);
    expect(movement['revenue:subway']).toBe(-700);
    expect(Object.values(s.reconciliation).every((v) => v === 0)).toBe(true);
    expect(s.trigger).toBe('operator');
    expect(s.closedBy).toBe('admin');
    expect(closed.verified).toEqual({ digestMatches: true, signatureValid: true });
    const cert = (await h.app.inject({ method: 'GET', url: '/v1/settlement/certificate', headers: h.admin })).json();
    expect(verifySignature(cert.certificatePem, closed.summaryJson, closed.signature)).toBe(true);
    expect(verifySignature(cert.certificatePem, closed.summaryJson.replace('"amountFen":1200', '"amountFen":1201'), closed.signature)).toBe(false);
    expect(cert.fingerprint).toBe(closed.certificateFingerprint);

    // Once, in order.
    expect((await close('2026-03-10')).json().code).toBe('day-already-closed');
    expect((await close('2026-03-09')).json().code).toBe('day-already-closed');
    h.now.ms = bj(13, 5);
    const skip = await close('2026-03-12');
    expect(skip.json()).toMatchObject({ code: 'day-out-of-order', nextDay: '2026-03-11' });

    // A late record of the 10th (another gate, uploaded on the 13th): the 11th's adjustment.
    const gate2 = await makeValidator(h, 'gate-2', 2);
    expect((await sync(h, gate2, syncRequest(gate2, [tap(gate2, card, cardNo, 200, bj(10, 18))]))).status).toBe(200);
    expect((await get('2026-03-10')).json().digest).toBe(closed.digest);
    const next = await close('2026-03-11');
    expect(next.statusCode, next.body).toBe(201);
    const s11 = next.json().summary;
    expect(s11.cleared).toMatchObject({ debits: 2, amountFen: 800 });
    expect(s11.adjustments).toEqual([{ day: '2026-03-10', debits: 1, amountFen: 200, postings: 0 }]);
    expect(Object.values(s11.reconciliation).every((v) => v === 0)).toBe(true);
    // The late upload's posting (13 March) is not the 11th's: the 12th or later takes it in.
    expect(s11.ledger.accounts.find((a: { account: string }) => a.account === 'revenue:subway').movementFen).toBe(-1_100);

    // A closed day is immutable, in the schema too.
    await expect(h.store.transaction((tx) => tx.run("UPDATE business_days SET closed_by = 'x' WHERE day = '2026-03-10'"))).rejects.toThrow(/immutable/);
    await expect(h.store.transaction((tx) => tx.run("DELETE FROM business_days WHERE day = '2026-03-10'"))).rejects.toThrow(/immutable/);
    const list = (await h.app.inject({ method: 'GET', url: '/v1/settlement/days?from=2026-03-01&to=2026-03-31', headers: h.admin })).json();
    expect(list.days.map((d: { day: string }) => d.day)).toEqual(['2026-03-10', '2026-03-11']);
    expect((await get('2026-03-12')).json().code).toBe('day-not-closed');
  });

  it('the jobs close a day once every active device synced after its end, or once the grace deadline passed', async () => {
    h = dialect === 'sqlite' ? await startMoneyGateway() : await startPgMoneyGateway();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-1', 1);
    const bus = await makeValidator(h, 'bus-1', 2);
    expect((await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 300, bj(10, 11))]))).status).toBe(200);
    expect((await sync(h, bus, syncRequest(bus, [tap(bus, card, cardNo, 100, bj(10, 12), 'bus')]))).status).toBe(200);
    h.now.ms = bj(11, 6);
    expect(await jobs()).toEqual([]);
    // The gate synced after the cut-off; the bus not yet.
    expect((await sync(h, gate, syncRequest(gate, []))).status).toBe(200);
    expect(await jobs()).toEqual([]);
    expect((await sync(h, bus, syncRequest(bus, []))).status).toBe(200);
    expect(await jobs()).toEqual(['2026-03-10']);
    expect((await get('2026-03-10')).json().summary).toMatchObject({
      trigger: 'watermarks',
      closedBy: 'job:watermarks',
      cleared: { debits: 2, amountFen: 400 },
    });
    // The 11th: nobody syncs again; 36 hours after its end (13 March 16:00) it closes by grace.
    h.now.ms = bj(13, 15, 59);
    expect(await jobs()).toEqual([]);
    h.now.ms = bj(13, 16);
    expect(await jobs()).toEqual(['2026-03-11']);
    expect((await get('2026-03-11')).json().summary).toMatchObject({ trigger: 'grace', cleared: { debits: 0, amountFen: 0 } });
    void HOUR;
  });

  it('the settlement file says who pays whom with a control record; the operator reports add the closed days up per day and month', async () => {
    h = dialect === 'sqlite' ? await startMoneyGateway() : await startPgMoneyGateway();
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 10_000, 'l1');
    const gate = await makeValidator(h, 'gate-1', 1);
    const bus = await makeValidator(h, 'bus-1', 2);
    expect((await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 300, bj(10, 11)), tap(gate, card, cardNo, 400, bj(10, 12))]))).status).toBe(200);
    const busTap = { ...tap(bus, card, cardNo, 100, bj(10, 13), 'bus'), deviceKind: 'bus' as const, line: 1, place: 0 };
    expect((await sync(h, bus, syncRequest(bus, [busTap]))).status).toBe(200);
    // Before the close: no file.
    h.now.ms = bj(11, 5);
    const none = await h.app.inject({ method: 'GET', url: '/v1/settlement/days/2026-03-10/settlement-file', headers: h.admin });
    expect(none.json().code).toBe('day-not-closed');
    const closed = (await close('2026-03-10')).json();

    const file = await h.app.inject({ method: 'GET', url: '/v1/settlement/days/2026-03-10/settlement-file', headers: h.admin });
    expect(file.statusCode).toBe(200);
    const transfers = file.json().transfers as Array<{
      row: string;
      payer: string;
      payee: string;
      reason: string;
      amountFen: number;
      centreFen: number;
      valueDay: string;
      reference: string | null;
      detail: string;
    }>;
    const control = transfers.at(-1)!;
    const body = transfers.slice(0, -1);
    expect(control).toMatchObject({ row: 'control', reason: 'control-total', detail: String(body.length), reference: closed.digest, valueDay: '2026-03-11' });
    expect(control.amountFen).toBe(body.reduce((n, t) => n + t.amountFen, 0));
    expect(control.centreFen).toBe(body.reduce((n, t) => n + t.centreFen, 0));
    // The bank (or organisation) that took the load remits it; the operators are paid 8 yuan in all.
    const collections = body.filter((t) => t.reason === 'top-up-collections');
    expect(collections.reduce((n, t) => n + t.centreFen, 0)).toBe(10_000);
    expect(collections.every((t) => t.payee === 'clearing-centre' && t.payer !== 'clearing-centre')).toBe(true);
    const revenue = body.filter((t) => t.reason === 'fare-revenue');
    expect(revenue.every((t) => t.payer === 'clearing-centre' && t.payee.startsWith('company:') && t.centreFen === -t.amountFen)).toBe(true);
    expect(revenue.reduce((n, t) => n + t.amountFen, 0)).toBe(800);
    expect(revenue.find((t) => t.payee === 'company:bj-public-transport')?.amountFen).toBe(100);
    expect(control.centreFen).toBe(10_000 - 800);

    const csv = await h.app.inject({ method: 'GET', url: '/v1/settlement/days/2026-03-10/settlement-file', headers: { ...h.admin, accept: 'text/csv' } });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.headers['content-disposition']).toBe('attachment; filename="settlement-2026-03-10.csv"');
    const lines = csv.body
      .replace(/^\uFEFF/, '')
      .trimEnd()
      .split('\r\n');
    expect(lines[0]).toBe('row,day,value_day,payer,payee,reason,detail,amount_yuan,amount_fen,centre_yuan,centre_fen,reference');
    expect(lines).toHaveLength(transfers.length + 1);
    expect(lines.at(-1)).toBe(
      `control,2026-03-10,2026-03-11,,,control-total,${body.length},${(control.amountFen / 100).toFixed(2)},${control.amountFen},92.00,9200,${closed.digest}`,
    );
    // The same closed day gives the same file.
    const again = await h.app.inject({ method: 'GET', url: '/v1/settlement/days/2026-03-10/settlement-file', headers: { ...h.admin, accept: 'text/csv' } });
    expect(again.body).toBe(csv.body);

    // A second day: 2 yuan on the subway; then the reports.
    expect((await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 200, bj(11, 9))]))).status).toBe(200);
    h.now.ms = bj(12, 5);
    expect((await close('2026-03-11')).statusCode).toBe(201);
    const day = (await h.app.inject({ method: 'GET', url: '/v1/reports/operators?period=2026-03-10', headers: h.admin })).json();
    expect(day).toMatchObject({ period: '2026-03-10', closedDays: ['2026-03-10'], openDays: [], totals: { debits: 3, amountFen: 800 } });
    const month = await h.app.inject({ method: 'GET', url: '/v1/reports/operators?period=2026-03', headers: h.admin });
    const m = month.json();
    expect(m.closedDays).toEqual(['2026-03-10', '2026-03-11']);
    expect(m.openDays).toHaveLength(29);
    expect(m.totals).toEqual({ debits: 4, amountFen: 1_000 });
    expect(m.operators.reduce((n: number, o: { amountFen: number }) => n + o.amountFen, 0)).toBe(1_000);
    for (const o of m.operators) {
      expect(o.days.map((d: { day: string }) => d.day)).toEqual(['2026-03-10', '2026-03-11']);
      expect(o.days.reduce((n: number, d: { amountFen: number }) => n + d.amountFen, 0)).toBe(o.amountFen);
    }
    const bus11 = m.operators.find((o: { companyId: string }) => o.companyId === 'bj-public-transport');
    expect(bus11.days).toEqual([
      { day: '2026-03-10', debits: 1, amountFen: 100 },
      { day: '2026-03-11', debits: 0, amountFen: 0 },
    ]);
    const monthCsv = await h.app.inject({ method: 'GET', url: '/v1/reports/operators?period=2026-03', headers: { ...h.admin, accept: 'text/csv' } });
    const rows = monthCsv.body
      .replace(/^\uFEFF/, '')
      .trimEnd()
      .split('\r\n');
    expect(rows[0]).toBe('row,period,day,company,company_name,debits,amount_yuan,amount_fen');
    expect(rows.at(-1)).toBe('total,2026-03,,,,4,10.00,1000');
    expect(rows.filter((r) => r.startsWith('day,'))).toHaveLength(m.operators.length * 2);
    const bad = await h.app.inject({ method: 'GET', url: '/v1/reports/operators?period=2026-13', headers: h.admin });
    expect(bad.statusCode).toBe(400);
  });
});

describe('day close: property', () => {
  it('each closed day’s totals equal the sum of the cleared records of its business day; the companies add up to them', async () => {
    const h = await startMoneyGateway();
    try {
      const counter = await counterHeaders(h);
      const { cardNo, card } = await issueCard(h);
      await loadCard(h, counter, card, cardNo, 100_000, 'l1');
      const gate = await makeValidator(h, 'gate-p', 7);
      const bus = await makeValidator(h, 'bus-p', 8);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          // Taps across two business days and their cut-offs: minutes after day A's 00:00 Beijing time (0..72 h).
          fc.array(fc.record({ minute: fc.integer({ min: 0, max: 72 * 60 - 1 }), fen: fc.integer({ min: 1, max: 500 }), onBus: fc.boolean() }), {
            maxLength: 6,
          }),
          async (taps) => {
            // Each run its own pair of days, after the previous run's: days close in order.
            const base = bj(20, 0) + run * 4 * 86_400_000;
            run++;
            const dayA = new Date(base + 8 * HOUR).toISOString().slice(0, 10);
            const expected = new Map<string, number>();
            const gateRecords = [];
            const busRecords = [];
            for (const t of [...taps].sort((a, b) => a.minute - b.minute)) {
              const at = base + t.minute * 60_000;
              // 04:00 cut-off: the business day is the Beijing date of (time - 4 h).
              const day = new Date(at + 8 * HOUR - 4 * HOUR).toISOString().slice(0, 10);
              expected.set(day, (expected.get(day) ?? 0) + t.fen);
              if (t.onBus) busRecords.push({ ...tap(bus, card, cardNo, t.fen, at, 'bus'), deviceKind: 'bus' as const, line: 1, place: 0 });
              else gateRecords.push(tap(gate, card, cardNo, t.fen, at));
            }
            h.now.ms = base + 4 * 86_400_000;
            if (gateRecords.length > 0) expect((await sync(h, gate, syncRequest(gate, gateRecords))).status).toBe(200);
            if (busRecords.length > 0) expect((await sync(h, bus, syncRequest(bus, busRecords))).status).toBe(200);
            // Close day A - 1 through day A + 2 (the previous run closed up to this run's day A - 2).
            const closedTotals = new Map<string, number>();
            for (let i = -1; i <= 2; i++) {
              const day = new Date(Date.parse(`${dayA}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10);
              const res = await h.app.inject({ method: 'POST', url: `/v1/settlement/days/${day}/close`, headers: h.admin });
              expect(res.statusCode, res.body).toBe(201);
              const s = res.json().summary;
              // (The first close takes the load of 10 March in as an adjustment: postings only, no debits.)
              expect(s.adjustments.every((a: { debits: number }) => a.debits === 0)).toBe(true);
              expect(Object.values(s.reconciliation).every((v) => v === 0)).toBe(true);
              expect(s.companies.reduce((n: number, c: { amountFen: number }) => n + c.amountFen, 0)).toBe(s.cleared.amountFen);
              closedTotals.set(day, s.cleared.amountFen);
            }
            for (const [d, fen] of expected) expect(closedTotals.get(d), d).toBe(fen);
            for (const [d, fen] of closedTotals) expect(fen, d).toBe(expected.get(d) ?? 0);
          },
        ),
        { numRuns: 8, endOnFailure: true },
      );
    } finally {
      await closeCheckingBooks(h);
    }
  });
});
