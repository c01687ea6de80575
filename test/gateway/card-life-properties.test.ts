/**
 * Money invariants of the card's life at the counter (issue 16) under generated histories
 * (fast-check): loads and genuine taps on several holders' cards, then each card closed by a
 * broken-card exchange, a change of partner bank or a cancellation, an overdrawn card's debt paid
 * in or written off by a supervisor first, and every closing request sent again. After every step
 * the books balance (card liability = sum of shadow balances, every posting sums to zero, the
 * reconciliation route says 0.00); an overdrawn card's closing without a debt settlement is refused
 * and changes nothing; a retry changes nothing; and once every device has synced and every refund
 * deadline has passed, each closed card's balance was paid out exactly once (never negative): one
 * refund per card, paid its balance at closing, and the bank payouts total the sum of those.
 * Every other cancellation is made by an agent with a death certificate (q33): its refund goes to
 * the account given with those documents, every other refund to the holder's.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CardSimulator } from '#core';
import {
  assertBooksBalance,
  counterHeaders,
  issueCard,
  loadCard,
  makeValidator,
  type MoneyHarness,
  REFUND_DESTINATION,
  shadowBalance,
  startMoneyGateway,
  sync,
  syncRequest,
  tap,
  type Validator,
} from './money-fixtures.ts';

const CARDS = 3;
type Close = 'exchange' | 'bank-change' | 'cancellation';
type Step =
  | { kind: 'load'; card: number; amountFen: number }
  | { kind: 'tap'; card: number; amountFen: number }
  | { kind: 'close'; card: number; how: Close; settle: 'pay' | 'write-off' };

const cardIndex = fc.integer({ min: 0, max: CARDS - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('load' as const), card: cardIndex, amountFen: fc.constantFrom(1_000, 2_000, 5_000) }),
  fc.record({ kind: fc.constant('tap' as const), card: cardIndex, amountFen: fc.integer({ min: 0, max: 1_800 }) }),
  fc.record({
    kind: fc.constant('close' as const),
    card: cardIndex,
    how: fc.constantFrom('exchange' as const, 'bank-change' as const, 'cancellation' as const),
    settle: fc.constantFrom('pay' as const, 'write-off' as const),
  }),
);

/** A counter of a new organisation: a branch of icbc (the cards' issuing bank), teller or supervisor. */
async function icbcCounter(h: MoneyHarness, id: string, staffRole: 'teller' | 'supervisor'): Promise<Record<string, string>> {
  const org = await h.app.inject({
    method: 'POST',
    url: '/v1/organisations',
    headers: h.admin,
    payload: { id, name: id, channelKind: 'bank-branch', bankId: 'icbc', branchId: id },
  });
  if (org.statusCode !== 201) throw new Error(`organisation: ${org.statusCode} ${org.body}`);
  const token = await h.app.inject({
    method: 'POST',
    url: '/v1/auth/tokens',
    headers: h.admin,
    payload: { role: 'counter', label: id, organisationId: id, staffRole },
  });
  if (token.statusCode !== 201) throw new Error(`token: ${token.statusCode} ${token.body}`);
  return { authorization: `Bearer ${token.json().token}` };
}

/** Every ledger account's balance (fen), as the balances route shows them. */
async function ledger(h: MoneyHarness): Promise<Record<string, number>> {
  const res = await h.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: h.admin });
  return Object.fromEntries(res.json().accounts.map((a: { account: string; balanceFen: number }) => [a.account, a.balanceFen]));
}
const nonZero = (balances: Record<string, number>) => Object.fromEntries(Object.entries(balances).filter(([, v]) => v !== 0));

interface CardState {
  cardNo: string;
  card: CardSimulator;
  closed: boolean;
  /** The balance the card's refund must pay: max(0, shadow balance at closing), its debt settled first. */
  payoutFen: number;
  /** The account its refund must go to: the holder's, or the one an agent gave with the death certificate. */
  destination: string;
}

const HEIR_DESTINATION = { destinationAccount: '6222020200998877665544', destinationName: '李四' };
const DEATH_AGENT = { actingAs: 'agent', idNumber: '110105198512240018', name: '李四', document: { kind: 'death-certificate', reference: 'SW-1' } };

describe('card life money invariants', () => {
  it('after any history of loads, taps, exchanges, bank changes, cancellations and debts: books at 0.00 after every step, each balance paid out once', async () => {
    let run = 0;
    /** What the histories covered (the seed is fixed): each closing kind, debts paid in and written off, refunds paid. */
    const seen = { exchange: 0, 'bank-change': 0, cancellation: 0, byAgent: 0, pay: 0, 'write-off': 0, paidOut: 0, retries: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 3, maxLength: 12 }), async (steps) => {
        run++;
        const h = await startMoneyGateway();
        try {
          const teller = await counterHeaders(h);
          const supervisor = await icbcCounter(h, `icbc-sup-${run}`, 'supervisor');
          const gate: Validator = await makeValidator(h, `gate-life-${run}`, 300 + run);
          const cards: CardState[] = [];
          for (let i = 0; i < CARDS; i++) {
            const ssn = `1101011990030${String(run).padStart(2, '0')}${i}${i}X`;
            const issued = await issueCard(h, i % 2 === 0 ? '3des' : 'sm4', { socialSecurityNo: ssn, issuingBank: 'icbc' });
            cards.push({ ...issued, closed: false, payoutFen: 0, destination: '' });
          }
          let key = 0;
          let listingVersion = 0;
          for (const s of steps) {
            h.now.ms += 60_000;
            const c = cards[s.card];
            if (c.closed) continue; // the old card was collected at the counter: no more loads or taps
            if (s.kind === 'load') {
              await loadCard(h, teller, c.card, c.cardNo, s.amountFen, `life-${run}-${key++}`);
            } else if (s.kind === 'tap') {
              let record: ReturnType<typeof tap>;
              try {
                record = tap(gate, c.card, c.cardNo, s.amountFen, h.now.ms);
              } catch {
                continue; // the card refused the purchase (beyond its overdraft): nothing happened
              }
              const answer = await sync(h, gate, syncRequest(gate, [record], listingVersion));
              expect(answer.status).toBe(200);
              listingVersion = answer.response!.blacklistVersion;
            } else {
              // Every other cancellation (the first, the third, …) is made by an agent after the holder's death
              // (q33): its refund goes to the account given with the documents (derived, so the seed's histories stay).
              const byAgent = s.how === 'cancellation' && seen.cancellation % 2 === 0;
              const balance = await shadowBalance(h, c.cardNo);
              const url =
                s.how === 'exchange'
                  ? `/v1/cards/${c.cardNo}/exchange`
                  : s.how === 'bank-change'
                    ? `/v1/cards/${c.cardNo}/bank-change`
                    : `/v1/cards/${c.cardNo}/cancellation`;
              const base =
                s.how === 'exchange'
                  ? { reason: 'broken', collection: 'branch', ...REFUND_DESTINATION }
                  : s.how === 'bank-change'
                    ? { toBank: 'cmb', ...REFUND_DESTINATION }
                    : byAgent
                      ? { ...HEIR_DESTINATION, agent: DEATH_AGENT }
                      : { ...REFUND_DESTINATION };
              c.destination = s.how === 'cancellation' && byAgent ? HEIR_DESTINATION.destinationAccount : REFUND_DESTINATION.destinationAccount;
              const before = await ledger(h);
              if (balance < 0) {
                // A debt, not a refund: refused until it is settled, and nothing changes.
                const refused = await h.app.inject({ method: 'POST', url, headers: teller, payload: base });
                expect(refused.json()).toMatchObject({ status: 409, code: 'card-has-debt', debtFen: -balance });
                expect(await ledger(h)).toEqual(before);
                await assertBooksBalance(h);
              }
              const debt = balance < 0 ? { debt: s.settle === 'pay' ? { settle: 'pay', paymentSource: 'cash' } : { settle: 'write-off' } } : {};
              const headers = balance < 0 && s.settle === 'write-off' ? supervisor : teller;
              const payload = { ...base, ...debt };
              const done = await h.app.inject({ method: 'POST', url, headers, payload });
              expect([200, 201], done.body).toContain(done.statusCode);
              c.closed = true;
              seen[s.how]++;
              if (s.how === 'cancellation' && byAgent) seen.byAgent++;
              if (balance < 0) seen[s.settle]++;
              c.payoutFen = Math.max(0, balance);
              const after = await ledger(h);
              if (balance < 0) {
                const account = s.settle === 'pay' ? 'payment:cash' : 'writeoff:overdraft-debts';
                expect((after[account] ?? 0) - (before[account] ?? 0)).toBe(-balance);
              }
              // A debt settled leaves nothing owed; a positive balance waits for its refund (the gate saw the card).
              expect(await shadowBalance(h, c.cardNo)).toBe(c.payoutFen);
              await assertBooksBalance(h);
              // The same request again (a retry after a lost answer) changes nothing.
              const retry = await h.app.inject({ method: 'POST', url, headers, payload });
              expect(retry.statusCode, retry.body).toBeLessThan(500);
              expect(await ledger(h)).toEqual(after);
              seen.retries++;
            }
            await assertBooksBalance(h);
          }

          // The gate downloads the listing; every refund deadline passes; the jobs run twice.
          const listing = await sync(h, gate, syncRequest(gate, [], listingVersion));
          expect(listing.status).toBe(200);
          await sync(h, gate, syncRequest(gate, [], listing.response!.blacklistVersion));
          h.now.ms += 3 * 86_400_000;
          for (let i = 0; i < 2; i++) {
            const jobs = await h.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h.admin });
            expect(jobs.statusCode).toBe(200);
          }
          await assertBooksBalance(h);

          // Each closed card: one refund, paid exactly its balance at closing, never negative.
          let expectedOut = 0;
          for (const c of cards) {
            const rows = await h.store.transaction((tx) =>
              tx.all<{ status: string; paid_fen: number | null; destination_account: string }>(
                'SELECT status, paid_fen, destination_account FROM refunds WHERE card_no = ?',
                [c.cardNo],
              ),
            );
            if (!c.closed) {
              expect(rows).toEqual([]);
              continue;
            }
            expect(rows).toHaveLength(1);
            expect(rows[0].status).toBe('paid');
            expect(Number(rows[0].paid_fen)).toBe(c.payoutFen);
            expect(rows[0].destination_account).toBe(c.destination);
            expect(await shadowBalance(h, c.cardNo)).toBe(0);
            expectedOut += c.payoutFen;
            if (c.payoutFen > 0) seen.paidOut++;
          }
          const books = await ledger(h);
          expect(books['bank:refund-payouts'] ?? 0).toBe(0 - expectedOut);
          const liability = nonZero(books)['liability:card-purse'] ?? 0;
          let held = 0;
          for (const c of cards) held += await shadowBalance(h, c.cardNo);
          expect(liability).toBe(0 - held);
        } finally {
          await h.close();
        }
      }),
      { numRuns: 8, seed: 20261207 },
    );
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(0);
    // 21 s alone on the 2-core box; room for a suite run beside other workers.
  }, 180_000);
});
