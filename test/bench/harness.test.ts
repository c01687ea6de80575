import { describe, expect, it } from 'vitest';
import { BenchContext, checkBudget, loosen } from '#bench/harness';
import { parseArgs, renderTable } from '#bench/run';

const quickCtx = (looseness = 1) => new BenchContext({ suite: 'unit', quick: true, looseness, timeMs: 10, warmupMs: 2 });

describe('bench harness', () => {
  it('measures tasks, computes ratios to the floor and to a sum of tasks', async () => {
    const ctx = quickCtx();
    let x = 0;
    await ctx.measure([
      { name: 'floor', floor: true, batch: 16, fn: () => (x += 1) },
      {
        name: 'heavier',
        batch: 16,
        fn: () => {
          for (let i = 0; i < 200; i++) x += i;
          return x;
        },
      },
      { name: 'vs sum', ratioTo: ['floor', 'heavier'], fn: () => (x ^= 3) },
    ]);
    ctx.checksum('x is a number', typeof x, 'number');
    const r = ctx.result();
    expect(r.pass).toBe(true);
    const [floor, heavier, vsSum] = r.tasks;
    expect(floor.samples).toBeGreaterThan(0);
    expect(floor.ratioToFloor).toBeNull();
    expect(heavier.ratioTo).toBe('floor');
    expect(heavier.ratioToFloor).toBeCloseTo(heavier.medianUs / floor.medianUs, 6);
    expect(vsSum.ratioTo).toBe('floor + heavier');
    expect(vsSum.ratioToFloor).toBeCloseTo(vsSum.medianUs / (floor.medianUs + heavier.medianUs), 6);
  });

  it('fails a missed budget, a wrong checksum, and a suite without checksum', async () => {
    const ctx = quickCtx();
    await ctx.measure([
      {
        name: 'slow',
        fn: () => {
          const end = performance.now() + 0.05;
          while (performance.now() < end);
        },
        budget: { p50Us: 1 },
      },
    ]);
    ctx.checksum('wrong', 1, 2);
    const r = ctx.result();
    expect(r.pass).toBe(false);
    expect(r.tasks[0].pass).toBe(false);
    expect(r.tasks[0].failures[0]).toMatch(/median .* > 1/);
    expect(r.failures.some((f) => f.startsWith('checksum wrong'))).toBe(true);

    const none = quickCtx();
    none.report({ name: 'external', samples: 10, medianUs: 5, p99Us: 9, opsPerSec: 1000, budget: { p99Us: 10 } });
    const nr = none.result();
    expect(nr.tasks[0].pass).toBe(true);
    expect(nr.failures).toContain('the suite asserted no checksum');
  });

  it('in quick mode re-measures a task that missed an absolute budget, and records the attempts', async () => {
    const ctx = new BenchContext({ suite: 'unit', quick: true, looseness: 1, timeMs: 5, warmupMs: 1, retries: 2 });
    let phase = 0;
    await ctx.measure([
      {
        name: 'slow once',
        minSamples: 10,
        beforeAll: () => {
          phase++;
        },
        fn: () => {
          // Slow during the first attempt's warmup and run (phases 1-2), fast afterwards.
          if (phase <= 2) {
            const end = performance.now() + 0.2;
            while (performance.now() < end);
          }
        },
        budget: { p50Us: 100 },
      },
    ]);
    ctx.checksum('ran', phase > 2, true);
    const r = ctx.result();
    expect(r.tasks[0].attempts).toBe(2);
    expect(r.pass).toBe(true);
  });

  it('loosens budgets in quick mode (times multiplied, throughput divided)', () => {
    expect(loosen({ p50Us: 2, p99Us: 10, minOpsPerSec: 1000, maxRatioToFloor: 3 }, 5)).toEqual({
      p50Us: 10,
      p99Us: 50,
      minOpsPerSec: 200,
      maxRatioToFloor: 15,
    });
    expect(checkBudget({ medianUs: 3, p99Us: 4, opsPerSec: 10, ratioToFloor: null }, { p50Us: 2, minOpsPerSec: 100, maxRatioToFloor: 2 })).toHaveLength(3);
    const ctx = quickCtx(5);
    expect(ctx.metric('rss', 900, 'MB', { max: 200 }).pass).toBe(true);
    expect(ctx.metric('rss2', 1100, 'MB', { max: 200 }).pass).toBe(false);
  });

  it('rejects duplicate task names and two floors', async () => {
    const ctx = quickCtx();
    ctx.report({ name: 'a', samples: 1, medianUs: 1, p99Us: 1, opsPerSec: 1, floor: true });
    expect(() => ctx.report({ name: 'a', samples: 1, medianUs: 1, p99Us: 1, opsPerSec: 1 })).toThrow(/twice/);
    expect(() => ctx.report({ name: 'b', samples: 1, medianUs: 1, p99Us: 1, opsPerSec: 1, floor: true })).toThrow(/two floor/);
  });

  it('parses CLI arguments', () => {
    const o = parseArgs(['--quick', '--out', '/tmp/x.json', 'crypto', 'tap']);
    expect(o).toMatchObject({ quick: true, out: '/tmp/x.json', filters: ['crypto', 'tap'] });
    expect(o.looseness).toBeGreaterThanOrEqual(1);
    expect(parseArgs([]).quick).toBe(false);
    expect(() => parseArgs(['--bogus'])).toThrow("unknown option '--bogus'");
    expect(() => parseArgs(['--looseness', '0.5'])).toThrow(/looseness/);
  });

  it('renders a table with a FAIL line for failures', () => {
    const ctx = quickCtx();
    ctx.report({ name: 'x', samples: 3, medianUs: 5, p99Us: 9, opsPerSec: 200_000, budget: { p50Us: 1 } });
    ctx.checksum('c', 'a', 'a');
    const text = renderTable([ctx.result()]);
    expect(text).toContain('median µs');
    expect(text).toMatch(/FAIL unit: x: median/);
  });
});
