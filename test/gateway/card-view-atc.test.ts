/**
 * GET /v1/cards/{cardNo}: `lastOfflineAtc` is the highest offline ATC of a verified debit the
 * back office has received (card_chains.max_atc), null before any. Validators upload late and
 * in any order, so the first debits to arrive need not start at the card's ATC 0: the view must
 * not say "no purchase seen" (it said -1) while debits of the card are cleared.
 */
import { describe, expect, it } from 'vitest';
import { issueCard, loadCard, makeValidator, START_MS, sync, syncRequest, tap, type MoneyHarness, moneyGatewayForEachTest } from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

async function view(cardNo: string): Promise<{ lastOfflineAtc: number | null; balanceFen: number }> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}`, headers: h.admin });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().card ?? res.json();
}

describe('card view: lastOfflineAtc', () => {
  it('is null before any purchase, then the highest offline ATC synced, whatever order the validators upload in', async () => {
    const { cardNo, card } = await issueCard(h);
    expect((await view(cardNo)).lastOfflineAtc).toBeNull();
    await loadCard(h, counter, card, cardNo, 5_000, 'atc-load');
    expect((await view(cardNo)).lastOfflineAtc).toBeNull();

    // ATC 0 on an entry gate that has not synced yet; ATC 1 and 2 on an exit gate that has.
    const entry = await makeValidator(h, 'gate-entry', 1);
    const exit = await makeValidator(h, 'gate-exit', 2);
    const first = tap(entry, card, cardNo, 300, START_MS + 60_000);
    const later = [tap(exit, card, cardNo, 400, START_MS + 120_000), tap(exit, card, cardNo, 500, START_MS + 180_000)];
    expect([first.offlineAtc, ...later.map((r) => r.offlineAtc)]).toEqual([0, 1, 2]);

    expect((await sync(h, exit, syncRequest(exit, later))).response?.acknowledged).toEqual([1, 2]);
    const afterExit = await view(cardNo);
    expect(afterExit.balanceFen).toBe(5_000 - 900);
    expect(afterExit.lastOfflineAtc).toBe(2);

    expect((await sync(h, entry, syncRequest(entry, [first]))).response?.acknowledged).toEqual([1]);
    const afterEntry = await view(cardNo);
    expect(afterEntry.balanceFen).toBe(5_000 - 1_200);
    expect(afterEntry.lastOfflineAtc).toBe(2);
  });

  it('counts only verified debits: a forged TAC does not move it', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'atc-load-2');
    const gate = await makeValidator(h, 'gate-forge', 3);
    const genuine = tap(gate, card, cardNo, 300, START_MS + 60_000);
    const forged = { ...tap(gate, card, cardNo, 300, START_MS + 120_000), tac: '00000000' };
    const answer = (await sync(h, gate, syncRequest(gate, [genuine, forged]))).response;
    expect(answer).toMatchObject({ acknowledged: [1], quarantined: [2] });
    expect((await view(cardNo)).lastOfflineAtc).toBe(0);
  });

  it('the OpenAPI schema documents null', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const text = JSON.stringify(doc.paths['/v1/cards/{cardNo}'].get.responses['200']);
    expect(text).toMatch(/"lastOfflineAtc":\{[^}]*"type":\["integer","null"\]/);
  });
});
