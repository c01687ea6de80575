/**
 * Review of broken-card refunds against DOMAIN.md section 5 and the money rules: no money is
 * stranded (a cancelled card's balance, a pending load decided after the payout) and nothing is
 * paid that may not be on the card.
 */
import { describe, expect, it } from 'vitest';
import {
  creditLoad,
  initLoad,
  issueCard,
  loadCard,
  shadowBalance,
  type MoneyHarness,
  moneyGatewayForEachTest,
  ledgerBalance,
  requestCardRefund,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

const balanceOf = (account: string): Promise<number> => ledgerBalance(h, account);
const requestRefund = (cardNo: string) => requestCardRefund(h, counter, cardNo);

async function runJobs() {
  const res = await h.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h.admin });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe('review: refunds', () => {
  it("a cancelled card's purse balance is refunded (the card is handed in, not lost), never stranded", async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 3_000, 'l1');
    const cancel = await h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/cancellation`, headers: counter });
    expect(cancel.statusCode).toBe(200);
    const res = await requestRefund(cardNo);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ status: 'paid', settledBy: 'watermarks', paidFen: 3_000 });
    expect(await shadowBalance(h, cardNo)).toBe(0);
    expect(await balanceOf('bank:refund-payouts')).toBe(-3_000);
    // Asked again: the same refund, nothing paid twice.
    const again = await requestRefund(cardNo);
    expect(again.statusCode).toBe(200);
    expect(await balanceOf('bank:refund-payouts')).toBe(-3_000);
  });

  it('a load pending at the payout is excluded, and paid to the account once card evidence shows it was credited', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    // A second load reaches the card, but its confirmation never comes.
    const body = initLoad(card, cardNo, 3_000);
    const auth = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'l2' }, payload: body });
    expect(auth.statusCode).toBe(201);
    creditLoad(card, auth.json());
    const refund = await requestRefund(cardNo);
    // Only what is certainly on the card is paid; the pending load is shown apart.
    expect(refund.json()).toMatchObject({ status: 'paid', paidFen: 5_000, pendingLoadsFen: 3_000 });
    // The card's log read at a counter proves the credit: the 30 yuan are the holder's too.
    const evidence = await h.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/log-evidence`,
      headers: counter,
      payload: { onlineAtc: body.onlineAtc + 1, log: [{ atc: body.onlineAtc, amountFen: 3_000, type: 2 }] },
    });
    expect(evidence.json().confirmed).toEqual([auth.json().id]);
    await runJobs();
    const state = (await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.json().id}`, headers: counter })).json();
    expect(state).toMatchObject({ status: 'paid', paidFen: 8_000, pendingLoadsFen: 0 });
    expect(await shadowBalance(h, cardNo)).toBe(0);
    expect(await balanceOf('bank:refund-payouts')).toBe(-8_000);
    // Running the jobs again pays nothing more.
    await runJobs();
    expect(await balanceOf('bank:refund-payouts')).toBe(-8_000);
  });

  it('a load pending at the payout and proven not credited goes back to its payer, nothing more is paid', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const body = initLoad(card, cardNo, 3_000);
    const auth = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'l2' }, payload: body });
    expect(auth.statusCode).toBe(201);
    const refund = await requestRefund(cardNo);
    expect(refund.json()).toMatchObject({ paidFen: 5_000 });
    const evidence = await h.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/log-evidence`,
      headers: counter,
      payload: { onlineAtc: body.onlineAtc, log: [] },
    });
    expect(evidence.json().voided).toEqual([auth.json().id]);
    await runJobs();
    expect(await balanceOf('bank:refund-payouts')).toBe(-5_000);
    expect(await shadowBalance(h, cardNo)).toBe(0);
  });
});
