/**
 * Review of the teller void (services/loads.ts, routes/loads.ts). A void returns the payment but cannot take back the MAC2 already handed out: the
 * card can still be credited with it. The card's own proof of that credit (its TAC, or the online
 * ATC of its next load) must then reinstate the load, else the cardholder keeps money that was
 * returned to the payer: created from nothing, and the shadow balance no longer matches the card.
 */
import { describe, expect, it } from 'vitest';
import {
  counterHeaders,
  creditLoad,
  initLoad,
  issueCard,
  loadCard,
  makeValidator,
  shadowBalance,
  START_MS,
  type MoneyHarness,
  sync,
  syncRequest,
  tap,
  moneyGatewayForEachTest,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

describe('review: teller void of a load whose MAC2 was already issued', () => {
  it('a counter voids only loads of its own branch', async () => {
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 3_000);
    const auth = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'v0' }, payload: body });
    const other = await counterHeaders(h, 'branch-99');
    const res = await h.app.inject({ method: 'POST', url: `/v1/loads/${auth.json().id}/void`, headers: other });
    expect(res.statusCode).toBe(403);
  });

  // Fixed: a TAC that verifies for a teller-voided load (or next-load / card-log / purchase
  // evidence past its online ATC) reinstates it: status 'confirmed', resolution 'void-reversed',
  // shadow += amount, posting load-void-reversed (payment:<source> +A / liability:card-purse -A:
  // the payment returned is owed again by the payer), and a 'load-void-reversed' anomaly.
  it('a void followed by the card being credited with the old MAC2: the TAC reinstates the load', async () => {
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

  it('the reinstatement posts once: the void is reversed on the ledger and an anomaly tells the branch to re-charge the payer', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const auth = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'l2' },
      payload: initLoad(card, cardNo, 3_000),
    });
    const id = auth.json().id;
    await h.app.inject({ method: 'POST', url: `/v1/loads/${id}/void`, headers: counter });
    expect(await balanceOf('payment:cash')).toBe(5_000);
    const tac = creditLoad(card, auth.json());
    const confirms = [];
    for (let i = 0; i < 3; i++) confirms.push(await h.app.inject({ method: 'POST', url: `/v1/loads/${id}/confirm`, headers: counter, payload: { tac } }));
    for (const c of confirms) {
      expect(c.statusCode).toBe(200);
      expect(c.json()).toMatchObject({ status: 'confirmed', resolution: 'void-reversed' });
    }
    // Later card evidence about the same credit changes nothing either.
    const log = await h.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/log-evidence`,
      headers: counter,
      payload: { onlineAtc: 2, log: [{ atc: 1, amountFen: 3_000, type: 2 }] },
    });
    expect(log.statusCode).toBe(200);
    expect(log.json()).toEqual({ confirmed: [], voided: [], reinstated: [] });
    expect(await shadowBalance(h, cardNo)).toBe(8_000);
    expect(await balanceOf('payment:cash')).toBe(8_000);
    expect(await balanceOf('liability:card-purse')).toBe(-8_000);
    expect(await count("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-void-reversed'")).toBe(1);
    const anomalies = await h.store.transaction((tx) =>
      tx.all<{ kind: string; card_no: string; atc: number; detail: string }>('SELECT kind, card_no, atc, detail FROM money_anomalies'),
    );
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0]).toMatchObject({ kind: 'load-void-reversed', card_no: cardNo });
    expect(Number(anomalies[0].atc)).toBe(1);
    expect(anomalies[0].detail).toMatch(new RegExp(`load ${id}\\b.*branch-01.*re-charge`));
  });

  it("the online ATC of the card's next load proves the voided load was credited and reinstates it", async () => {
    const { cardNo, card } = await issueCard(h);
    const auth = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'n1' },
      payload: initLoad(card, cardNo, 3_000),
    });
    const id = auth.json().id;
    await h.app.inject({ method: 'POST', url: `/v1/loads/${id}/void`, headers: counter });
    creditLoad(card, auth.json()); // credited with the old MAC2; the TAC never reaches the gateway
    const next = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'n2' },
      payload: initLoad(card, cardNo, 2_000),
    });
    expect(next.statusCode).toBe(201);
    expect(next.json().onlineAtc).toBe(1);
    const first = await h.app.inject({ method: 'GET', url: `/v1/loads/${id}`, headers: counter });
    expect(first.json()).toMatchObject({ status: 'confirmed', resolution: 'void-reversed' });
    await h.app.inject({ method: 'POST', url: `/v1/loads/${next.json().id}/confirm`, headers: counter, payload: { tac: creditLoad(card, next.json()) } });
    expect(card.image().balanceFen).toBe(5_000);
    expect(await shadowBalance(h, cardNo)).toBe(5_000);
    expect(await count("SELECT COUNT(*) AS n FROM money_anomalies WHERE kind = 'load-void-reversed'")).toBe(1);
  });

  it('purchases uploaded after the void that read a later online ATC reinstate the voided load', async () => {
    const { cardNo, card } = await issueCard(h);
    const auth = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'p1' },
      payload: initLoad(card, cardNo, 3_000),
    });
    const id = auth.json().id;
    await h.app.inject({ method: 'POST', url: `/v1/loads/${id}/void`, headers: counter });
    creditLoad(card, auth.json());
    const gate = await makeValidator(h, 'gate-v1', 31);
    const uploaded = await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 400, START_MS + 60_000)]));
    expect(uploaded.response?.acknowledged).toEqual([1]);
    const first = await h.app.inject({ method: 'GET', url: `/v1/loads/${id}`, headers: counter });
    expect(first.json()).toMatchObject({ status: 'confirmed', resolution: 'void-reversed' });
    expect(await shadowBalance(h, cardNo)).toBe(card.image().balanceFen - card.image().overdraftUsedFen);
  });

  it('a voided load that never reached the card stays voided: a later load at the same online ATC is credited, not the voided one', async () => {
    const { cardNo, card } = await issueCard(h);
    const voidedAuth = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 's1' },
      payload: initLoad(card, cardNo, 3_000),
    });
    await h.app.inject({ method: 'POST', url: `/v1/loads/${voidedAuth.json().id}/void`, headers: counter });
    // The holder pays again; the new INIT ends the old session (same online ATC 0).
    const redo = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 's2' },
      payload: initLoad(card, cardNo, 3_000),
    });
    expect(redo.json().onlineAtc).toBe(0);
    const tac = creditLoad(card, redo.json());
    expect((await h.app.inject({ method: 'POST', url: `/v1/loads/${redo.json().id}/confirm`, headers: counter, payload: { tac } })).statusCode).toBe(200);
    // Evidence past ATC 0 (the next load, a counter read) is the redo's credit, not the voided load's.
    await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 's3' }, payload: initLoad(card, cardNo, 1_000) });
    const log = await h.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/log-evidence`,
      headers: counter,
      payload: { onlineAtc: 1, log: [{ atc: 0, amountFen: 3_000, type: 2 }] },
    });
    expect(log.json().reinstated).toEqual([]);
    const voided = await h.app.inject({ method: 'GET', url: `/v1/loads/${voidedAuth.json().id}`, headers: counter });
    expect(voided.json()).toMatchObject({ status: 'voided', resolution: 'teller-void' });
    // Its TAC could only be the redo's: it does not reinstate the voided load.
    const wrong = await h.app.inject({ method: 'POST', url: `/v1/loads/${voidedAuth.json().id}/confirm`, headers: counter, payload: { tac } });
    expect(wrong.statusCode).toBe(409);
    expect(wrong.json().code).toBe('load-not-pending');
    expect(await shadowBalance(h, cardNo)).toBe(3_000);
    expect(await count('SELECT COUNT(*) AS n FROM money_anomalies')).toBe(0);
  });

  it('a load already shown credited by card evidence cannot be voided', async () => {
    const { cardNo, card } = await issueCard(h);
    const auth = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'c1' },
      payload: initLoad(card, cardNo, 3_000),
    });
    creditLoad(card, auth.json());
    await h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/log-evidence`, headers: counter, payload: { onlineAtc: 1, log: [] } });
    const voided = await h.app.inject({ method: 'POST', url: `/v1/loads/${auth.json().id}/void`, headers: counter });
    expect(voided.statusCode).toBe(409);
    expect(voided.json().code).toBe('load-not-pending');
    expect(await balanceOf('payment:cash')).toBe(3_000);
    expect(await shadowBalance(h, cardNo)).toBe(3_000);
  });
});

async function balanceOf(account: string): Promise<number> {
  const res = await h.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: h.admin });
  return res.json().accounts.find((a: { account: string }) => a.account === account)?.balanceFen ?? 0;
}

async function count(sql: string, params: (string | number)[] = []): Promise<number> {
  const row = await h.store.transaction((tx) => tx.get<{ n: number }>(sql, params));
  return Number(row?.n);
}
