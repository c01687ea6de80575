/**
 * Card fields on issue and replacement (issue 17): an impossible date is a 400 problem naming
 * the field, never a 500; an explicit card number in the issuer's own ranges must carry its
 * Luhn check digit, others must lie in a configured range; an already-expired card is refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLuhnValid, makeCardNo } from '#core';
import { ADMIN_TOKEN, makeHarness, SSN, type Harness } from './support/harness.ts';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
});
afterEach(async () => {
  await h.close();
});

const holder = { holderName: 'Li Lei', socialSecurityNo: SSN, profile: 'adult' };

async function formallyLostCard(): Promise<string> {
  const { cardNo } = await h.issueCard();
  const lost = await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: ADMIN_TOKEN, body: { kind: 'formal' } });
  expect(lost.statusCode).toBe(201);
  return cardNo;
}

/** Dates the schema's range lets through that no calendar has. */
const IMPOSSIBLE_DATES = [20300230, 20301301, 20300001, 20300100, 20300431, 20310229, 21000229, 20301232];

describe('impossible dates in card fields', () => {
  it('issue: 400 invalid-date naming expiryDate, nothing issued', async () => {
    for (const expiryDate of IMPOSSIBLE_DATES) {
      const res = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, expiryDate } });
      expect({ expiryDate, status: res.statusCode }).toEqual({ expiryDate, status: 400 });
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ code: 'invalid-date', field: 'expiryDate', value: expiryDate });
      expect(res.json().detail).toContain('expiryDate');
    }
    const counted = await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM cards'));
    expect(Number(counted!.n)).toBe(0);
    // A leap day is a date.
    const leap = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, expiryDate: 20320229 } });
    expect(leap.statusCode).toBe(201);
    expect(leap.json().card.expiryDate).toBe(20320229);
  });

  it('replacement: 400 invalid-date naming expiryDate; the old card stays formally lost', async () => {
    const cardNo = await formallyLostCard();
    for (const expiryDate of IMPOSSIBLE_DATES) {
      // A replacement moves money: a counter of the issuing bank does it, never the operator token.
      const res = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: await h.counterToken(), body: { expiryDate } });
      expect({ expiryDate, status: res.statusCode }).toEqual({ expiryDate, status: 400 });
      expect(res.json()).toMatchObject({ code: 'invalid-date', field: 'expiryDate' });
    }
    const card = await h.request('GET', `/v1/cards/${cardNo}`, { token: ADMIN_TOKEN });
    expect(card.json()).toMatchObject({ status: 'formal-loss', replacedBy: null });
    const ok = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: await h.counterToken(), body: { expiryDate: 20361231 } });
    expect(ok.statusCode).toBe(201);
  });
});

/** The same number with its last digit changed: the Luhn check fails. */
function wrongDigit(cardNo: string): string {
  const bad = `${cardNo.slice(0, 15)}${(Number(cardNo[15]) + 3) % 10}`;
  expect(isLuhnValid(bad)).toBe(false);
  return bad;
}

describe('explicit card numbers', () => {
  it("the issuer's own range (cardNoPrefix): a wrong check digit is 400 card-number-check-digit", async () => {
    const good = makeCardNo('1000', 4242);
    const res = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, cardNo: wrongDigit(good) } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'card-number-check-digit', field: 'cardNo' });
    const ok = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, cardNo: good } });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().card.cardNo).toBe(good);
  });

  it('a number in no configured range is 400 card-number-out-of-range, even with a valid check digit', async () => {
    for (const cardNo of ['1234567812345670', '9999999999999995', makeCardNo('1001', 7)]) {
      const res = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, cardNo } });
      expect({ cardNo, status: res.statusCode }).toEqual({ cardNo, status: 400 });
      expect(res.json()).toMatchObject({ code: 'card-number-out-of-range', field: 'cardNo' });
    }
    const counted = await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM cards'));
    expect(Number(counted!.n)).toBe(0);
  });

  it('configured ranges: more own ranges (check digit) and other ranges (format and prefix only)', async () => {
    await h.close();
    h = await makeHarness({ policies: { ownCardNoPrefixes: ['1001'], otherCardNoPrefixes: ['8610'] } });
    const own = makeCardNo('1001', 77);
    expect((await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, cardNo: wrongDigit(own) } })).json().code).toBe(
      'card-number-check-digit',
    );
    expect((await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, cardNo: own } })).statusCode).toBe(201);
    // Another range's numbers carry no Luhn digit: any 16 digits with the prefix.
    for (const cardNo of ['8610123456789010', '8610123456789011']) {
      expect((await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, cardNo } })).statusCode).toBe(201);
    }
    expect((await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, cardNo: '8620123456789010' } })).json().code).toBe(
      'card-number-out-of-range',
    );
    // Generated numbers still come from cardNoPrefix, with their check digit.
    const generated = await h.issueCard();
    expect(generated.cardNo.startsWith('1000')).toBe(true);
    expect(isLuhnValid(generated.cardNo)).toBe(true);
  });
});

describe('an already-expired card is refused', () => {
  // The harness clock: 2025-12-20 10:00 Beijing.
  it('issue: 400 card-already-expired for an expiry before today (Beijing); today is still valid', async () => {
    for (const expiryDate of [20251219, 20240101]) {
      const res = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, expiryDate } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'card-already-expired', field: 'expiryDate', value: expiryDate });
    }
    const today = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, expiryDate: 20251220 } });
    expect(today.statusCode).toBe(201);
  });

  it('Beijing date, not UTC: at 2025-12-20 23:30 UTC it is already the 21st in Beijing', async () => {
    h.clock.nowMs = Date.UTC(2025, 11, 20, 23, 30);
    const res = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { ...holder, expiryDate: 20251220 } });
    expect(res.json().code).toBe('card-already-expired');
  });

  it('replacement: 400 card-already-expired, the old card stays formally lost', async () => {
    const cardNo = await formallyLostCard();
    const res = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: await h.counterToken(), body: { expiryDate: 20250101 } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('card-already-expired');
    expect((await h.request('GET', `/v1/cards/${cardNo}`, { token: ADMIN_TOKEN })).json()).toMatchObject({ status: 'formal-loss', replacedBy: null });
  });
});
