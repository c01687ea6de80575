/**
 * Review: the purchase TAC covers amount, type, terminal, TSN, date and time, but not the card's
 * offline ATC (DOMAIN.md section 3). A genuine record re-uploaded under another offline ATC (a
 * faulty recovery path or a malicious device) verifies, so without a check it is a second debit
 * of the same tap: the card is charged twice and the operator paid twice.
 */
import { describe, expect, it } from 'vitest';
import {
  issueCard,
  loadCard,
  makeValidator,
  shadowBalance,
  START_MS,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
  moneyGatewayForEachTest,
  ledgerBalance,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

const revenue = (): Promise<number> => ledgerBalance(h, 'revenue:subway');

describe('review: one tap is one debit whatever offline ATC a record claims', () => {
  it('a genuine record replayed under another offline ATC in a later batch is quarantined, not charged again', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-r1', 1);
    const genuine = tap(gate, card, cardNo, 300, START_MS + 60_000);
    expect((await sync(h, gate, syncRequest(gate, [genuine]))).status).toBe(200);
    const replay = { ...genuine, deviceSeq: 2, offlineAtc: genuine.offlineAtc + 1 };
    const second = await sync(h, gate, syncRequest(gate, [replay]));
    expect(second.status).toBe(200);
    expect(second.response?.quarantined).toEqual([2]);
    expect(await shadowBalance(h, cardNo)).toBe(4_700);
    expect(await revenue()).toBe(-300);
    // The card is not at fault: it is not blacklisted as cloned.
    expect(second.response?.blacklist.filter((e) => e.cardNo === cardNo)).toEqual([]);
  });

  it('the same tap twice in one batch under two offline ATCs counts once', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-r2', 2);
    const genuine = tap(gate, card, cardNo, 300, START_MS + 60_000);
    const replay = { ...genuine, deviceSeq: 2, offlineAtc: genuine.offlineAtc + 7 };
    const res = await sync(h, gate, syncRequest(gate, [genuine, replay]));
    expect(res.status).toBe(200);
    expect(res.response).toMatchObject({ acknowledged: [1], quarantined: [2] });
    expect(await shadowBalance(h, cardNo)).toBe(4_700);
    expect(await revenue()).toBe(-300);
  });
});
