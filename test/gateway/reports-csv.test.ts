/**
 * GET /v1/reports/clearing and /v1/reports/teller as CSV (`Accept: text/csv`) on a gateway with
 * genuine loads, voids and synced taps: the CSV says what the JSON says, the download headers,
 * content negotiation by q-values, and errors (400/401/403) stay problem+json, the same as for JSON.
 */
import { describe, expect, it } from 'vitest';
import { formatYuan } from '#core';
import { csvObjects, parseRfc4180 } from './support/rfc4180.ts';
import {
  appSessionHeaders,
  counterHeaders,
  initLoad,
  issueCard,
  loadCard,
  makeValidator,
  START_MS,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
  moneyGatewayForEachTest,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

const DAY = '2026-03-10';
const CSV = { accept: 'text/csv' };

function get(url: string, headers: Record<string, string>) {
  return h.app.inject({ method: 'GET', url, headers });
}

/** The CSV body as objects keyed by header, after checking the BOM and the strict RFC 4180 shape. */
function csvRows(raw: Buffer): Array<Record<string, string>> {
  expect([...raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  return csvObjects(parseRfc4180(raw.subarray(3).toString('utf8')));
}

const int = (cell: string): number => {
  expect(cell).toMatch(/^-?[0-9]+$/);
  return Number(cell);
};

/** Two cards loaded in cash at branch-01, one load voided, one at branch-02; subway and bus taps; one forged tap quarantined. */
async function cityDay(): Promise<{ voidedCardNo: string }> {
  const a = await issueCard(h);
  const b = await issueCard(h);
  await loadCard(h, counter, a.card, a.cardNo, 5_000, 'csv-load-a');
  await loadCard(h, counter, b.card, b.cardNo, 3_000, 'csv-load-b');
  const voided = await issueCard(h);
  const pending = await h.app.inject({
    method: 'POST',
    url: '/v1/loads',
    headers: { ...counter, 'idempotency-key': 'csv-void' },
    payload: initLoad(voided.card, voided.cardNo, 2_000),
  });
  expect(pending.statusCode, pending.body).toBe(201);
  h.now.ms += 60_000;
  const voidRes = await h.app.inject({ method: 'POST', url: `/v1/loads/${pending.json().id}/void`, headers: counter });
  expect(voidRes.json()).toMatchObject({ status: 'voided' });
  const other = await counterHeaders(h, 'branch-02');
  await loadCard(h, other, b.card, b.cardNo, 1_000, 'csv-load-other-branch');

  const gate = await makeValidator(h, 'csv-gate', 1);
  const bus = await makeValidator(h, 'csv-bus', 2);
  const at = (minutes: number): number => START_MS + minutes * 60_000;
  const gateRecords = [tap(gate, a.card, a.cardNo, 300, at(5)), tap(gate, b.card, b.cardNo, 400, at(6)), tap(gate, a.card, a.cardNo, 500, at(7))];
  expect((await sync(h, gate, syncRequest(gate, gateRecords))).status).toBe(200);
  const busRecords = [tap(bus, a.card, a.cardNo, 100, at(8), 'bus'), tap(bus, b.card, b.cardNo, 100, at(9), 'bus')];
  expect((await sync(h, bus, syncRequest(bus, busRecords))).status).toBe(200);
  const forged = { ...tap(gate, b.card, b.cardNo, 300, at(10)), amountFen: 30 };
  const refused = await sync(h, gate, syncRequest(gate, [forged]));
  expect(refused.response?.quarantined).toEqual([forged.deviceSeq]);
  return { voidedCardNo: voided.cardNo };
}

describe('GET /v1/reports/clearing as CSV', () => {
  it('gives the same counts and totals as the JSON, with yuan and fen, as a download', async () => {
    await cityDay();
    const json = await get(`/v1/reports/clearing?day=${DAY}`, h.admin);
    expect(json.statusCode).toBe(200);
    const report = json.json();
    expect(report.totals).toEqual({ debits: 5, amountFen: 1_400, quarantined: 1 });

    const res = await get(`/v1/reports/clearing?day=${DAY}`, { ...h.admin, ...CSV });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="clearing-${DAY}.csv"`);
    expect(res.headers.vary).toMatch(/accept/i);
    const rows = csvRows(res.rawPayload);
    // Columns are only ever appended: the first nine stay where clients read them.
    expect(Object.keys(rows[0])).toEqual([
      'row',
      'day',
      'operator',
      'debits',
      'amount_yuan',
      'amount_fen',
      'quarantined',
      'company',
      'company_name',
      'lost_cards',
      'late_taps_yuan',
      'late_taps_fen',
      'forfeited_held_yuan',
      'forfeited_held_fen',
    ]);

    const operatorRows = rows.filter((r) => r.row === 'operator');
    expect(operatorRows.map((r) => r.operator)).toEqual(report.operators.map((o: { operator: string }) => o.operator));
    for (const [k, o] of report.operators.entries()) {
      const r = operatorRows[k];
      expect(r.day).toBe(DAY);
      expect({ debits: int(r.debits), amountFen: int(r.amount_fen), quarantined: int(r.quarantined) }).toEqual({
        debits: o.debits,
        amountFen: o.amountFen,
        quarantined: o.quarantined,
      });
      expect(r.amount_yuan).toBe(formatYuan(o.amountFen));
    }
    expect(operatorRows.find((r) => r.operator === 'subway')).toMatchObject({ debits: '3', amount_yuan: '12.00', amount_fen: '1200', quarantined: '1' });
    expect(operatorRows.find((r) => r.operator === 'bus')).toMatchObject({ debits: '2', amount_yuan: '2.00', amount_fen: '200' });

    const totals = rows.filter((r) => r.row === 'total');
    expect(totals).toHaveLength(1);
    expect(totals[0]).toEqual({
      row: 'total',
      day: DAY,
      operator: '',
      debits: '5',
      amount_yuan: '14.00',
      amount_fen: '1400',
      quarantined: '1',
      company: '',
      company_name: '',
      lost_cards: '',
      late_taps_yuan: '',
      late_taps_fen: '',
      forfeited_held_yuan: '',
      forfeited_held_fen: '',
    });
    expect(int(totals[0].amount_fen)).toBe(operatorRows.reduce((sum, r) => sum + int(r.amount_fen), 0));
    // The operator-company dimension after the total: the same debits by company and service,
    // adding up to the same total, as the JSON's companies say. The fixture's gate stands at
    // station code 1 (苹果园, 1号线: 北京地铁运营公司) with no entry station; bus line 1 is 北京公交集团's.
    const companyRows = rows.slice(rows.indexOf(totals[0]) + 1).filter((r) => r.row !== 'lost-card-balances');
    expect(rows.at(-1)?.row).toBe('lost-card-balances');
    expect(companyRows.every((r) => r.row === 'company' && r.quarantined === '')).toBe(true);
    expect(companyRows.map((r) => [r.company, r.company_name, r.operator, r.debits, r.amount_fen])).toEqual([
      ['bj-public-transport', '北京公交集团', 'bus', '2', '200'],
      ['bj-subway', '北京地铁运营公司', 'subway', '3', '1200'],
    ]);
    expect(companyRows.reduce((sum, r) => sum + int(r.amount_fen), 0)).toBe(report.totals.amountFen);
    expect(report.companies.map((c: { companyId: string; amountFen: number }) => [c.companyId, c.amountFen])).toEqual([
      ['bj-public-transport', 200],
      ['bj-subway', 1_200],
    ]);
    expect(report.split).toEqual({ model: 'shortest-path', exitsWithoutEntry: 3 });
  });

  it('a day without records is a header, five zero operators, a zero total and a zero lost-card-balances record', async () => {
    const res = await get('/v1/reports/clearing?day=2026-03-11', { ...h.admin, ...CSV });
    const rows = csvRows(res.rawPayload);
    expect(rows).toHaveLength(7);
    for (const r of rows.slice(0, 6)) expect(r).toMatchObject({ debits: '0', amount_yuan: '0.00', amount_fen: '0', quarantined: '0' });
    expect(rows[6]).toMatchObject({ row: 'lost-card-balances', debits: '', amount_fen: '0', lost_cards: '0', late_taps_fen: '0', forfeited_held_fen: '0' });
  });
});

describe('GET /v1/reports/teller as CSV', () => {
  it("a counter's CSV gives the same sources, totals and voids as its JSON", async () => {
    const { voidedCardNo } = await cityDay();
    const report = (await get(`/v1/reports/teller?day=${DAY}`, counter)).json();
    expect(report.branch).toBe('branch-01');
    expect(report.totals).toMatchObject({ loads: 3, loadedFen: 10_000, voids: 1, voidedFen: 2_000, netFen: 8_000 });

    const res = await get(`/v1/reports/teller?day=${DAY}`, { ...counter, ...CSV });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="teller-${DAY}-branch-01.csv"`);
    const rows = csvRows(res.rawPayload);
    for (const r of rows) expect(r).toMatchObject({ day: DAY, branch: 'branch-01' });

    const sources = rows.filter((r) => r.row === 'source');
    expect(sources.map((r) => r.payment_source)).toEqual(report.sources.map((s: { paymentSource: string }) => s.paymentSource));
    for (const [k, s] of report.sources.entries()) {
      const r = sources[k];
      expect({
        loads: int(r.loads),
        loadedFen: int(r.loaded_fen),
        voids: int(r.voids),
        voidedFen: int(r.voided_fen),
        netFen: int(r.net_fen),
      }).toEqual({ loads: s.loads, loadedFen: s.loadedFen, voids: s.voids, voidedFen: s.voidedFen, netFen: s.netFen });
      expect([r.loaded_yuan, r.voided_yuan, r.net_yuan]).toEqual([formatYuan(s.loadedFen), formatYuan(s.voidedFen), formatYuan(s.netFen)]);
      expect([r.pending, r.load_id, r.card_no, r.voided_at]).toEqual(['', '', '', '']);
    }

    const [total] = rows.filter((r) => r.row === 'total');
    expect({
      loads: int(total.loads),
      loadedFen: int(total.loaded_fen),
      voids: int(total.voids),
      voidedFen: int(total.voided_fen),
      netFen: int(total.net_fen),
      pending: int(total.pending),
    }).toEqual(report.totals);
    expect(total).toMatchObject({ loaded_yuan: '100.00', voided_yuan: '20.00', net_yuan: '80.00', payment_source: '' });

    const voids = rows.filter((r) => r.row === 'void');
    expect(voids).toHaveLength(report.voids.length);
    expect(voids[0]).toMatchObject({
      payment_source: 'cash',
      voids: '1',
      voided_yuan: '20.00',
      voided_fen: '2000',
      load_id: report.voids[0].loadId,
      card_no: voidedCardNo,
      resolution: 'teller-void',
      voided_ms: String(report.voids[0].voidedMs),
      loads: '',
      net_fen: '',
    });
    expect(Date.parse(voids[0].voided_at)).toBe(report.voids[0].voidedMs);
    expect(voids[0].voided_at).toMatch(/^2026-03-10T10:01:00\.000\+08:00$/);
    expect(rows.map((r) => r.row)).toEqual([...sources.map(() => 'source'), 'total', 'void']);
  });

  it("an operator's report of every branch has an empty branch column and a plain file name", async () => {
    await cityDay();
    const json = (await get(`/v1/reports/teller?day=${DAY}`, h.admin)).json();
    const res = await get(`/v1/reports/teller?day=${DAY}`, { ...h.admin, ...CSV });
    expect(res.headers['content-disposition']).toBe(`attachment; filename="teller-${DAY}.csv"`);
    const [total] = csvRows(res.rawPayload).filter((r) => r.row === 'total');
    expect(total).toMatchObject({ branch: '', loads: String(json.totals.loads), loaded_fen: '11000', loaded_yuan: '110.00' });
  });
});

describe('content negotiation', () => {
  it.each([
    ['text/csv', 'csv'],
    ['text/csv; charset=utf-8', 'csv'],
    ['text/csv; charset=UTF-8', 'csv'],
    ['text/csv; charset=iso-8859-1', 'json'],
    ['text/*', 'csv'],
    ['text/csv, application/json', 'csv'],
    ['application/json;q=0.5, text/csv', 'csv'],
    ['text/csv;q=0.9, application/json;q=0.8', 'csv'],
    ['text/html, text/csv;q=0.2, */*;q=0.1', 'csv'],
    ['application/json', 'json'],
    ['application/json, text/csv', 'json'],
    ['text/csv;q=0.5, application/json', 'json'],
    ['text/csv;q=0, */*', 'json'],
    ['*/*', 'json'],
    ['text/html', 'json'],
    [undefined, 'json'],
  ])('Accept %s answers %s', async (accept, expected) => {
    const headers = accept === undefined ? h.admin : { ...h.admin, accept };
    for (const url of [`/v1/reports/clearing?day=${DAY}`, `/v1/reports/teller?day=${DAY}`]) {
      const res = await get(url, headers);
      expect(res.statusCode).toBe(200);
      expect(res.headers.vary).toMatch(/accept/i);
      if (expected === 'csv') {
        expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
        expect(res.headers['content-disposition']).toMatch(/^attachment; filename="(clearing|teller)-2026-03-10\.csv"$/);
      } else {
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(res.headers['content-disposition']).toBeUndefined();
        expect(res.json().day).toBe(DAY);
      }
    }
  });
});

describe('errors are problems whatever the Accept header', () => {
  it('401, 403 and 400 answer the same status and code for CSV as for JSON, as application/problem+json', async () => {
    const { cardNo } = await issueCard(h);
    const app = await appSessionHeaders(h, cardNo);
    const device = await makeValidator(h, 'csv-err-gate', 9);
    const cases: Array<[string, Record<string, string>, number, string]> = [
      [`/v1/reports/clearing?day=${DAY}`, {}, 401, 'unauthenticated'],
      [`/v1/reports/teller?day=${DAY}`, {}, 401, 'unauthenticated'],
      [`/v1/reports/clearing?day=${DAY}`, { authorization: 'Bearer not-a-token' }, 401, 'unauthenticated'],
      [`/v1/reports/clearing?day=${DAY}`, counter, 403, 'forbidden'],
      [`/v1/reports/clearing?day=${DAY}`, app, 403, 'forbidden'],
      [`/v1/reports/teller?day=${DAY}`, app, 403, 'forbidden'],
      [`/v1/reports/teller?day=${DAY}`, device.headers, 403, 'forbidden'],
      [`/v1/reports/teller?day=${DAY}&branch=branch-02`, counter, 403, 'forbidden'],
      ['/v1/reports/clearing?day=10-03-2026', h.admin, 400, 'invalid-request'],
      ['/v1/reports/clearing?day=2026-02-30', h.admin, 400, 'invalid-request'],
      ['/v1/reports/clearing', h.admin, 400, 'invalid-request'],
      [`/v1/reports/teller?day=${DAY}&format=csv`, counter, 400, 'invalid-request'],
      ['/v1/reports/teller?day=2026-13-01', counter, 400, 'invalid-request'],
    ];
    for (const [url, headers, status, code] of cases) {
      const asJson = await get(url, headers);
      for (const accept of ['text/csv', 'text/csv, application/json;q=0.1', 'application/json']) {
        const res = await get(url, { ...headers, accept });
        expect([url, res.statusCode], res.body).toEqual([url, status]);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['content-disposition']).toBeUndefined();
        expect(res.json()).toMatchObject({ status, code });
        expect(res.json()).toEqual(asJson.json());
      }
    }
  });
});

describe('OpenAPI', () => {
  it('declares both representations of the 200 answer of each report', async () => {
    const doc = (await get('/openapi.json', {})).json();
    for (const path of ['/v1/reports/clearing', '/v1/reports/teller']) {
      const ok = doc.paths[path].get.responses['200'];
      expect(Object.keys(ok.content).sort()).toEqual(['application/json', 'text/csv']);
      expect(ok.content['application/json'].schema.type).toBe('object');
      expect(ok.content['text/csv'].schema.type).toBe('string');
      expect(ok.content['text/csv'].example).toMatch(/^row,day,/);
      expect(ok.headers['content-disposition']).toBeDefined();
    }
  });
});
