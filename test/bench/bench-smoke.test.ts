import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml } from '#demo/svg-chart';

/**
 * Issue 7: "the quick mode also runs inside npm test as a smoke test with loose budgets, so
 * benches never rot". Runs the real CLI (`tsx bench/run.ts --quick --out <tmp>`) over every
 * suite and checks the files it writes (the JSON and its chart beside it).
 */
const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Report {
  mode: string;
  pass: boolean;
  machine: { cpuModel: string; cores: number; node: string; date: string };
  suites: Array<{ suite: string; pass: boolean; failures: string[]; checksums: Array<{ label: string; pass: boolean }> }>;
  tasks: Array<{ suite: string; name: string; samples: number; medianUs: number; p99Us: number; opsPerSec: number; pass: boolean; failures: string[] }>;
  metrics: Array<{ suite: string; name: string; value: number; pass: boolean }>;
}

describe('bench quick mode (every suite)', () => {
  const out = join(dir, 'quick.json');
  let run: SpawnSyncReturns<string>;
  // Listed before the run, so the comparison below holds while suites are being added.
  let suiteFiles: string[] = [];
  beforeAll(() => {
    suiteFiles = readdirSync(join(ROOT, 'bench'))
      .filter((f) => f.endsWith('.bench.ts'))
      .map((f) => f.replace('.bench.ts', ''));
    run = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--quick', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 110_000,
    });
  }, 120_000);
  const report = (): Report => JSON.parse(readFileSync(out, 'utf8')) as Report;

  it('exits 0 and reports PASS', () => {
    expect(suiteFiles.length).toBeGreaterThan(0);
    if (run.status !== 0) {
      // Show which budgets or checksums failed.
      expect(`${run.stdout}\n${run.stderr}`).toBe('exit status 0');
    }
    expect(run.stdout).toContain('PASS');
  });

  it('wrote every suite, each task with samples and a passing loose budget', () => {
    const r = report();
    expect(r.mode).toBe('quick');
    expect(r.pass).toBe(true);
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.machine.node).toMatch(/^v\d+/);
    expect(r.suites.map((s) => s.suite).sort()).toEqual([...suiteFiles].sort());
    for (const s of r.suites) {
      expect(s.failures, s.suite).toEqual([]);
      expect(s.checksums.length, `${s.suite} asserts a checksum`).toBeGreaterThan(0);
      expect(
        s.checksums.every((c) => c.pass),
        s.suite,
      ).toBe(true);
      const tasks = r.tasks.filter((t) => t.suite === s.suite);
      const metrics = r.metrics.filter((m) => m.suite === s.suite);
      expect(tasks.length + metrics.length, `${s.suite} measured something`).toBeGreaterThan(0);
    }
    for (const t of r.tasks) {
      expect(t.samples, `${t.suite} › ${t.name}`).toBeGreaterThan(0);
      expect(Number.isFinite(t.medianUs) && Number.isFinite(t.p99Us), `${t.suite} › ${t.name}`).toBe(true);
      expect(t.failures, `${t.suite} › ${t.name}`).toEqual([]);
      expect(t.pass).toBe(true);
    }
  });

  it('drew the chart beside the JSON: one SVG per suite, every task and metric named (escaped)', () => {
    const htmlPath = join(dir, 'quick.html');
    expect(run.stdout).toContain(`chart to ${htmlPath}`);
    const html = readFileSync(htmlPath, 'utf8');
    expect(html).not.toMatch(/<script/i);
    const r = report();
    expect(html.match(/<svg /g)).toHaveLength(r.suites.length);
    for (const s of r.suites) expect(html).toContain(`data-suite="${escapeHtml(s.suite)}"`);
    for (const t of r.tasks) expect(html, `${t.suite} › ${t.name}`).toContain(escapeHtml(t.name));
    for (const m of r.metrics) expect(html, `${m.suite} › ${m.name}`).toContain(escapeHtml(m.name));
    expect(html).toContain('quick mode');
    expect(html).toContain(r.machine.node);
    expect(html).toMatch(/<div class="ok">PASS/);
  });
});
