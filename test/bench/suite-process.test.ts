import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allocationPerCall, BenchContext, collectGarbage, describeLoad, watchGc } from '#bench/harness';
import { renderBenchHtml } from '#bench/report-html';
import { renderTable } from '#bench/run';
import { isolateSuites, runSuiteInChild } from '#bench/suite-process';

/**
 * Issue 19 part 3: suites in their own process, the machine's load with each suite, GC pauses
 * per task and heap bytes allocated per call, so a tap's own tail can be told from the box's.
 */
const dir = mkdtempSync(join(tmpdir(), 'bench-suite-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HARNESS = join(import.meta.dirname, '..', '..', 'bench', 'harness.ts');

const options = { quick: true, looseness: 1, retries: 0 };

describe('bench measurement infrastructure', () => {
  it('allocationPerCall counts heap bytes per call: ~0 for arithmetic, the arrays a function keeps making', () => {
    let x = 0;
    const none = allocationPerCall(() => (x = (x + 7) | 0), 20_000);
    expect(none.bytesPerCall).toBeLessThan(8);
    const sink: unknown[] = new Array(64);
    let i = 0;
    // 64 live at a time: many scavenges in 200k calls, which must be counted as freed bytes.
    const some = allocationPerCall(() => (sink[i++ & 63] = [i, i, i, i, i, i, i, i]), 200_000);
    // An 8-element array: a JSArray header and an 8-slot FixedArray, at least 64 bytes.
    expect(some.bytesPerCall).toBeGreaterThan(64);
    expect(some.bytesPerCall).toBeLessThan(400);
    expect(some.gcs).toBeGreaterThan(0);
  });

  it('watchGc sees a collection and its pause', async () => {
    const done = watchGc();
    expect(collectGarbage()).toBe(true);
    const gc = await done();
    expect(gc.count).toBeGreaterThanOrEqual(1);
    expect(gc.major).toBeGreaterThanOrEqual(1);
    expect(gc.pauseMs).toBeGreaterThan(0);
    expect(gc.maxPauseMs).toBeLessThanOrEqual(gc.pauseMs);
  });

  it('records each task its GCs and each suite the load average and CPU count', async () => {
    const ctx = new BenchContext({ suite: 'unit', quick: true, looseness: 1, timeMs: 20, warmupMs: 2 });
    const keep: unknown[] = [];
    await ctx.measure([{ name: 'allocating', batch: 16, fn: () => keep.push(new Array(4096).fill(1)) && keep.length > 64 && keep.splice(0, 32) }]);
    const m = ctx.allocation('bytes per call', () => [1, 2, 3], 1_000, { max: 10_000 });
    ctx.checksum('ran', keep.length > 0, true);
    const r = ctx.result();
    expect(r.tasks[0].gc).not.toBeNull();
    expect(r.tasks[0].gc!.count).toBeGreaterThan(0);
    expect(m.bytesPerCall).toBeGreaterThan(0);
    expect(r.metrics[0]).toMatchObject({ name: 'bytes per call', unit: 'B/call', max: 10_000, pass: true });
    expect(r.load!.cpus).toBe(cpus().length);
    expect(r.load!.loadAvgStart).toHaveLength(3);
    expect(r.load!.loadAvgEnd).toHaveLength(3);
    expect(r.load!.ownProcess).toBe(false);
    expect(renderTable([r])).toContain(`machine unit: ${describeLoad(r.load)}`);
    const html = renderBenchHtml({
      machine: { cpuModel: 'x', cores: 2, totalMemoryMb: 1, node: 'v20', platform: 'linux', date: 'd' },
      mode: 'quick',
      looseness: 1,
      pass: r.pass,
      suites: [{ ...r }],
      tasks: r.tasks,
      metrics: r.metrics,
    });
    expect(html).toContain('Garbage collections while each task was measured');
    expect(html).toContain(`on ${cpus().length} CPUs`);
  });

  it('runs a suite in a child process of its own, with --expose-gc, and brings its result back', async () => {
    const file = join(dir, 'pid.bench.ts');
    writeFileSync(
      file,
      `import type { BenchContext } from ${JSON.stringify(HARNESS)};
export default async function suite(ctx: BenchContext) {
  ctx.metric('pid', process.pid, 'pid');
  ctx.checksum('gc exposed', typeof (globalThis as { gc?: unknown }).gc, 'function');
  ctx.checksum('NaN survives', String(Number.NaN), 'NaN');
  return ctx.result();
}
`,
    );
    const r = await runSuiteInChild('pid', file, options);
    expect(r.failures).toEqual([]);
    expect(r.pass).toBe(true);
    expect(r.metrics[0].value).not.toBe(process.pid);
    expect(r.load!.ownProcess).toBe(true);
  }, 30_000);

  it('a suite process that dies gives a failed suite naming how it ended', async () => {
    const file = join(dir, 'dies.bench.ts');
    writeFileSync(file, 'export default async function suite() {\n  process.exit(7);\n}\n');
    const r = await runSuiteInChild('dies', file, options);
    expect(r.pass).toBe(false);
    expect(r.failures.join(' ')).toContain('exited with status 7');
  }, 30_000);
});

describe('quick mode on a busy machine', () => {
  const n = cpus().length;
  /** A task whose p99 (300 µs) misses its 100 µs budget by 3x, at a given load average. */
  const at = (quick: boolean, load: number) => {
    const ctx = new BenchContext({ suite: 'busy', quick, looseness: 1, timeMs: 10, warmupMs: 1, loadAvg: () => [load, load, load] });
    ctx.report({ name: 'p99 300 µs', samples: 200, medianUs: 50, p99Us: 300, opsPerSec: 20_000, budget: { p50Us: 60, p99Us: 100, minOpsPerSec: 50_000 } });
    ctx.metric('records/s', 300, 'records/s', { min: 1000 });
    ctx.metric('MB', 300, 'MB', { max: 100 });
    ctx.checksum('ran', 1, 1);
    return ctx.result();
  };

  it('scales p99 budgets and minimum throughputs (not medians, not maxima) by load / CPUs in quick mode only, and says so', () => {
    const busy = at(true, 1.5 * n);
    expect(busy.tasks[0].appliedBudget).toEqual({ p50Us: 60, p99Us: 150, minOpsPerSec: 50_000 / 1.5 });
    expect(busy.tasks[0].pass).toBe(false);
    expect(busy.notes.join(' ')).toContain('p99 budgets also ×1.50, minimum throughputs ÷1.50');
    const busier = at(true, 4 * n);
    // Twice as busy as the CPUs or more: no p99 check at all.
    expect(busier.tasks[0].appliedBudget).toEqual({ p50Us: 60, minOpsPerSec: 12_500 });
    expect(busier.metrics.map((m) => [m.appliedMin, m.appliedMax])).toEqual([
      [250, undefined],
      [undefined, 100],
    ]);
    // Everything but the 300 MB over its 100 MB maximum.
    expect(busier.failures).toEqual(['MB = 300 MB outside its limits']);
    expect(busier.notes.join(' ')).toContain('p99 budgets not checked, minimum throughputs ÷4.00');
    const idle = at(true, n / 2);
    expect(idle.tasks[0].appliedBudget).toEqual({ p50Us: 60, p99Us: 100, minOpsPerSec: 50_000 });
    expect(idle.tasks[0].pass).toBe(false);
    expect(idle.metrics[0].pass).toBe(false);
    expect(idle.notes).toEqual([]);
    const full = at(false, 4 * n);
    expect(full.tasks[0].appliedBudget!.p99Us).toBe(100);
    expect(full.tasks[0].pass).toBe(false);
    expect(full.load!.loadAvgStart).toEqual([4 * n, 4 * n, 4 * n]);
  });
});

describe('where suites run', () => {
  it('own processes in full runs, the runner in quick mode, BENCH_ISOLATE overriding both', () => {
    expect(isolateSuites(false, {})).toBe(true);
    expect(isolateSuites(true, {})).toBe(false);
    expect(isolateSuites(true, { BENCH_ISOLATE: '1' })).toBe(true);
    expect(isolateSuites(false, { BENCH_ISOLATE: '0' })).toBe(false);
  });
});
