/**
 * Due work that time or sync progress makes ready: paying refunds. `runDueJobs` is called after
 * each sync (a drained device may be the last one a refund waits for), by a timer in main
 * (`startJobTimer`), and by POST /v1/ops/jobs/run (tests and the demo drive the injected clock).
 */
import type { Store } from '../store/store-port.ts';
import { refundCardsToSettle, settleDueRefunds } from './refunds.ts';

export interface JobsReport {
  refundsPaid: string[];
  ranAtMs: number;
}

export async function runDueJobs(store: Store, nowMs: number): Promise<JobsReport> {
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
  return { refundsPaid, ranAtMs: nowMs };
}

/** Runs the jobs every `intervalMs`; returns a stop function. Errors are reported, never thrown. */
export function startJobTimer(store: Store, clock: () => number, intervalMs: number, onError: (error: unknown) => void): () => void {
  if (!(intervalMs > 0)) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runDueJobs(store, clock())
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
