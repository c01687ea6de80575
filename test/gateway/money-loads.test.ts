import { describe, expect, it } from 'vitest';
import { counterHeaders, creditLoad, initLoad, issueCard, loadCard, shadowBalance, type MoneyHarness, moneyGatewayForEachTest } from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

async function postLoad(body: object, key: string, headers = counter) {
  return h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...headers, 'idempotency-key': key }, payload: body });
}

describe('POST /v1/loads', () => {
  it('authorises with a genuine MAC1, the card accepts MAC2, the TAC confirms it and the shadow balance moves', async () => {
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 5_000);
    const res = await postLoad(body, 'k-1');
    expect(res.statusCode).toBe(201);
    const load = res.json();
    expect(load).toMatchObject({ status: 'pending', amount: '50.00', paymentSource: 'cash', onlineAtc: 0 });
    expect(await shadowBalance(h, cardNo)).toBe(0);
    const tac = creditLoad(card, load);
    expect(card.image().balanceFen).toBe(5_000);
    const bad = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac: '00000000' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('tac-invalid');
    const ok = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'confirmed', resolution: 'tac' });
    expect(await shadowBalance(h, cardNo)).toBe(5_000);
    const again = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } });
    expect(again.statusCode).toBe(200);
    expect(await shadowBalance(h, cardNo)).toBe(5_000);
    const balances = await h.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: h.admin });
    const accounts = Object.fromEntries(balances.json().accounts.map((a: { account: string; balanceFen: number }) => [a.account, a.balanceFen]));
    expect(accounts['payment:cash']).toBe(5_000);
    expect(accounts['liability:card-purse']).toBe(-5_000);
  });

  it('concurrent duplicates with one key make one load and answer the same; a different body is 409', async () => {
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 10_000);
    const answers = await Promise.all(Array.from({ length: 8 }, () => postLoad(body, 'same-key')));
    const ids = new Set(answers.map((a) => a.json().id));
    expect(answers.every((a) => a.statusCode === 201)).toBe(true);
    expect(ids.size).toBe(1);
    const count = await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM loads'));
    expect(Number(count?.n)).toBe(1);
    const conflict = await postLoad({ ...body, amount: '20.00' }, 'same-key');
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().code).toBe('idempotency-key-reused');
    const balances = await h.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: h.admin });
    const cash = balances.json().accounts.find((a: { account: string }) => a.account === 'payment:cash');
    expect(cash.balanceFen).toBe(10_000);
  });

  it('refuses the wrong MAC1, non-multiples of 10 yuan at a counter, the cap and missing keys, changing nothing', async () => {
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 5_000);
    const badMac = await postLoad({ ...body, mac1: body.mac1 === '00000000' ? '11111111' : '00000000' }, 'a');
    expect(badMac.statusCode).toBe(400);
    expect(badMac.json().code).toBe('mac1-invalid');
    const odd = await postLoad({ ...body, amount: '55.00' }, 'b');
    expect(odd.json().code).toBe('counter-load-step');
    const cap = await postLoad({ ...body, balanceBeforeFen: 99_000 }, 'c');
    expect(cap.json().code).toBe('balance-cap-exceeded');
    const noKey = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: counter, payload: body });
    expect(noKey.statusCode).toBe(400);
    const numberAmount = await postLoad({ ...body, amount: 50 }, 'd');
    expect(numberAmount.statusCode).toBe(400);
    const device = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { 'idempotency-key': 'x' }, payload: body });
    expect(device.statusCode).toBe(401);
    const count = await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM loads'));
    expect(Number(count?.n)).toBe(0);
  });

  it('an amount over the 1,000-yuan load cap is refused at the wire with one code, and nothing is recorded', async () => {
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 5_000);
    // 1000.01 and 100000.00 were once let through by a wire cap 100x too large (fen taken for
    // yuan) and refused later, after the Idempotency-Key had stored the refusal.
    for (const amount of ['1000.01', '1010.00', '100000.00', '100000.01', '999999999.99']) {
      const res = await postLoad({ ...body, amount }, `over-${amount}`);
      expect(res.statusCode, amount).toBe(400);
      expect(res.headers['content-type'], amount).toMatch(/^application\/problem\+json/);
      expect(res.json().code, amount).toBe('load-amount-out-of-range');
    }
    expect(await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM idempotency_keys')).then((r) => Number(r?.n))).toBe(0);
    expect(await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM loads')).then((r) => Number(r?.n))).toBe(0);
    // Nothing was recorded under the key: the corrected request with the same key goes through.
    const fixed = await postLoad(body, 'over-1000.01');
    expect(fixed.statusCode).toBe(201);
    // The cap itself is a valid load.
    const atCap = await postLoad(initLoad(card, cardNo, 100_000), 'at-cap');
    expect(atCap.statusCode).toBe(201);
    expect(atCap.json().amount).toBe('1000.00');
  });

  it('a teller voids a pending load: the payment goes back, and a voided load cannot be confirmed', async () => {
    const { cardNo, card } = await issueCard(h);
    const load = (await postLoad(initLoad(card, cardNo, 3_000), 'v-1')).json();
    const voided = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/void`, headers: counter });
    expect(voided.statusCode).toBe(200);
    expect(voided.json()).toMatchObject({ status: 'voided', resolution: 'teller-void' });
    const twice = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/void`, headers: counter });
    expect(twice.json().code).toBe('load-not-pending');
    const other = await counterHeaders(h, 'branch-02');
    const load2 = (await postLoad(initLoad(card, cardNo, 3_000), 'v-2')).json();
    const foreign = await h.app.inject({ method: 'POST', url: `/v1/loads/${load2.id}/void`, headers: other });
    expect(foreign.statusCode).toBe(403);
    const report = await h.app.inject({ method: 'GET', url: '/v1/reports/teller?day=2026-03-10', headers: counter });
    expect(report.statusCode).toBe(200);
    const cash = report.json().sources.find((s: { paymentSource: string }) => s.paymentSource === 'cash');
    expect(cash).toMatchObject({ loads: 2, loadedFen: 6_000, voids: 1, voidedFen: 3_000, netFen: 3_000 });
  });

  it('a torn load that was credited is confirmed by the next load (online ATC moved)', async () => {
    const { cardNo, card } = await issueCard(h);
    const first = (await postLoad(initLoad(card, cardNo, 5_000), 't-1')).json();
    creditLoad(card, first); // the card is credited but the confirmation never reaches the gateway
    const second = await postLoad(initLoad(card, cardNo, 2_000), 't-2');
    expect(second.statusCode).toBe(201);
    expect(second.json().onlineAtc).toBe(1);
    const settled = await h.app.inject({ method: 'GET', url: `/v1/loads/${first.id}`, headers: counter });
    expect(settled.json()).toMatchObject({ status: 'confirmed', resolution: 'next-load' });
    expect(await shadowBalance(h, cardNo)).toBe(5_000);
  });

  it('a torn load that never reached the card is voided by the next load (same online ATC) and the money returned', async () => {
    const { cardNo, card } = await issueCard(h);
    const first = (await postLoad(initLoad(card, cardNo, 5_000), 'n-1')).json();
    // The card left the reader before CREDIT FOR LOAD: nothing was credited.
    const second = (await postLoad(initLoad(card, cardNo, 2_000), 'n-2')).json();
    expect(second.onlineAtc).toBe(0);
    const settled = await h.app.inject({ method: 'GET', url: `/v1/loads/${first.id}`, headers: counter });
    expect(settled.json()).toMatchObject({ status: 'voided', resolution: 'next-load' });
    expect(await shadowBalance(h, cardNo)).toBe(0);
    await h.app.inject({ method: 'POST', url: `/v1/loads/${second.id}/confirm`, headers: counter, payload: { tac: creditLoad(card, second) } });
    expect(await shadowBalance(h, cardNo)).toBe(2_000);
    const balances = await h.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: h.admin });
    const cash = balances.json().accounts.find((a: { account: string }) => a.account === 'payment:cash');
    expect(cash.balanceFen).toBe(2_000);
  });

  it('refuses a replayed INIT answer (another key) and an INIT older than a known credit', async () => {
    const { cardNo, card } = await issueCard(h);
    const stale = initLoad(card, cardNo, 1_000); // read, never sent: the card moves on without it
    const body = initLoad(card, cardNo, 5_000);
    const first = (await postLoad(body, 'r-1')).json();
    const replay = await postLoad(body, 'r-2');
    expect(replay.statusCode).toBe(409);
    expect(replay.json().code).toBe('load-init-replayed');
    await h.app.inject({ method: 'POST', url: `/v1/loads/${first.id}/confirm`, headers: counter, payload: { tac: creditLoad(card, first) } });
    // Without this guard the old answer's pending load would later be "confirmed" by the card's
    // higher online ATC although it never reached the card.
    const old = await postLoad(stale, 'r-3');
    expect(old.statusCode).toBe(409);
    expect(old.json().code).toBe('load-init-stale');
    expect(await shadowBalance(h, cardNo)).toBe(5_000);
  });

  it('card evidence read at a counter settles pending loads both ways', async () => {
    const { cardNo, card } = await issueCard(h);
    const pending = (await postLoad(initLoad(card, cardNo, 4_000), 'e-1')).json();
    const noCredit = await h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/log-evidence`, headers: counter, payload: { onlineAtc: 0, log: [] } });
    expect(noCredit.json()).toEqual({ confirmed: [], voided: [pending.id], reinstated: [] });
    const next = (await postLoad(initLoad(card, cardNo, 4_000), 'e-2')).json();
    creditLoad(card, next);
    const log = card.image().log.map((r) => ({ atc: r.atc, amountFen: r.amountFen, type: r.type }));
    const credited = await h.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/log-evidence`,
      headers: counter,
      payload: { onlineAtc: card.image().onlineAtc, log },
    });
    expect(credited.json()).toEqual({ confirmed: [next.id], voided: [], reinstated: [] });
    expect(await shadowBalance(h, cardNo)).toBe(4_000);
  });

  it('refuses loads on a card under a loss report (no money taken)', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 95_000, 'cap-1');
    expect(await shadowBalance(h, cardNo)).toBe(95_000);
    const lost = await h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/loss-reports`, headers: counter, payload: { kind: 'temporary' } });
    expect(lost.statusCode).toBeLessThan(300);
    const refused = await postLoad(initLoad(card, cardNo, 5_000), 'cap-2');
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('card-not-active');
    const again = await postLoad(initLoad(card, cardNo, 5_000), 'cap-2');
    expect(again.json().code).toBe('idempotency-key-reused');
  });
});
