/**
 * The money-moving workflows of the card's life (issue 16), at the API: applications and the card
 * factory, the broken-card exchange, the change of name or ID number, the change of partner bank,
 * cancellation, debts of overdrawn cards, lost-card balances and the park pass per holder.
 * Every card, MAC and TAC is genuine (money-fixtures.ts); the books must balance after each test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { workingDaysDueMs } from '#gateway/services/card-applications';
import { addMonthsBeijing } from '#gateway/services/card-exchange';
import {
  appSessionHeaders,
  cardFromImage,
  closeCheckingBooks,
  counterHeaders,
  issueCard,
  ledgerBalance,
  loadCard,
  makeValidator,
  type MoneyHarness,
  REFUND_DESTINATION,
  shadowBalance,
  START_MS,
  startMoneyGateway,
  sync,
  syncRequest,
  tap,
} from './money-fixtures.ts';

let h: MoneyHarness;
/** A teller at an icbc branch (the default issuing bank), one at an icbc branch that makes cards at once. */
let counter: Record<string, string>;
let instant: Record<string, string>;
beforeEach(async () => {
  h = await startMoneyGateway({ policies: { instantCardBranches: ['branch-instant'] } });
  counter = await counterHeaders(h);
  instant = await counterHeaders(h, 'branch-instant');
});

/** A counter of a new organisation: a branch of `bankId`, or a street service point when `bankId` is null. */
async function orgCounter(id: string, bankId: string | null, staffRole: 'teller' | 'supervisor' = 'teller'): Promise<Record<string, string>> {
  const org = bankId === null ? { id, name: id, channelKind: 'service-point' } : { id, name: id, channelKind: 'bank-branch', bankId, branchId: id };
  const created = await h.app.inject({ method: 'POST', url: '/v1/organisations', headers: h.admin, payload: org });
  if (created.statusCode !== 201) throw new Error(`organisation: ${created.statusCode} ${created.body}`);
  const token = await h.app.inject({
    method: 'POST',
    url: '/v1/auth/tokens',
    headers: h.admin,
    payload: { role: 'counter', label: id, organisationId: id, staffRole },
  });
  if (token.statusCode !== 201) throw new Error(`token: ${token.statusCode} ${token.body}`);
  return { authorization: `Bearer ${token.json().token}` };
}
afterEach(async () => {
  await closeCheckingBooks(h);
});

const DAY_MS = 86_400_000;
/** Epoch ms of a Beijing local time. */
const beijing = (y: number, m: number, d: number, hh = 12, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
let ssnSeq = 100;
const newSsn = () => `11010119900307${String(ssnSeq++).padStart(3, '0')}X`;

const post = (url: string, payload: unknown, headers = counter) => h.app.inject({ method: 'POST', url, headers, payload: payload as object });
const get = (url: string, headers = counter) => h.app.inject({ method: 'GET', url, headers });
const runJobs = async () => (await post('/v1/ops/jobs/run', undefined, h.admin)).json();
const exchange = (cardNo: string, body: Record<string, unknown> = {}, headers = counter) =>
  post(`/v1/cards/${cardNo}/exchange`, { reason: 'broken', collection: 'branch', ...REFUND_DESTINATION, ...body }, headers);
const cardStatus = async (cardNo: string) => (await get(`/v1/cards/${cardNo}`)).json();

describe('durations of card making (q. 12, q. 24, q. 29)', () => {
  it('an exchange is made within 4 working days on the working-day calendar, weekends and the State Council days off skipped', () => {
    // Tue 2026-03-10 → Wed, Thu, Fri, Mon: due at the end of Mon 2026-03-16 (Beijing).
    expect(workingDaysDueMs(beijing(2026, 3, 10, 10), 4)).toBe(beijing(2026, 3, 17, 0) - 1);
    // Wed 2026-09-30: 1-7 October are days off, Sat 10 October a working day (调休):
    // Thu 8, Fri 9, Sat 10, Mon 12 → due at the end of Mon 2026-10-12.
    expect(workingDaysDueMs(beijing(2026, 9, 30, 15), 4)).toBe(beijing(2026, 10, 13, 0) - 1);
  });

  it('six months later, the day clamped to the end of the month', () => {
    expect(addMonthsBeijing(beijing(2026, 3, 10), 6).ymd).toBe(20260910);
    expect(addMonthsBeijing(beijing(2026, 8, 31), 6).ymd).toBe(20270228);
    expect(addMonthsBeijing(beijing(2026, 8, 31), 6).startMs).toBe(beijing(2027, 2, 28, 0));
  });
});

describe('applications and the card factory (q. 10-14, q. 36)', () => {
  it('applied → making → ready within 30 days, then collected with a card that rides; progress shown to counters', async () => {
    const ssn = newSsn();
    const applied = await post('/v1/card-applications', {
      holderName: '王小明',
      socialSecurityNo: ssn,
      issuingBank: 'ccb',
      profile: 'adult',
      collection: 'branch',
    });
    expect(applied.statusCode).toBe(201);
    const application = applied.json();
    expect(application).toMatchObject({ kind: 'application', reason: 'first-card', state: 'applied', issuingBank: 'ccb', holderName: '王**', newCardNo: null });
    // 30 days from the application day (Beijing): due at the end of 2026-04-09.
    expect(application.dueMs).toBe(beijing(2026, 4, 10, 0) - 1);
    // One application at a time.
    const again = await post('/v1/card-applications', {
      holderName: '王小明',
      socialSecurityNo: ssn,
      issuingBank: 'ccb',
      profile: 'adult',
      collection: 'mail',
    });
    expect(again.json()).toMatchObject({ status: 409, code: 'application-open' });

    expect((await get(`/v1/card-applications/${application.id}`)).json().state).toBe('applied');
    h.now.ms += 60_000;
    expect((await runJobs()).cardsMade).toEqual([]);
    expect((await get(`/v1/card-applications/${application.id}`)).json()).toMatchObject({ state: 'making', makingMs: h.now.ms });
    const early = await post(`/v1/card-applications/${application.id}/collection`, undefined);
    expect(early.json()).toMatchObject({ status: 409, code: 'card-not-ready', dueMs: application.dueMs });

    h.now.ms = application.dueMs;
    expect((await runJobs()).cardsMade).toEqual([application.id]);
    const search = (await post('/v1/card-applications/search', { socialSecurityNo: ssn })).json();
    expect(search.applications).toMatchObject([{ id: application.id, state: 'ready', madeMs: application.dueMs }]);
    expect(JSON.stringify(search)).not.toContain(ssn);

    const collected = await post(`/v1/card-applications/${application.id}/collection`, undefined);
    expect(collected.statusCode).toBe(201);
    const { card, cardImage } = collected.json();
    expect(card).toMatchObject({ status: 'active', issuingBank: 'ccb', transitOpened: true });
    expect((await get(`/v1/card-applications/${application.id}`)).json()).toMatchObject({ state: 'collected', newCardNo: card.cardNo });
    expect((await post(`/v1/card-applications/${application.id}/collection`, undefined)).json().code).toBe('card-not-ready');
    // Transit follows the transit function, not enabling (q. 14): the new card loads and rides at once.
    const sim = cardFromImage(cardImage);
    await loadCard(h, counter, sim, card.cardNo, 2_000, 'first');
    const gate = await makeValidator(h, 'gate-app', 41);
    await sync(h, gate, syncRequest(gate, [tap(gate, sim, card.cardNo, 300, h.now.ms + 60_000)]));
    expect(await shadowBalance(h, card.cardNo)).toBe(1_700);
    // A holder with a card in use gets no first card.
    expect(
      (await post('/v1/card-applications', { holderName: '王小明', socialSecurityNo: ssn, issuingBank: 'ccb', profile: 'adult', collection: 'mail' })).json()
        .code,
    ).toBe('holder-has-card');
  });

  it('a mailed card goes applied → making → mailed → collected; instant only at a branch that makes cards at once', async () => {
    const mailed = (
      await post('/v1/card-applications', { holderName: '李四', socialSecurityNo: newSsn(), issuingBank: 'boc', profile: 'adult', collection: 'mail' })
    ).json();
    h.now.ms = mailed.dueMs;
    await runJobs();
    expect((await get(`/v1/card-applications/${mailed.id}`)).json().state).toBe('mailed');
    expect((await post(`/v1/card-applications/${mailed.id}/collection`, undefined)).statusCode).toBe(201);

    const body = { holderName: '赵六', socialSecurityNo: newSsn(), issuingBank: 'boc', profile: 'adult', collection: 'instant' };
    expect((await post('/v1/card-applications', body)).json()).toMatchObject({ status: 409, code: 'instant-issue-not-offered' });
    const made = (await post('/v1/card-applications', body, instant)).json();
    expect(made).toMatchObject({ state: 'ready', dueMs: h.now.ms, madeMs: h.now.ms });
    expect((await post(`/v1/card-applications/${made.id}/collection`, undefined, instant)).statusCode).toBe(201);
  });
});

describe('broken-card exchange (q. 22, q. 46)', () => {
  it('collects and blacklists the old card exchanged, refunds its balance through the refund machinery, makes a new card in 4 working days', async () => {
    const { cardNo, card } = await issueCard(h, '3des', { socialSecurityNo: newSsn(), issuingBank: 'abc', suburbanOpened: true });
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-x', 11);
    const late = tap(gate, card, cardNo, 300, START_MS + 60_000);

    // Only at the issuing bank (q22): an icbc branch and a service point are refused, nothing changes.
    expect((await exchange(cardNo)).json()).toMatchObject({ status: 403, code: 'issuing-bank-only', issuingBank: 'abc' });
    expect((await exchange(cardNo, {}, await orgCounter('sp-1', null))).json()).toMatchObject({ status: 403, code: 'channel-not-allowed' });
    expect((await cardStatus(cardNo)).status).toBe('active');
    const abc = await orgCounter('abc-1', 'abc');
    const res = await exchange(cardNo, {}, abc);
    expect(res.statusCode).toBe(201);
    const { oldCard, refund, application } = res.json();
    expect(oldCard).toMatchObject({ status: 'exchanged', blacklist: { reason: 'exchanged' } });
    expect(refund).toMatchObject({ status: 'waiting', waitingForDevices: ['gate-x'] });
    expect(application).toMatchObject({ kind: 'exchange', reason: 'broken', state: 'applied', issuingBank: 'abc', oldCardNo: cardNo });
    expect(application.dueMs).toBe(workingDaysDueMs(START_MS, 4));
    // A retry answers the first exchange: nothing twice.
    const retry = await exchange(cardNo, {}, abc);
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toMatchObject({ refund: { id: refund.id }, application: { id: application.id } });

    // The gate uploads the card's last tap and downloads the listing: the refund is final and paid.
    const first = await sync(h, gate, syncRequest(gate, [late], 0));
    expect(first.response?.blacklist).toEqual(expect.arrayContaining([expect.objectContaining({ cardNo, reason: 'exchanged' })]));
    await sync(h, gate, syncRequest(gate, [], first.response!.blacklistVersion));
    expect((await get(`/v1/refunds/${refund.id}`)).json()).toMatchObject({ status: 'paid', settledBy: 'watermarks', paidFen: 4_700 });
    expect(await ledgerBalance(h, 'bank:refund-payouts')).toBe(-4_700);

    h.now.ms = application.dueMs - 1;
    await runJobs();
    expect((await get(`/v1/card-applications/${application.id}`)).json().state).toBe('making');
    h.now.ms = application.dueMs;
    expect((await runJobs()).cardsMade).toEqual([application.id]);
    const collected = (await post(`/v1/card-applications/${application.id}/collection`, undefined, abc)).json();
    // The new card: same bank, the functions opened follow (suburban rail too), the balance does not (it was refunded).
    expect(collected.card).toMatchObject({ replaces: cardNo, issuingBank: 'abc', transitOpened: true, suburbanOpened: true, balanceFen: 0 });
    expect((await cardStatus(cardNo)).replacedBy).toBe(collected.card.cardNo);
  });

  it('the old card can no longer be used: app sessions end and another exchange is refused', async () => {
    const { cardNo } = await issueCard(h, '3des', { socialSecurityNo: newSsn() });
    await exchange(cardNo);
    const login = await h.app.inject({ method: 'POST', url: '/v1/auth/app-sessions', payload: { cardNo, password: '07123X' } });
    expect(login.statusCode).toBe(401);
    expect((await post(`/v1/cards/${cardNo}/refunds`, REFUND_DESTINATION)).statusCode).toBe(200); // the exchange's own refund
  });

  it('a change of name (q. 23) is an exchange that renames the holder; a change of ID number moves the holder to the new number', async () => {
    const ssn = newSsn();
    const { cardNo } = await issueCard(h, '3des', { socialSecurityNo: ssn });
    const renamed = (await exchange(cardNo, { reason: 'name-change', newHolderName: '张三丰', collection: 'instant' }, instant)).json();
    expect(renamed.application).toMatchObject({ reason: 'name-change', state: 'ready', holderName: '张**' });
    const collected = (await post(`/v1/card-applications/${renamed.application.id}/collection`, undefined, instant)).json();
    expect(collected.card.holderName).toBe('张三丰');

    const newId = newSsn();
    const changed = await exchange(collected.card.cardNo, { reason: 'id-change', newSocialSecurityNo: newId, collection: 'instant' }, instant);
    expect(changed.statusCode).toBe(201);
    // The holder is now found by the new number only.
    expect((await post('/v1/card-applications/search', { socialSecurityNo: newId })).json().applications).toHaveLength(2);
    expect((await post('/v1/card-applications/search', { socialSecurityNo: ssn })).json().code).toBe('holder-not-found');
    // A number that is another holder's is refused, and nothing changed.
    const other = await issueCard(h, '3des', { socialSecurityNo: newSsn() });
    const taken = await exchange(other.cardNo, { reason: 'id-change', newSocialSecurityNo: newId });
    expect(taken.json()).toMatchObject({ status: 409, code: 'id-number-in-use' });
    expect((await cardStatus(other.cardNo)).status).toBe('active');
  });
});

describe('negative balances: a debt, never a negative payout', () => {
  async function overdrawn(): Promise<string> {
    const { cardNo, card } = await issueCard(h, '3des', { socialSecurityNo: newSsn() });
    await loadCard(h, counter, card, cardNo, 1_000, `od-${cardNo}`);
    const gate = await makeValidator(h, `gate-od-${cardNo.slice(-4)}`, 12);
    await sync(h, gate, syncRequest(gate, [tap(gate, card, cardNo, 2_500, START_MS + 60_000)], 0));
    expect(await shadowBalance(h, cardNo)).toBe(-1_500);
    return cardNo;
  }

  it('an exchange of an overdrawn card is refused until the debt is paid in; then nothing is paid out', async () => {
    const cardNo = await overdrawn();
    const refused = await exchange(cardNo);
    expect(refused.json()).toMatchObject({ status: 409, code: 'card-has-debt', debtFen: 1_500, debt: '15.00' });
    expect((await cardStatus(cardNo)).status).toBe('active');
    const paid = await exchange(cardNo, { debt: { settle: 'pay', paymentSource: 'cash' } });
    expect(paid.statusCode).toBe(201);
    expect(await ledgerBalance(h, 'payment:cash')).toBe(1_000 + 1_500);
    const refund = paid.json().refund;
    h.now.ms = refund.deadlineMs;
    await runJobs();
    expect((await get(`/v1/refunds/${refund.id}`)).json()).toMatchObject({ status: 'paid', paidFen: 0, receivableFen: 0 });
    expect(await ledgerBalance(h, 'bank:refund-payouts')).toBe(0);
    expect(await shadowBalance(h, cardNo)).toBe(0);
  });

  it('only a supervisor writes a debt off, to writeoff:overdraft-debts; a refund and a cancellation need the same', async () => {
    const cardNo = await overdrawn();
    const teller = await post(`/v1/cards/${cardNo}/refunds`, { ...REFUND_DESTINATION, debt: { settle: 'write-off' } });
    expect(teller.json()).toMatchObject({ status: 403, code: 'supervisor-required' });
    expect((await post(`/v1/cards/${cardNo}/refunds`, REFUND_DESTINATION)).json().code).toBe('card-has-debt');
    // The operator credential does no money operation; a counter supervisor does.
    expect((await post(`/v1/cards/${cardNo}/refunds`, { ...REFUND_DESTINATION, debt: { settle: 'write-off' } }, h.admin)).json().code).toBe(
      'operator-not-a-channel',
    );
    const supervisor = await post(
      `/v1/cards/${cardNo}/refunds`,
      { ...REFUND_DESTINATION, debt: { settle: 'write-off' } },
      await orgCounter('icbc-sup', 'icbc', 'supervisor'),
    );
    expect(supervisor.statusCode).toBe(201);
    expect(await ledgerBalance(h, 'writeoff:overdraft-debts')).toBe(1_500);
    h.now.ms = supervisor.json().deadlineMs;
    await runJobs();
    expect((await get(`/v1/refunds/${supervisor.json().id}`)).json()).toMatchObject({ status: 'paid', paidFen: 0, receivableFen: 0 });

    const other = await overdrawn();
    expect((await post(`/v1/cards/${other}/cancellation`, {})).json().code).toBe('card-has-debt');
    expect((await cardStatus(other)).status).toBe('active');
    expect((await post(`/v1/cards/${other}/cancellation`, { debt: { settle: 'pay', paymentSource: 'bank-account' } })).statusCode).toBe(200);
    expect(await shadowBalance(h, other)).toBe(0);
  });
});

describe('change of partner bank (q. 25-26)', () => {
  it('cancels at the old bank with a refund, completes with the new bank’s card, and refuses a second change for 6 months with the date', async () => {
    const ssn = newSsn();
    const { cardNo, card } = await issueCard(h, '3des', { socialSecurityNo: ssn, issuingBank: 'icbc' });
    await loadCard(h, counter, card, cardNo, 3_000, 'b1');
    expect((await post(`/v1/cards/${cardNo}/bank-change`, { toBank: 'icbc', ...REFUND_DESTINATION })).json().code).toBe('same-bank');
    const started = await post(`/v1/cards/${cardNo}/bank-change`, { toBank: 'cmb', ...REFUND_DESTINATION });
    expect(started.statusCode).toBe(201);
    expect(started.json()).toMatchObject({
      oldCard: { status: 'cancelled' },
      refund: { status: 'paid', paidFen: 3_000 },
      bankChange: { fromBank: 'icbc', toBank: 'cmb', completedMs: null },
    });
    // The holder applies at the new bank; the change completes with the new card's issue.
    const application = (
      await post(
        '/v1/card-applications',
        { holderName: 'Test Rider', socialSecurityNo: ssn, issuingBank: 'cmb', profile: 'adult', collection: 'instant' },
        instant,
      )
    ).json();
    expect(application).toMatchObject({ kind: 'application', reason: 'bank-change', issuingBank: 'cmb' });
    h.now.ms = beijing(2026, 3, 20);
    const collected = (await post(`/v1/card-applications/${application.id}/collection`, undefined, instant)).json();
    expect(collected.card.issuingBank).toBe('cmb');

    // Six months after the new card's issue (2026-03-20): possible from 2026-09-20.
    h.now.ms = beijing(2026, 9, 19, 23, 59);
    const cmb = await orgCounter('cmb-1', 'cmb');
    const tooSoon = await post(`/v1/cards/${collected.card.cardNo}/bank-change`, { toBank: 'boc', ...REFUND_DESTINATION }, cmb);
    expect(tooSoon.json()).toMatchObject({ status: 409, code: 'bank-change-too-soon', possibleFrom: '2026-09-20', possibleFromMs: beijing(2026, 9, 20, 0) });
    expect((await cardStatus(collected.card.cardNo)).status).toBe('active');
    h.now.ms = beijing(2026, 9, 20, 0, 1);
    expect((await post(`/v1/cards/${collected.card.cardNo}/bank-change`, { toBank: 'boc', ...REFUND_DESTINATION }, cmb)).statusCode).toBe(201);
  });

  it('one change at a time: while the new card is not issued, the holder’s other card cannot start another', async () => {
    const ssn = newSsn();
    const a = await issueCard(h, '3des', { socialSecurityNo: ssn, issuingBank: 'icbc' });
    const b = await issueCard(h, '3des', { socialSecurityNo: ssn, issuingBank: 'icbc' });
    expect((await post(`/v1/cards/${a.cardNo}/bank-change`, { toBank: 'cmb', ...REFUND_DESTINATION })).statusCode).toBe(201);
    expect((await post(`/v1/cards/${b.cardNo}/bank-change`, { toBank: 'boc', ...REFUND_DESTINATION })).json().code).toBe('bank-change-in-progress');
  });
});

describe('cancellation (q. 33-35)', () => {
  it('at a bank branch the transit balance is refunded like a broken card’s; a service point cancels only the social-security function', async () => {
    const { cardNo, card } = await issueCard(h, '3des', { socialSecurityNo: newSsn() });
    await loadCard(h, counter, card, cardNo, 2_000, 'c1');
    const servicePoint = await orgCounter('sp-2', null);
    // A service point cancels the social-security function only: never the card and its transit purse.
    expect((await post(`/v1/cards/${cardNo}/cancellation`, { ...REFUND_DESTINATION }, servicePoint)).json()).toMatchObject({
      status: 403,
      code: 'channel-not-allowed',
    });
    const ssOnly = await post(`/v1/cards/${cardNo}/cancellation`, { scope: 'social-security' }, servicePoint);
    expect(ssOnly.json()).toMatchObject({ status: 'active', blacklist: null, balanceFen: 2_000 });
    const cancelled = await post(`/v1/cards/${cardNo}/cancellation`, { ...REFUND_DESTINATION });
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', blacklist: { reason: 'cancelled' } });
    expect(await ledgerBalance(h, 'bank:refund-payouts')).toBe(-2_000);
    expect(await shadowBalance(h, cardNo)).toBe(0);
  });
});

describe('lost-card balances (q. 46)', () => {
  it('move to the forfeited account when the replacement is issued; the lost card’s later taps post against it', async () => {
    const { cardNo, card } = await issueCard(h, '3des', { socialSecurityNo: newSsn() });
    await loadCard(h, counter, card, cardNo, 3_000, 'lost');
    const gate = await makeValidator(h, 'gate-lost', 13);
    const finderTap = tap(gate, card, cardNo, 400, START_MS + 120_000);
    await post(`/v1/cards/${cardNo}/loss-reports`, { kind: 'formal' });
    expect((await post(`/v1/cards/${cardNo}/refunds`, REFUND_DESTINATION)).json().code).toBe('lost-card-no-refund');
    expect(await ledgerBalance(h, 'liability:lost-card-forfeited')).toBe(0);
    const replaced = await post(`/v1/cards/${cardNo}/replacement`, {});
    expect(replaced.statusCode).toBe(201);
    expect(replaced.json().card.balanceFen).toBe(0);
    expect(await ledgerBalance(h, 'liability:lost-card-forfeited')).toBe(-3_000);
    expect(await shadowBalance(h, cardNo)).toBe(0);
    // The finder's tap arrives later: paid from the forfeited value, the operator still paid.
    await sync(h, gate, syncRequest(gate, [finderTap], 0));
    expect(await ledgerBalance(h, 'liability:lost-card-forfeited')).toBe(-2_600);
    expect(await ledgerBalance(h, 'revenue:subway')).toBe(-400);
    expect(await shadowBalance(h, cardNo)).toBe(0);
    const reconciliation = (await get('/v1/ledger/reconciliation', h.admin)).json();
    expect(reconciliation).toMatchObject({ ok: true, forfeitedLostBalancesFen: 2_600, forfeitedLostBalances: '26.00' });
    // The operator report shows the day's forfeited balances beside the clearing, never in its totals.
    const clearing = (await get('/v1/reports/clearing?day=2026-03-10', h.admin)).json();
    expect(clearing.lostCardBalances).toEqual({ cards: 1, forfeitedFen: 3_000, lateTapsFen: 400, heldFen: 2_600 });
    expect(clearing.totals.amountFen).toBe(400);
    const csv = await h.app.inject({ method: 'GET', url: '/v1/reports/clearing?day=2026-03-10', headers: { ...h.admin, accept: 'text/csv' } });
    const lines = csv.body
      .replace(/^\uFEFF/, '')
      .trim()
      .split('\r\n');
    const header = lines[0]?.split(',') ?? [];
    const record = lines.find((line) => line.startsWith('lost-card-balances,'))?.split(',') ?? [];
    const cell = (name: string) => record[header.indexOf(name)];
    expect([cell('day'), cell('lost_cards'), cell('amount_fen'), cell('amount_yuan'), cell('late_taps_fen'), cell('forfeited_held_fen')]).toEqual([
      '2026-03-10',
      '1',
      '3000',
      '30.00',
      '400',
      '2600',
    ]);
    // The next day moved nothing; the account still holds what is left.
    const nextDay = (await get('/v1/reports/clearing?day=2026-03-11', h.admin)).json();
    expect(nextDay.lostCardBalances).toEqual({ cards: 0, forfeitedFen: 0, lateTapsFen: 0, heldFen: 2_600 });
  });

  it('without a replacement, move 30 days (configurable) after the formal loss report', async () => {
    const { cardNo, card } = await issueCard(h, '3des', { socialSecurityNo: newSsn() });
    await loadCard(h, counter, card, cardNo, 1_000, 'lost2');
    await post(`/v1/cards/${cardNo}/loss-reports`, { kind: 'formal' });
    h.now.ms = START_MS + 30 * DAY_MS - 1;
    expect((await runJobs()).lostBalancesForfeited).toEqual([]);
    h.now.ms = START_MS + 30 * DAY_MS;
    expect((await runJobs()).lostBalancesForfeited).toEqual([cardNo]);
    expect((await runJobs()).lostBalancesForfeited).toEqual([]);
    expect(await ledgerBalance(h, 'liability:lost-card-forfeited')).toBe(-1_000);
  });
});

describe('park pass: one per holder and year; it moves to the new card with its visits', () => {
  it('refuses a second pass to the same holder, moves the pass at an exchange, and counts the old card’s later entries on the new card', async () => {
    h.now.ms = beijing(2026, 1, 5);
    const ssn = newSsn();
    const a = await issueCard(h, '3des', { socialSecurityNo: ssn });
    const b = await issueCard(h, '3des', { socialSecurityNo: ssn });
    const sell = (cardNo: string, key: string) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/cards/${cardNo}/park-passes`,
        headers: { ...counter, 'idempotency-key': key },
        payload: { challenge: '01020304' },
      });
    expect((await sell(a.cardNo, 'p1')).statusCode).toBe(201);
    const second = await sell(b.cardNo, 'p2');
    expect(second.json()).toMatchObject({ status: 409, code: 'park-pass-holder-has-pass', cardNo: a.cardNo, passYear: 2026 });
    expect(second.json().detail).toContain(a.cardNo);

    // Two pass visits uploaded, a third still in a park gate's journal.
    const parkGate = await makeValidator(h, 'park-1', 21);
    const visit = (atMs: number) => ({ ...tap(parkGate, a.card, a.cardNo, 0, atMs, 'park'), deviceKind: 'park-gate' as const });
    const v1 = visit(beijing(2026, 1, 6, 9));
    const v2 = visit(beijing(2026, 1, 7, 9));
    const v3 = visit(beijing(2026, 1, 8, 9));
    await sync(h, parkGate, syncRequest(parkGate, [v1, v2], 0));
    const exchanged = (await exchange(a.cardNo, { collection: 'instant' }, instant)).json();
    const collected = (await post(`/v1/card-applications/${exchanged.application.id}/collection`, undefined, instant)).json();
    expect(collected.parkPasses).toEqual([{ passYear: 2026, visits: 2 }]);
    const newCard = cardFromImage(collected.cardImage).image();
    expect(newCard.parkPasses[1]).toMatchObject({ year: 2026, visits: 2 });
    // The old card's late entry counts on the new card's pass.
    await sync(h, parkGate, syncRequest(parkGate, [v3], 0));
    const view = (await get(`/v1/cards/${collected.card.cardNo}/park-passes`)).json();
    expect(view.passes).toEqual([{ passYear: 2026, validFrom: 20260101, validUntil: 20270131, visits: 3, cards: [collected.card.cardNo, a.cardNo] }]);
    // Still one pass per holder: the new card holds it.
    expect((await sell(b.cardNo, 'p3')).json()).toMatchObject({ code: 'park-pass-holder-has-pass', cardNo: collected.card.cardNo });
    expect((await sell(collected.card.cardNo, 'p4')).json().code).toBe('park-pass-already-sold');
  });
});

describe('exchange online (q22: where the issuing bank supports it)', () => {
  it('the app exchanges its own broken card only for a bank that offers it, by mail; the balance is refunded as at a counter', async () => {
    // This gateway's banks offer nothing online (the default [U]).
    const { cardNo, card } = await issueCard(h, '3des');
    await loadCard(h, counter, card, cardNo, 2_000, 'online-x-1');
    const app = await appSessionHeaders(h, cardNo);
    const refused = await exchange(cardNo, { collection: 'mail' }, app);
    expect(refused.json()).toMatchObject({ status: 403, code: 'bank-not-online', rule: 'exchange@online' });
    expect((await cardStatus(cardNo)).status).toBe('active');

    const online = await startMoneyGateway({ policies: { channels: { onlineReplacementBanks: ['icbc'] } } });
    try {
      const teller = await counterHeaders(online);
      const issued = await issueCard(online, '3des');
      await loadCard(online, teller, issued.card, issued.cardNo, 3_000, 'online-x-2');
      const own = await appSessionHeaders(online, issued.cardNo);
      const call = (cardNo: string, body: Record<string, unknown>) =>
        online.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/exchange`, headers: own, payload: { reason: 'broken', ...REFUND_DESTINATION, ...body } });
      expect((await call(issued.cardNo, { collection: 'branch' })).json()).toMatchObject({ code: 'invalid-request', field: 'collection' });
      // A change of name is the issuing bank's counter's, never online.
      expect((await call(issued.cardNo, { reason: 'name-change', newHolderName: '新名', collection: 'mail' })).json()).toMatchObject({
        code: 'channel-not-allowed',
        rule: 'name-change@online',
      });
      const done = await call(issued.cardNo, { collection: 'mail' });
      expect(done.statusCode, done.body).toBe(201);
      expect(done.json()).toMatchObject({
        oldCard: { status: 'exchanged', blacklist: { reason: 'exchanged' } },
        application: { kind: 'exchange', reason: 'broken', collection: 'mail' },
        refund: { paidFen: 3_000, status: 'paid' },
      });
    } finally {
      await closeCheckingBooks(online);
    }
  });
});
