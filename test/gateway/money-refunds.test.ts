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
  requestCardRefund,
  REFUND_DESTINATION,
} from './money-fixtures.ts';
import { refundDeadlineMs, REFUND_PAYOUT_MARGIN_MS } from '#gateway/services/refunds';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

const balanceOf = (account: string): Promise<number> => ledgerBalance(h, account);
const requestRefund = (cardNo: string) => requestCardRefund(h, counter, cardNo);

describe('broken-card refunds', () => {
  it('the deadline is the end of the 2nd natural day after the request, Beijing time', () => {
    // 2026-03-10 23:30 Beijing → paid before 2026-03-13 00:00 Beijing.
    const late = Date.UTC(2026, 2, 10, 15, 30);
    expect(refundDeadlineMs(late)).toBe(Date.UTC(2026, 2, 12, 16, 0) - 1);
    // 2026-03-11 00:10 Beijing is already the next natural day.
    expect(refundDeadlineMs(Date.UTC(2026, 2, 10, 16, 10))).toBe(Date.UTC(2026, 2, 13, 16, 0) - 1);
  });

  it('pays the shadow balance as soon as every device has drained after downloading the blacklisting', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const a = await makeValidator(h, 'gate-ra', 11);
    const b = await makeValidator(h, 'gate-rb', 12);
    const tapA = tap(a, card, cardNo, 300, START_MS + 60_000);
    h.now.ms = START_MS + 3_600_000;
    const created = await requestRefund(cardNo);
    expect(created.statusCode).toBe(201);
    const refund = created.json();
    expect(refund).toMatchObject({ status: 'waiting', destinationAccount: '***************3445', waitingForDevices: ['gate-ra', 'gate-rb'] });
    expect(JSON.stringify(refund)).not.toContain('6222020200112233445');
    const repeat = await requestRefund(cardNo);
    expect(repeat.statusCode).toBe(200);
    expect(repeat.json().id).toBe(refund.id);

    const first = await sync(h, a, syncRequest(a, [tapA], 0));
    expect(first.response?.blacklist).toEqual(expect.arrayContaining([expect.objectContaining({ cardNo, reason: 'refunded' })]));
    const version = first.response!.blacklistVersion;
    await sync(h, a, syncRequest(a, [], version));
    await sync(h, b, syncRequest(b, [], 0));
    let state = (await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json();
    expect(state).toMatchObject({ status: 'waiting', waitingForDevices: ['gate-rb'] });
    await sync(h, b, syncRequest(b, [], version));
    state = (await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json();
    expect(state).toMatchObject({ status: 'paid', settledBy: 'watermarks', paid: '47.00', paidFen: 4_700, waitingForDevices: [] });
    expect(state.paidMs).toBeLessThan(state.deadlineMs);
    expect(await shadowBalance(h, cardNo)).toBe(0);
    expect(await balanceOf('bank:refund-payouts')).toBe(-4_700);
    expect(await balanceOf('payable:refunds')).toBe(0);
  });

  it('pays at the deadline with what is known, and writes off a tap that arrives later', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const silent = await makeValidator(h, 'gate-silent', 13);
    const lateTap = tap(silent, card, cardNo, 200, START_MS + 60_000);
    const refund = (await requestRefund(cardNo)).json();
    let run = await h.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h.admin });
    expect(run.json().refundsPaid).toEqual([]);
    h.now.ms = refund.deadlineMs - REFUND_PAYOUT_MARGIN_MS;
    run = await h.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h.admin });
    expect(run.json().refundsPaid).toEqual([refund.id]);
    let state = (await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json();
    expect(state).toMatchObject({ status: 'paid', settledBy: 'deadline', paidFen: 5_000, writtenOffFen: 0 });
    expect(state.paidMs).toBeLessThanOrEqual(state.deadlineMs);

    h.now.ms += 60_000;
    const late = await sync(h, silent, syncRequest(silent, [lateTap], 0));
    expect(late.response?.acknowledged).toEqual([1]);
    state = (await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json();
    expect(state.writtenOffFen).toBe(200);
    expect(await shadowBalance(h, cardNo)).toBe(0);
    expect(await balanceOf('writeoff:late-taps')).toBe(200);
    expect(await balanceOf('revenue:subway')).toBe(-200);
  });

  it('refuses lost cards (seed q. 46) and settles an overdrawn card with nothing paid', async () => {
    const lost = await issueCard(h);
    await h.app.inject({ method: 'POST', url: `/v1/cards/${lost.cardNo}/loss-reports`, headers: counter, payload: { kind: 'formal' } });
    const refused = await requestRefund(lost.cardNo);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('lost-card-no-refund');
    expect((await requestRefund('0000000000000000')).statusCode).toBe(404);

    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 1_000, 'l1');
    const gate = await makeValidator(h, 'gate-od', 14);
    const record = tap(gate, card, cardNo, 2_500, START_MS + 60_000);
    expect(record.balanceAfterFen).toBe(-1_500);
    await sync(h, gate, syncRequest(gate, [record], 0));
    expect(await shadowBalance(h, cardNo)).toBe(-1_500);
    // An overdrawn card has a debt, not a refund: refused until it is paid in (issue 16).
    expect((await requestRefund(cardNo)).json()).toMatchObject({ status: 409, code: 'card-has-debt', debtFen: 1_500 });
    const refund = (
      await h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/refunds`, headers: counter, payload: { ...REFUND_DESTINATION, debt: { settle: 'pay' } } })
    ).json();
    expect(await balanceOf('payment:cash')).toBe(1_000 + 1_500);
    // A tap of the blocked card uploaded before the payout makes a new debt: a receivable, never a negative payout.
    const lateTap = tap(gate, card, cardNo, 200, START_MS + 120_000);
    await sync(h, gate, syncRequest(gate, [lateTap], 0));
    h.now.ms = refund.deadlineMs - REFUND_PAYOUT_MARGIN_MS;
    await h.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h.admin });
    const state = (await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json();
    expect(state).toMatchObject({ status: 'paid', paidFen: 0, receivableFen: 200 });
    expect(await balanceOf('receivable:overdraft')).toBe(200);
  });

  it('a card with no registered device is paid at once', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 2_000, 'l1');
    const res = await requestRefund(cardNo);
    expect(res.json()).toMatchObject({ status: 'paid', settledBy: 'watermarks', paidFen: 2_000 });
  });
});
