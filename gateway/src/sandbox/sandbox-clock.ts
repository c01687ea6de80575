/**
 * The sandbox clock: real time plus an offset that only grows, so sandbox time flows like real
 * time and can be moved forward (POST /v1/sandbox/clock), never back. The offset is kept in the
 * sandbox database (sandbox_meta), so a restarted sandbox keeps its time.
 */
import { isoBeijing } from '../http/wire.ts';
import type { Store } from '../store/store-port.ts';
import { readMeta, writeMeta } from './sandbox-db.ts';

const OFFSET_KEY = 'clock-offset-ms';

export class ClockBackwardsError extends Error {
  override readonly name = 'ClockBackwardsError';
}

export class SandboxClock {
  #offsetMs: number;

  private constructor(
    private readonly store: Store,
    private readonly realNow: () => number,
    offsetMs: number,
  ) {
    this.#offsetMs = offsetMs;
  }

  /** The clock of a sandbox database (its saved offset, else none). */
  static async open(store: Store, realNow: () => number = Date.now): Promise<SandboxClock> {
    const saved = Number(await readMeta(store, OFFSET_KEY));
    return new SandboxClock(store, realNow, Number.isSafeInteger(saved) && saved > 0 ? saved : 0);
  }

  /** Sandbox time, epoch ms: what the gateway's `clock` reads. */
  readonly now = (): number => this.realNow() + this.#offsetMs;

  get offsetMs(): number {
    return this.#offsetMs;
  }

  /** Moves sandbox time to `targetMs`, which may not be earlier than now (ClockBackwardsError). */
  async moveTo(targetMs: number): Promise<{ fromMs: number; toMs: number }> {
    const fromMs = this.now();
    if (!Number.isSafeInteger(targetMs) || targetMs < fromMs) {
      throw new ClockBackwardsError(`the sandbox clock moves forward only: ${isoBeijing(targetMs)} is before its time ${isoBeijing(fromMs)}`);
    }
    const offsetMs = targetMs - this.realNow();
    await this.store.transaction((tx) => writeMeta(tx, OFFSET_KEY, String(offsetMs)));
    this.#offsetMs = offsetMs;
    return { fromMs, toMs: targetMs };
  }
}
