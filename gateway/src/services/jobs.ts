/**
 * Due work that time or sync progress makes ready: paying refunds, the card factory's step
 * (services/card-applications.ts) and moving the balances of lost cards never replaced to the
 * forfeited account (services/lost-card-balances.ts). `runDueJobs` is called after
 * each sync (a drained device may be the last one a refund waits for), by a timer in main
 * (`startJobTimer`), and by POST /v1/ops/jobs/run (tests and the demo drive the injected clock).
 */
import type { Store } from '../store/store-port.ts';
import { advanceCardFactory } from './card-applications.ts';
import { forfeitDueLostBalances, lostBalancesDue } from './lost-card-balances.ts';
import { refundCardsToSettle, settleDueRefunds } from './refunds.ts';
import { closeDueDays, type DayCloseContext } from './day-close.ts';

export interface JobsReport {
  refundsPaid: string[];
  /** Card applications the factory finished (ready or mailed). */
  cardsMade: string[];
  /** Lost cards whose balance moved to the forfeited account (the time rule). */
  lostBalancesForfeited: string[];
  /** Business days closed automatically (services/day-close.ts): every active device synced after the cut-off, or the grace deadline passed. */
  daysClosed: string[];
  /** A business day that was due but did not close (it does not reconcile), and why; null when none. */
  dayCloseRefused: string | null;
  ranAtMs: number;
}

export interface JobOptions {
  /** GatewayPolicies.lostCardForfeitMs. */
  lostCardForfeitMs: number;
  /** When given, business days due to close are closed (not after every sync: the timer and POST /v1/ops/jobs/run). */
  dayClose?: DayCloseContext;
}

export async function runDueJobs(store: Store, nowMs: number, options: JobOptions): Promise<JobsReport> {
  const refundsPaid = await store.transaction(
    async (tx) => {
      // The cards with refund work, locked in card order; then each one settled under its lock
      // (a refund requested after this read waits for the next run, it is not settled unlocked).
      const cardNos = await refundCardsToSettle(tx);
      await tx.lockCards(cardNos);
      const paid: string[] = [];
      for (const cardNo of [...cardNos].sort()) paid.push(...(await settleDueRefunds(tx, nowMs, cardNo)));
      return paid.sort((a, b) => Number(a) - Number(b));
    },
    { isolation: 'read-committed' },
  );
  const cardsMade = await store.transaction((tx) => advanceCardFactory(tx, nowMs));
  const lostBalancesForfeited = await store.transaction(
    async (tx) => {
      // The due cards locked in card order first (they move a card's money), then moved under the lock.
      await tx.lockCards(await lostBalancesDue(tx, nowMs, options.lostCardForfeitMs));
      return forfeitDueLostBalances(tx, nowMs, options.lostCardForfeitMs);
    },
    { isolation: 'read-committed' },
  );
  const days = options.dayClose === undefined ? { closed: [], refused: null } : await closeDueDays(options.dayClose, nowMs);
  return { refundsPaid, cardsMade, lostBalancesForfeited, daysClosed: days.closed, dayCloseRefused: days.refused, ranAtMs: nowMs };
}

/** Runs the jobs every `intervalMs`; returns a stop function. Errors are reported, never thrown. */
export function startJobTimer(store: Store, clock: () => number, intervalMs: number, options: JobOptions, onError: (error: unknown) => void): () => void {
  if (!(intervalMs > 0)) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runDueJobs(store, clock(), options)
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
