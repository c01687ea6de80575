/**
 * Review of the teller void (services/loads.ts, routes/loads.ts; files of another helper, not
 * edited here). A void returns the payment but cannot take back the MAC2 already handed out: the
 * card can still be credited with it. The card's own proof of that credit (its TAC, or the online
 * ATC of its next load) must then reinstate the load, else the cardholder keeps money that was
 * returned to the payer: created from nothing, and the shadow balance no longer matches the card.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  assertBooksBalance,
  counterHeaders,
  creditLoad,
  initLoad,
  issueCard,
  loadCard,
  shadowBalance,
  type MoneyHarness,
  startMoneyGateway,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;

beforeEach(async () => {
  h = await startMoneyGateway();
  counter = await counterHeaders(h);
});
afterEach(async () => {
  await assertBooksBalance(h);
  await h.close();
});

describe('review: teller void of a load whose MAC2 was already issued', () => {
  it('a counter voids only loads of its own branch', async () => {
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 3_000);
    const auth = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'v0' }, payload: body });
    const other = await counterHeaders(h, 'branch-99');
    const res = await h.app.inject({ method: 'POST', url: `/v1/loads/${auth.json().id}/void`, headers: other });
    expect(res.statusCode).toBe(403);
  });

  // REVIEW BUG: services/loads.ts confirmLoad (line ~262: `if (load.status !== 'pending') return
  // load-not-pending`) and decide()/resolvePendingLoads (only 'pending' rows) ignore card proof of
  // a credit for a VOIDED load. Proposed fix: a TAC that verifies for a voided load (or next-load /
  // card-log evidence past its online ATC) reinstates it: status 'confirmed', resolution
  // 'void-reversed', shadow += amount, posting load-void-reversed (payment:<source> +A /
  // liability:card-purse -A, i.e. the returned payment is owed back: a receivable from the payer),
  // plus an anomaly for the branch. Better still, allow a teller void only with card-log evidence.
  it.skip('a void followed by the card being credited with the old MAC2: the TAC reinstates the load', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const body = initLoad(card, cardNo, 3_000);
    const auth = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'l2' }, payload: body });
    expect(auth.statusCode).toBe(201);
    const voided = await h.app.inject({ method: 'POST', url: `/v1/loads/${auth.json().id}/void`, headers: counter });
    expect(voided.json().status).toBe('voided');
    // The MAC2 still works on the card.
    const tac = creditLoad(card, auth.json());
    expect(card.image().balanceFen).toBe(8_000);
    const confirm = await h.app.inject({ method: 'POST', url: `/v1/loads/${auth.json().id}/confirm`, headers: counter, payload: { tac } });
    expect(confirm.statusCode).toBe(200);
    expect(await shadowBalance(h, cardNo)).toBe(card.image().balanceFen - card.image().overdraftUsedFen);
  });
});
