import { describe, expect, it } from 'vitest';
import type { BenchReport, MetricResult, TaskResult } from '#bench/harness';
import { htmlPathFor, logScale, renderBenchHtml } from '#bench/report-html';
import { FAIL_COLOR, PASS_COLOR, escapeHtml } from '#demo/svg-chart';

/** The chart bench/run.ts writes next to the results JSON, drawn from fabricated results. */
const EVIL = '<script>alert("x")</script> & co';

function task(suite: string, name: string, over: Partial<TaskResult> = {}): TaskResult {
  return {
    suite,
    name,
    samples: 100,
    batch: 1,
    medianUs: 10,
    p99Us: 40,
    meanUs: 12,
    opsPerSec: 80_000,
    ratioTo: null,
    ratioToFloor: null,
    budget: null,
    appliedBudget: null,
    pass: true,
    failures: [],
    floor: false,
    attempts: 1,
    ...over,
  };
}

function metric(suite: string, name: string, over: Partial<MetricResult> = {}): MetricResult {
  return { suite, name, value: 100, unit: 'MB', pass: true, ...over };
}

function fabricated(): BenchReport {
  const tasks: TaskResult[] = [
    task('crypto', 'floor: one DES block', { floor: true, medianUs: 0.07, p99Us: 0.09 }),
    task('crypto', 'MAC1 3DES', {
      medianUs: 0.3,
      p99Us: 0.5,
      ratioTo: 'floor: one DES block',
      ratioToFloor: 4.3,
      budget: { p50Us: 2, maxRatioToFloor: 12 },
      appliedBudget: { p50Us: 10, maxRatioToFloor: 60 },
    }),
    task('crypto', EVIL, {
      medianUs: 3,
      p99Us: 900,
      ratioTo: 'floor: one DES block',
      ratioToFloor: 42.9,
      budget: { p50Us: 5, p99Us: 100, maxRatioToFloor: 10 },
      appliedBudget: { p50Us: 5, p99Us: 100, maxRatioToFloor: 10 },
      pass: false,
      failures: ['p99 900 µs > 100', 'ratio 42.9 > 10.0'],
    }),
    task('crypto', 'never ran', { samples: 0, medianUs: NaN, p99Us: NaN, opsPerSec: 0, pass: false, failures: ['no samples'] }),
    task('sync "ingest"', 'ingest 5,000 records', {
      medianUs: 180_000,
      p99Us: 400_000,
      opsPerSec: 5,
      budget: { minOpsPerSec: 2 },
      appliedBudget: { minOpsPerSec: 2 },
    }),
  ];
  const metrics: MetricResult[] = [
    metric('sync "ingest"', 'records/s (service)', { value: 24_975, unit: 'records/s', min: 50_000, appliedMin: 50_000, pass: false }),
    metric('sync "ingest"', 'peak RSS', { value: 150, unit: 'MB', max: 200, appliedMax: 200 }),
  ];
  return {
    machine: { cpuModel: 'AMD <EPYC> & "friends"', cores: 2, totalMemoryMb: 24_106, node: 'v20.20.2', platform: 'linux-x64', date: '2026-11-27T00:32:36.810Z' },
    mode: 'quick',
    looseness: 5,
    pass: false,
    suites: [
      {
        suite: 'crypto',
        quick: true,
        checksums: [{ label: 'MAC1 <fixed>', actual: 'C2F8', expected: 'C2F8', pass: true }],
        notes: ['<img src=x onerror=alert(1)>'],
        pass: false,
        failures: [`${EVIL}: p99 900 µs > 100`],
        durationMs: 1234,
      },
      { suite: 'sync "ingest"', quick: true, checksums: [], notes: [], pass: false, failures: ['records/s (service) outside its limits'], durationMs: 5678 },
    ],
    tasks,
    metrics,
  };
}

describe('bench chart (bench/report-html.ts)', () => {
  const html = renderBenchHtml(fabricated());

  it('is one self-contained page: no scripts, no external resources', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/<link|@import|url\(|<[a-z]+[^>]*\s(src|href)=/i);
    // The only URL is the SVG namespace.
    expect(html.match(/https?:\/\/[^"\s]+/g)?.every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
  });

  it('escapes every name, note, failure and the machine', () => {
    expect(html).toContain(escapeHtml(EVIL));
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co');
    expect(html).toContain('AMD &lt;EPYC&gt; &amp; &quot;friends&quot;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('data-suite="sync &quot;ingest&quot;"');
    expect(html).toContain('MAC1 &lt;fixed&gt;');
  });

  it('has a header with machine, mode and overall result', () => {
    expect(html).toContain('2 cores');
    expect(html).toContain('node v20.20.2');
    expect(html).toContain('2026-11-27T00:32:36.810Z');
    expect(html).toContain('quick mode (budgets and limits loosened ×5.00)');
    expect(html).toMatch(/<div class="bad">FAIL/);
    expect(renderBenchHtml({ ...fabricated(), pass: true, mode: 'full', looseness: 1 })).toMatch(
      /<div class="ok">PASS.*full mode \(strict budgets\)|full mode \(strict budgets\)[\s\S]*<div class="ok">PASS/,
    );
  });

  it('draws one SVG per suite, every task with median and p99 bars, budgets as lines, pass/fail colours', () => {
    expect(html.match(/<svg /g)).toHaveLength(2);
    for (const t of fabricated().tasks) expect(html, t.name).toContain(escapeHtml(t.name));
    const bar = (name: string, stat: string): string => {
      const m = new RegExp(`<rect [^>]*fill="([^"]+)"[^>]*><title>${escapeRegExp(escapeHtml(`${name}: ${stat} `))}`).exec(html);
      expect(m, `${name} ${stat} bar`).not.toBeNull();
      return m![1];
    };
    expect(bar(EVIL, 'median')).toBe(PASS_COLOR);
    expect(bar(EVIL, 'p99')).toBe(FAIL_COLOR);
    expect(bar('MAC1 3DES', 'median')).toBe(PASS_COLOR);
    // Budget lines carry the applied budget, and the declared one when quick mode loosened it.
    expect(html).toContain('<title>budget: p99 ≤ 100 µs</title>');
    expect(html).toContain('<title>budget: median ≤ 10.0 µs (declared ≤ 2.00)</title>');
    // The failing task is marked, its failures in the tooltip; no samples: no bar, said so.
    expect(html).toContain(`✗ ${escapeHtml(EVIL)}`);
    expect(html).toContain(escapeHtml(`${EVIL}: p99 900 µs > 100; ratio 42.9 > 10.0`));
    expect(html).not.toContain('never ran: median');
    expect(html).toMatch(/class="v f">no samples</);
  });

  it('writes the ratio to the floor with its budget, and throughput against its minimum', () => {
    expect(html).toMatch(/class="v">(<title>[^<]*<\/title>)?×4\.30 floor {2}\(≤ 60\.0\)</);
    expect(html).toMatch(/class="v f">(<title>[^<]*<\/title>)?×42\.9 floor {2}\(≤ 10\.0\)</);
    expect(html).toContain('floor (ratio 1)');
    expect(html).toMatch(/5\.00 ops\/s {2}\(≥ 2\.00\)/);
  });

  it('draws the metrics against their limits', () => {
    expect(html).toMatch(/class="v f">24,975 records\/s</);
    expect(html).toMatch(/class="v f">(<title>[^<]*<\/title>)?limit ≥ 50,000</);
    expect(html).toMatch(/class="v">(<title>[^<]*<\/title>)?limit ≤ 200</);
    expect(html).toContain('<title>limit ≥ 50,000 records/s</title>');
    const rss = /<rect [^>]*fill="([^"]+)"[^>]*><title>peak RSS: 150 MB, limit ≤ 200 MB<\/title>/.exec(html);
    expect(rss?.[1]).toBe(PASS_COLOR);
  });
});

describe('logScale', () => {
  it('covers every value with whole decades and clamps 0 and NaN to the left end', () => {
    const s = logScale([0.004, 3, 5_338_929, NaN, 0], 0, 100);
    expect(s.ticks).toEqual([0.001, 0.01, 0.1, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000]);
    expect(s.x(0.001)).toBe(0);
    expect(s.x(1e7)).toBe(100);
    expect(s.x(0)).toBe(0);
    expect(s.x(NaN)).toBe(0);
    expect(s.x(1)).toBeCloseTo(30, 6);
    expect(s.x(10)).toBeGreaterThan(s.x(3));
    expect(logScale([1000], 0, 10).ticks).toEqual([1000, 10_000]);
    expect(logScale([], 0, 10).ticks).toEqual([1, 10]);
  });
});

describe('htmlPathFor', () => {
  it('puts the page beside the JSON with the same basename', () => {
    expect(htmlPathFor('/repo/bench/results/latest.json')).toBe('/repo/bench/results/latest.html');
    expect(htmlPathFor('/tmp/q.JSON')).toBe('/tmp/q.html');
    expect(htmlPathFor('/tmp/results')).toBe('/tmp/results.html');
    expect(htmlPathFor('/tmp/x.html')).toBe('/tmp/x.html.html');
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
