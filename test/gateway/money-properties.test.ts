/**
 * Money invariants under generated histories (fast-check): loads confirmed, torn either way or
 * voided; genuine taps on two validators; syncs in any order with retries. After every history,
 * once all records are uploaded and the card's log has been read at a counter: no load is left
 * pending, the back office's shadow balance equals the card's own effective balance, and the
 * books balance (card liability = sum of shadow balances; every posting sums to zero).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JournalRecord } from '#core';
import {
  assertBooksBalance,
  counterHeaders,
  creditLoad,
  initLoad,
  issueCard,
  makeValidator,
  shadowBalance,
  START_MS,
  startMoneyGateway,
  sync,
  syncRequest,
  tap,
  type Validator,
} from './money-fixtures.ts';

type Step =
  | { kind: 'load'; amountFen: number; outcome: 'confirm' | 'torn-credited' | 'torn-not-credited' | 'void' }
  | { kind: 'tap'; device: 0 | 1; amountFen: number }
  | { kind: 'sync'; device: 0 | 1; retry: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('load' as const),
    amountFen: fc.constantFrom(1_000, 2_000, 5_000),
    outcome: fc.constantFrom('confirm' as const, 'torn-credited' as const, 'torn-not-credited' as const, 'void' as const),
  }),
  fc.record({ kind: fc.constant('tap' as const), device: fc.constantFrom(0 as const, 1 as const), amountFen: fc.integer({ min: 0, max: 800 }) }),
  fc.record({ kind: fc.constant('sync' as const), device: fc.constantFrom(0 as const, 1 as const), retry: fc.boolean() }),
);

describe('money invariants', () => {
  it('shadow balance = card balance and the books balance after any history', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        const h = await startMoneyGateway();
        try {
          run++;
          const counter = await counterHeaders(h);
          const { cardNo, card } = await issueCard(h, run % 2 === 0 ? 'sm4' : '3des');
          const devices: Validator[] = [await makeValidator(h, `gate-p${run}-0`, 100 + run * 2), await makeValidator(h, `gate-p${run}-1`, 101 + run * 2)];
          const unsent: JournalRecord[][] = [[], []];
          const sent: JournalRecord[][] = [[], []];
          let clock = START_MS;
          let key = 0;
          for (const s of steps) {
            clock += 60_000;
            h.now.ms = clock;
            if (s.kind === 'load') {
              let body;
              try {
                body = initLoad(card, cardNo, s.amountFen);
              } catch {
                continue; // the card refused INITIALIZE (cap): nothing happened
              }
              const res = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': `p-${key++}` }, payload: body });
              expect(res.statusCode, res.body).toBe(201);
              const load = res.json();
              if (s.outcome === 'void') {
                expect((await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/void`, headers: counter })).statusCode).toBe(200);
              } else if (s.outcome !== 'torn-not-credited') {
                const tac = creditLoad(card, load);
                if (s.outcome === 'confirm') {
                  const ok = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } });
                  expect(ok.statusCode, ok.body).toBe(200);
                }
              }
            } else if (s.kind === 'tap') {
              try {
                unsent[s.device].push(tap(devices[s.device], card, cardNo, s.amountFen, clock));
              } catch {
                // refused (insufficient balance): nothing debited, nothing journaled
              }
            } else {
              const records = s.retry ? [...sent[s.device], ...unsent[s.device]] : unsent[s.device];
              const res = await sync(h, devices[s.device], syncRequest(devices[s.device], records));
              expect(res.status).toBe(200);
              sent[s.device].push(...unsent[s.device]);
              unsent[s.device] = [];
            }
          }
          for (const d of [0, 1] as const) {
            expect((await sync(h, devices[d], syncRequest(devices[d], unsent[d]))).status).toBe(200);
          }
          // A counter reads the card: online ATC and log settle every pending load.
          const image = card.image();
          const log = image.log.map((r) => ({ atc: r.atc, amountFen: r.amountFen, type: r.type }));
          const evidence = await h.app.inject({
            method: 'POST',
            url: `/v1/cards/${cardNo}/log-evidence`,
            headers: counter,
            payload: { onlineAtc: image.onlineAtc, log },
          });
          expect(evidence.statusCode).toBe(200);
          const pending = await h.store.transaction((tx) => tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM loads WHERE status = 'pending'"));
          expect(Number(pending?.n)).toBe(0);
          expect(await shadowBalance(h, cardNo)).toBe(image.balanceFen - image.overdraftUsedFen);
          await assertBooksBalance(h);
        } finally {
          await h.close();
        }
      }),
      { numRuns: 25, seed: 11 },
    );
  });
});
