/**
 * Card fields on issue and replacement (issue 17): an impossible date is a 400 problem naming
 * the field, never a 500.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
      const res = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: ADMIN_TOKEN, body: { expiryDate } });
      expect({ expiryDate, status: res.statusCode }).toEqual({ expiryDate, status: 400 });
      expect(res.json()).toMatchObject({ code: 'invalid-date', field: 'expiryDate' });
    }
    const card = await h.request('GET', `/v1/cards/${cardNo}`, { token: ADMIN_TOKEN });
    expect(card.json()).toMatchObject({ status: 'formal-loss', replacedBy: null });
    const ok = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: ADMIN_TOKEN, body: { expiryDate: 20361231 } });
    expect(ok.statusCode).toBe(201);
  });
});
