/**
 * Card history shows each record's result (issue 17): a refused tap is never a purchase. Every
 * uploaded tap record says what happened (`result`: accepted, refused, written-off, quarantined)
 * with its tap result code and name; loads say accepted, pending or voided.
 */
import { TAP_RESULT, type JournalRecord } from '#core';
import { REFUND_PAYOUT_MARGIN_MS } from '#gateway/services/refunds';
import { describe, expect, it } from 'vitest';
import {
  issueCard,
  loadCard,
  makeValidator,
  moneyGatewayForEachTest,
  requestCardRefund,
  START_MS,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
  type Validator,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

/** A tap the validator refused without touching the card (its journal record: no debit, no TAC). */
function refusedTap(v: Validator, cardNo: string, resultCode: number, atMs: number, balanceFen: number): JournalRecord {
  v.seq++;
  return {
    deviceId: v.deviceId,
    deviceSeq: v.seq,
    deviceKind: 'subway-entry',
    operator: 'subway',
    resultCode,
    cardNo,
    cardAction: 'none',
    transactionType: 0,
    amountFen: 0,
    balanceBeforeFen: balanceFen,
    balanceAfterFen: balanceFen,
    offlineAtc: 1,
    onlineAtc: 1,
    terminalId: '202600000029',
    tsn: 0,
    date: 20260310,
    time: 100500,
    tac: '',
    keyVersion: 1,
    algorithm: '3des',
    fareTableVersion: 1,
    place: 1,
    line: 0,
    occurredAtMs: atMs,
    recovered: false,
  };
}

interface Entry {
  id: string;
  kind: string;
  result: string;
  resultCode: number | null;
  resultName: string | null;
  amountFen: number;
  atMs: number;
}

async function history(cardNo: string): Promise<Entry[]> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}/transactions`, headers: counter });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().transactions as Entry[];
}

describe('card history: each record with its result', () => {
  it('a refused tap is a refused tap with its result code, never an accepted 0.00 purchase', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 3_000, 'l1');
    const gate = await makeValidator(h, 'gate-h', 29);
    const paid = tap(gate, card, cardNo, 400, START_MS + 60_000);
    const refused = refusedTap(gate, cardNo, TAP_RESULT.ALREADY_ENTERED, START_MS + 120_000, 2_600);
    const blacklisted = refusedTap(gate, cardNo, TAP_RESULT.BLACKLISTED, START_MS + 180_000, 2_600);
    const answer = await sync(h, gate, syncRequest(gate, [paid, refused, blacklisted]));
    expect(answer.status).toBe(200);
    expect(answer.response?.acknowledged).toEqual([1, 2, 3]);

    const entries = await history(cardNo);
    expect(entries.map((e) => [e.kind, e.result, e.resultCode, e.resultName, e.amountFen])).toEqual([
      ['refused-tap', 'refused', TAP_RESULT.BLACKLISTED, 'BLACKLISTED', 0],
      ['refused-tap', 'refused', TAP_RESULT.ALREADY_ENTERED, 'ALREADY_ENTERED', 0],
      ['purchase', 'accepted', TAP_RESULT.ACCEPTED, 'ACCEPTED', 400],
      ['load', 'accepted', null, null, 3_000],
    ]);
    expect(entries.filter((e) => e.kind === 'purchase' && e.result !== 'accepted')).toEqual([]);
  });

  it('a tap that arrives after the refund was paid is written off, not a purchase from the purse', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const silent = await makeValidator(h, 'gate-late', 30);
    const lateTap = tap(silent, card, cardNo, 200, START_MS + 60_000);
    const refund = (await requestCardRefund(h, counter, cardNo)).json();
    h.now.ms = refund.deadlineMs - REFUND_PAYOUT_MARGIN_MS;
    expect((await h.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h.admin })).json().refundsPaid).toEqual([refund.id]);
    h.now.ms += 60_000;
    expect((await sync(h, silent, syncRequest(silent, [lateTap]))).response?.acknowledged).toEqual([1]);

    const entries = await history(cardNo);
    const late = entries.find((e) => e.id === 'tap:gate-late:1');
    expect(late).toMatchObject({ kind: 'purchase', result: 'written-off', resultCode: 0, amountFen: 200 });
  });

  it('a debit whose TAC does not verify is quarantined, not accepted', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 3_000, 'l1');
    const gate = await makeValidator(h, 'gate-q', 31);
    const forged = { ...tap(gate, card, cardNo, 300, START_MS + 60_000), amountFen: 30 };
    const answer = await sync(h, gate, syncRequest(gate, [forged]));
    expect(answer.response?.quarantined).toEqual([1]);
    const entries = await history(cardNo);
    expect(entries.find((e) => e.id === 'tap:gate-q:1')).toMatchObject({ kind: 'purchase', result: 'quarantined' });
  });
});
