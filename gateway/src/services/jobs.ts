/**
 * Due work that time or sync progress makes ready: paying refunds. `runDueJobs` is called after
 * each sync (a drained device may be the last one a refund waits for), by a timer in main
 * (`startJobTimer`), and by POST /v1/ops/jobs/run (tests and the demo drive the injected clock).
 */
import type { Store } from '../store/store-port.ts';
import { settleDueRefunds } from './refunds.ts';

export interface JobsReport {
  refundsPaid: string[];
  ranAtMs: number;
}

export async function runDueJobs(store: Store, nowMs: number): Promise<JobsReport> {
  const refundsPaid = await store.transaction((tx) => settleDueRefunds(tx, nowMs));
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
