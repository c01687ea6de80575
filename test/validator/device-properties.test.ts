/**
 * Money invariant of the device under any sequence of taps, tears and crashes (fast-check):
 * after every card has tapped until no torn purchase is left, each card's balance equals its
 * starting balance minus the debits in the journal, no debit is journaled twice (card, ATC),
 * and the device sequences are 1..N without a gap.
 *
 * A crash is modelled in-process: the card wrapper throws right after a chosen command (the
 * device never reaches its commit, exactly like a SIGKILL at that point), then the device is
 * closed and reopened from its file. crash.test.ts does the same with real SIGKILLs.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { effectiveBalanceFen, type CardPort } from '#core';
import type { Device } from '#validator/device';
import { CardWallet, type PersistentCard } from '#validator/rider/card-wallet';
import { MORNING_MS, createDevice, issueCards, openDevice, profile } from './device-fixtures.ts';
import { tempDir } from './temp-db.ts';

type Fault = 'none' | 'tear-before' | 'tear-after' | 'die-after-init' | 'die-after-debit';
type Action = { kind: 'tap'; card: number; fault: Fault } | { kind: 'restart' };

const CARDS = 3;
const START_FEN = 5_000;

function dying(card: PersistentCard, after: 'initializeForPurchase' | 'debitForPurchase'): CardPort {
  return new Proxy(card, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const answer = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (prop === after) throw new Error('killed');
        return answer;
      };
    },
  });
}

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('validator-prop-');
});
afterEach(() => tmp.cleanup());

describe('device money invariant under taps, tears and crashes', () => {
  it('balances equal starting balance minus journaled debits, each debit once, sequences gapless', () => {
    let run = 0;
    const action = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('tap' as const),
          card: fc.integer({ min: 0, max: CARDS - 1 }),
          fault: fc.constantFrom<Fault>('none', 'none', 'tear-before', 'tear-after', 'die-after-init', 'die-after-debit'),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
    );
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 14 }), (actions: Action[]) => {
        run++;
        const dbPath = tmp.file(`bus-${run}.db`);
        const wallet = new CardWallet(tmp.file(`cards-${run}.db`));
        const cards = issueCards(wallet, CARDS, START_FEN, run * 10);
        const initialAtc = new Map(cards.map((c) => [c, wallet.image(c).offlineAtc]));
        let device: Device = createDevice(dbPath, profile(`PROP-BUS-${run}`, 'bus', { busLine: 1 }));
        let nowMs = MORNING_MS;
        const restart = (): void => {
          device.close();
          device = openDevice(dbPath);
        };
        try {
          for (const a of actions) {
            nowMs += 7 * 60_000;
            if (a.kind === 'restart') {
              restart();
              continue;
            }
            const card = wallet.present(cards[a.card]);
            if (a.fault === 'tear-before') card.simulator.tearAt({ command: 'debitForPurchase', moment: 'before-write' });
            if (a.fault === 'tear-after') card.simulator.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
            if (a.fault === 'die-after-init' || a.fault === 'die-after-debit') {
              const port = dying(card, a.fault === 'die-after-init' ? 'initializeForPurchase' : 'debitForPurchase');
              let died = false;
              try {
                device.tap(port, nowMs);
              } catch (error) {
                if ((error as Error).message !== 'killed') throw error;
                died = true;
              }
              // A card with an unsettled torn purchase makes no new purchase, so it may not die.
              if (died) restart();
              continue;
            }
            device.tap(card, nowMs);
          }
          // Settle: every card taps until the device holds no torn purchase for it.
          for (let round = 0; round < 6 && device.pending.count() > 0; round++) {
            for (const cardNo of cards) {
              if (device.pending.forCard(cardNo).length === 0) continue;
              nowMs += 7 * 60_000;
              device.tap(wallet.present(cardNo), nowMs);
            }
          }
          expect(device.pending.count()).toBe(0);
          const journal = device.journal.all();
          expect(journal.map((r) => r.deviceSeq)).toEqual(journal.map((_, i) => i + 1));
          const debits = journal.filter((r) => r.cardAction === 'debit');
          const keys = debits.map((r) => `${r.cardNo}/${r.offlineAtc}`);
          expect(new Set(keys).size).toBe(keys.length);
          for (const cardNo of cards) {
            const paid = debits.filter((r) => r.cardNo === cardNo).reduce((s, r) => s + r.amountFen, 0);
            expect(effectiveBalanceFen(wallet.image(cardNo))).toBe(START_FEN - paid);
            // The journal's ATC chain per card has no hole: every debit the card made is there.
            const atcs = debits
              .filter((r) => r.cardNo === cardNo)
              .map((r) => r.offlineAtc)
              .sort((x, y) => x - y);
            const first = initialAtc.get(cardNo) as number;
            const now = wallet.image(cardNo).offlineAtc;
            expect(atcs).toEqual(Array.from({ length: now - first }, (_, i) => first + i));
          }
        } finally {
          device.close();
          wallet.close();
        }
      }),
      { numRuns: 30 },
    );
  });
});
