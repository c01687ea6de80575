import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CardSimulator, PARK_PASS_YEARS, type ParkPassYear, parkPassOnSale, parseCardImage, SW, validateParkPassYears, type CardRecordKind } from '#core';
import { passSlotFor, parkPassYearOnSale } from '#gateway/services/park-passes';
import { makeHarness, type Harness } from './support/harness.ts';

let h: Harness;
let counter: string;
beforeEach(async () => {
  h = await makeHarness();
  counter = await h.counterToken();
});
afterEach(async () => {
  await h.close();
});

const beijing = (y: number, m: number, d: number, hh = 12) => Date.UTC(y, m - 1, d, hh - 8, 0, 0);

function sell(cardNo: string, key: string, body: Record<string, unknown>, token = counter) {
  return h.request('POST', `/v1/cards/${cardNo}/park-passes`, { token, body, headers: { 'idempotency-key': key } });
}

describe('sale window (15 Dec - 15 Jan, Beijing time)', () => {
  it('knows the pass year on sale', () => {
    expect(parkPassYearOnSale(beijing(2025, 12, 15, 0))).toBe(2026);
    expect(parkPassYearOnSale(beijing(2025, 12, 14, 23))).toBeNull();
    expect(parkPassYearOnSale(beijing(2026, 1, 15, 23))).toBe(2026);
    expect(parkPassYearOnSale(beijing(2026, 1, 16, 0))).toBeNull();
    expect(parkPassYearOnSale(beijing(2026, 6, 1))).toBeNull();
    // 15 Dec 00:30 Beijing is still 14 Dec in UTC: the window follows Beijing time.
    expect(parkPassYearOnSale(Date.UTC(2025, 11, 14, 16, 30))).toBe(2026);
  });

  it('outside the window: 409 outside-sale-window and nothing sold', async () => {
    h.clock.nowMs = beijing(2026, 3, 1);
    const { cardNo } = await h.issueCard();
    const res = await sell(cardNo, 'k1', { challenge: '01020304' });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('outside-sale-window');
    // The reason names the next window, from the yearly data.
    expect(res.json().detail).toBe('park passes are not on sale on 2026-03-01 (Beijing time): the 2027 pass is sold from 2026-12-15 to 2027-01-15');
    expect((await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM park_pass_sales')))!.n).toBe(0);
  });

  it('a year with no data is not on sale: refused with the last window', async () => {
    h.clock.nowMs = beijing(2027, 12, 20);
    const { cardNo } = await h.issueCard();
    const res = await sell(cardNo, 'k1', { challenge: '01020304' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({
      code: 'outside-sale-window',
      detail: 'park passes are not on sale on 2027-12-20 (Beijing time): the 2027 pass was sold until 2027-01-15 and no later year is configured',
    });
  });
});

describe('park pass years as data', () => {
  it('ships 2026 and 2027: window 15 Dec - 15 Jan, the 11 municipal parks, anyone may buy, two year-round sale points, each with its source', () => {
    expect(PARK_PASS_YEARS.map((y) => [y.year, y.saleFrom, y.saleUntil, y.parkIds.length, y.eligibility])).toEqual([
      [2026, 20251215, 20260115, 11, 'anyone'],
      [2027, 20261215, 20270115, 11, 'anyone'],
    ]);
    for (const y of PARK_PASS_YEARS) {
      expect(y.yearRoundSalePoints).toEqual(['玉渊潭公园东门', '中山公园']);
      expect(y.source).toMatch(/ameil\.net/);
    }
    expect(() => validateParkPassYears(PARK_PASS_YEARS)).not.toThrow();
  });

  const year = (y: number, saleFrom: number, saleUntil: number, extra: Partial<ParkPassYear> = {}): ParkPassYear => ({
    year: y,
    saleFrom,
    saleUntil,
    yearRoundSalePoints: ['中山公园'],
    parkIds: [1, 2],
    eligibility: 'anyone',
    provisional: false,
    source: 'test notice',
    ...extra,
  });

  it('each year its own window: a later year sold on other dates follows its data', () => {
    const years = [year(2027, 20261215, 20270115), year(2028, 20271201, 20280131, { parkIds: [1, 2, 3] })];
    expect(parkPassOnSale(years, beijing(2027, 12, 1, 0))).toMatchObject({ ok: true, year: { year: 2028, parkIds: [1, 2, 3] } });
    expect(parkPassOnSale(years, beijing(2028, 1, 31, 23))).toMatchObject({ ok: true, year: { year: 2028 } });
    expect(parkPassOnSale(years, beijing(2028, 2, 1, 0))).toMatchObject({ ok: false });
    // Under the default data the same dates are outside the window.
    expect(parkPassYearOnSale(beijing(2027, 12, 1))).toBeNull();
    expect(parkPassYearOnSale(beijing(2027, 12, 1), years)).toBe(2028);
  });

  it("a year-round sale point sells this calendar year's pass outside the window; other points do not", () => {
    const years = [year(2027, 20261215, 20270115)];
    expect(parkPassOnSale(years, beijing(2027, 6, 1), '中山公园')).toMatchObject({ ok: true, year: { year: 2027 } });
    expect(parkPassOnSale(years, beijing(2027, 6, 1), '颐和园')).toMatchObject({ ok: false });
    expect(parkPassOnSale(years, beijing(2027, 6, 1))).toMatchObject({ ok: false });
  });

  it('bad yearly data is refused', () => {
    expect(() => validateParkPassYears([year(2027, 20270115, 20261215)])).toThrow(/sale from 20270115 is after/);
    expect(() => validateParkPassYears([year(2027, 20261215, 20270115), year(2027, 20261215, 20270115)])).toThrow(/listed twice/);
    expect(() => validateParkPassYears([year(2027, 20261215, 20280201)])).toThrow(/expired/);
    expect(() => validateParkPassYears([year(2027, 20261215, 20270115, { source: '' })])).toThrow(/source/);
  });
});

describe('park pass sale', () => {
  it('sells once per key, posts 100 yuan to the ledger, and the card accepts the authorised write', async () => {
    const { cardNo, cardImage } = await h.issueCard();
    const card = new CardSimulator(parseCardImage(Uint8Array.from(Buffer.from(cardImage, 'hex'))), () => Uint8Array.of(9, 8, 7, 6));
    const challenge = Buffer.from(card.getChallenge().data).toString('hex');
    const res = await sell(cardNo, 'sale-1', { challenge, paymentSource: 'cash' });
    expect(res.statusCode).toBe(201);
    const sale = res.json();
    expect(sale).toMatchObject({ cardNo, passYear: 2026, price: '100.00', validFrom: 20260101, validUntil: 20270131, paymentSource: 'cash' });
    const w = sale.write as { kind: CardRecordKind; record: string; mac: string };
    expect(card.updateRecord(w.kind, Buffer.from(w.record, 'hex'), Buffer.from(w.mac, 'hex')).sw).toBe(SW.success);
    expect(card.image().parkPasses[1]).toMatchObject({ year: 2026, visits: 0 });

    // Same key: the first sale, a fresh MAC for the new challenge; no second posting.
    const retry = await sell(cardNo, 'sale-1', { challenge: 'A1A2A3A4', paymentSource: 'cash' });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().saleId).toBe(sale.saleId);
    expect(retry.json().write.mac).not.toBe(sale.write.mac);
    const ledger = await h.store.transaction((tx) =>
      tx.all<{ account: string; total: number }>('SELECT account, SUM(amount_fen) AS total FROM ledger_entries GROUP BY account ORDER BY account'),
    );
    expect(ledger).toEqual([
      { account: 'payment:cash', total: 10_000 },
      { account: 'revenue:park-pass', total: -10_000 },
    ]);
    // Same key, different sale: 409; another key for the same year: 409.
    expect((await sell(cardNo, 'sale-1', { challenge, paymentSource: 'bank-account' })).json().code).toBe('idempotency-key-reused');
    expect((await sell(cardNo, 'sale-2', { challenge })).json().code).toBe('park-pass-already-sold');
  });

  it('the app pays through the app and may only buy for its own card', async () => {
    const mine = await h.issueCard();
    const other = await h.issueCard();
    const app = await h.appSession(mine.cardNo);
    const res = await sell(mine.cardNo, 'app-1', { challenge: '01020304', paymentSource: 'cash' }, app);
    expect(res.statusCode).toBe(201);
    expect(res.json().paymentSource).toBe('app');
    expect((await sell(other.cardNo, 'app-2', { challenge: '01020304' }, app)).statusCode).toBe(404);
  });

  it('needs an Idempotency-Key and a 4-byte challenge', async () => {
    const { cardNo } = await h.issueCard();
    const noKey = await h.request('POST', `/v1/cards/${cardNo}/park-passes`, { token: await h.counterToken(), body: { challenge: '01020304' } });
    expect(noKey.statusCode).toBe(400);
    expect((await sell(cardNo, 'k', { challenge: 'zz020304' })).statusCode).toBe(400);
    expect((await sell(cardNo, 'x'.repeat(129), { challenge: '01020304' })).statusCode).toBe(400);
  });

  it('a December sale does not overwrite a pass still valid in January', () => {
    expect(passSlotFor([0, 0], 2026)).toBe('park-pass-current');
    expect(passSlotFor([0, 2025], 2026)).toBe('park-pass-previous');
    expect(passSlotFor([2026, 2025], 2027)).toBe('park-pass-current');
    expect(passSlotFor([2026, 2025], 2026)).toBe('park-pass-previous');
  });

  it('refused for a card that is not active', async () => {
    const { cardNo } = await h.issueCard();
    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } });
    expect((await sell(cardNo, 'k', { challenge: '01020304' })).json().code).toBe('card-not-active');
  });
});
