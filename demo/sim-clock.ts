/** The demo's compressed clock: one shared simulated instant, injected into the gateway and every device. */
export class SimClock {
  constructor(private ms: number) {}

  get nowMs(): number {
    return this.ms;
  }

  /** Moves forward only: events run in time order, so time never goes back. */
  advanceTo(ms: number): void {
    if (ms > this.ms) this.ms = ms;
  }

  readonly now = (): number => this.ms;
}
