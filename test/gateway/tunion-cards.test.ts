/**
 * T-Union numbers at the gateway (issue 18): a home card with a 19-digit number is issued,
 * topped up, tapped and synced like a legacy one; another city's card is refused top-up, refund,
 * loss report, unblock and exchange with 409 card-of-other-issuer naming its issuer.
 */
import { describe, expect, it } from 'vitest';
import { CardSimulator, DEFAULT_ISSUER_REGISTRY, makeTUnionCardNo } from '#core';
import { makeForeignIssuer, seededRandom } from '../purse/fixtures.ts';
import {
  REFUND_DESTINATION,
  type MoneyHarness,
  initLoad,
  issueCard,
  loadCard,
  makeValidator,
  moneyGatewayForEachTest,
  shadowBalance,
  START_MS,
  sync,
  syncRequest,
  tap,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

const shanghai = DEFAULT_ISSUER_REGISTRY.byName('shanghai')!;

describe('19-digit T-Union numbers at the gateway', () => {
  it('a home T-Union card (31051700…) is issued, loaded, tapped and synced; its journal keeps the 19 digits', async () => {
    const homeNo = makeTUnionCardNo('31051700', 10_170_907_984);
    const { cardNo, card } = await issueCard(h, '3des', { cardNo: homeNo });
    expect(cardNo).toBe(homeNo);
    expect(card.image()).toMatchObject({ cardNo: homeNo, issuerId: '01011000FFFFFFFF' });
    await loadCard(h, counter, card, cardNo, 5_000, 'tunion-load');
    const gate = await makeValidator(h, 'gate-tu', 7);
    const synced = await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 300, START_MS + 60_000)]));
    expect(synced.response).toMatchObject({ acknowledged: [1], quarantined: [] });
    expect(await shadowBalance(h, cardNo)).toBe(4_700);
    const view = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}`, headers: h.admin });
    expect(view.statusCode).toBe(200);
    expect(view.json().cardNo).toBe(homeNo);
    const stored = await h.store.transaction(async (tx) => tx.get<{ card_no: string }>('SELECT card_no FROM journal_records WHERE device_id = ?', ['gate-tu']));
    expect(stored?.card_no).toBe(homeNo);
  });
  it('another issuer’s 19-digit number is not ours to issue', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/cards',
      headers: h.admin,
      payload: { holderName: 'Test Rider', socialSecurityNo: '11010119900307123X', profile: 'adult', cardNo: makeTUnionCardNo(shanghai.productPrefix, 1) },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'card-number-out-of-range' });
  });
  it('a legacy 16-digit card keeps working', async () => {
    const { cardNo, card } = await issueCard(h);
    expect(cardNo).toMatch(/^[0-9]{16}$/);
    await loadCard(h, counter, card, cardNo, 1_000, 'legacy-load');
    expect(await shadowBalance(h, cardNo)).toBe(1_000);
  });
});

describe('another city’s card at a Beijing counter', () => {
  const cardNo = makeTUnionCardNo(shanghai.productPrefix, 4_242);
  const shanghaiCard = () =>
    new CardSimulator(
      makeForeignIssuer(shanghai.issuerId).personalizeCard({
        cardNo,
        issuerCode: shanghai.cityCode,
        generation: 3,
        profile: 'adult',
        algorithm: '3des',
        expiryDate: 20401231,
        overdraftLimitFen: 0,
        transitOpened: true,
        suburbanOpened: false,
      }),
      seededRandom(99),
    );

  it('top-up, refund, loss report, unblock and exchange are refused with a problem naming the issuer, and nothing changes', async () => {
    const attempts: Array<[string, string, unknown, Record<string, string>]> = [
      ['POST', '/v1/loads', initLoad(shanghaiCard(), cardNo, 5_000), { ...counter, 'idempotency-key': 'sh-load' }],
      ['POST', `/v1/cards/${cardNo}/refunds`, REFUND_DESTINATION, { ...counter, 'idempotency-key': 'sh-refund' }],
      ['POST', `/v1/cards/${cardNo}/loss-reports`, { kind: 'temporary' }, counter],
      ['POST', `/v1/cards/${cardNo}/unblock`, { challenge: '9F3A12C4' }, counter],
      [
        'POST',
        `/v1/cards/${cardNo}/exchange`,
        { reason: 'broken', collection: 'branch', ...REFUND_DESTINATION },
        { ...counter, 'idempotency-key': 'sh-exchange' },
      ],
    ];
    for (const [method, url, payload, headers] of attempts) {
      const res = await h.app.inject({ method: method as 'POST', url, headers, payload: payload as object });
      expect(res.statusCode, url).toBe(409);
      const problem = res.json();
      expect(problem, url).toMatchObject({ code: 'card-of-other-issuer', issuer: { name: 'shanghai', issuerId: shanghai.issuerId, cityCode: '2900' } });
      expect(problem.detail, url).toContain('上海');
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect(await h.store.transaction(async (tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM loads'))).toMatchObject({ n: 0 });
    const listed = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}/loss-reports/current`, headers: counter });
    expect(listed.statusCode).not.toBe(200);
  });
  it('a T-Union number of no known issuer is refused the same way (issuer unknown)', async () => {
    const unknown = makeTUnionCardNo('31999999', 1);
    const res = await h.app.inject({ method: 'POST', url: `/v1/cards/${unknown}/loss-reports`, headers: counter, payload: { kind: 'temporary' } });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'card-of-other-issuer', issuer: { name: null, productPrefix: '31999999' } });
  });
  it('unauthenticated callers still get 401 first', async () => {
    const res = await h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/loss-reports`, payload: { kind: 'temporary' } });
    expect(res.statusCode).toBe(401);
  });
});
