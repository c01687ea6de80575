/**
 * A plain ANSI progress bar on stderr (no dependency): phase, bar, done/total and counters.
 * Redrawn at most every 100 ms; when stderr is not a terminal only phase changes are printed.
 */
export class ProgressBar {
  private phase = '';
  private phaseStartMs = 0;
  private lastDrawMs = 0;
  /** Wall-clock milliseconds spent in each phase (kept even when the bar is not drawn). */
  readonly phasesMs: Record<string, number> = {};
  private readonly tty: boolean;

  constructor(
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  start(phase: string): void {
    this.closePhase();
    this.phase = phase;
    this.phaseStartMs = performance.now();
    if (!this.enabled) return;
    this.lastDrawMs = 0;
    if (!this.tty) this.stream.write(`${phase}...\n`);
  }

  update(done: number, total: number, counters: Record<string, number | string> = {}): void {
    if (!this.enabled || !this.tty) return;
    const now = Date.now();
    if (now - this.lastDrawMs < 100 && done < total) return;
    this.lastDrawMs = now;
    const width = 30;
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const extra = Object.entries(counters)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    const phase = this.phase.padEnd(22).slice(0, 22);
    this.stream.write(`\r\x1b[2K\x1b[36m${phase}\x1b[0m ${bar} ${String(Math.round(ratio * 100)).padStart(3)}% ${done}/${total}  ${extra}`);
  }

  private closePhase(): void {
    if (this.phase === '') return;
    this.phasesMs[this.phase] = Math.round((this.phasesMs[this.phase] ?? 0) + performance.now() - this.phaseStartMs);
    if (this.enabled && this.tty && this.lastDrawMs > 0) this.stream.write('\n');
  }

  finish(): void {
    this.closePhase();
    this.phase = '';
  }
}
