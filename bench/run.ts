/**
 * `npm run bench [-- [--quick] [--out file] [--looseness n] [name-filter ...]]`
 *
 * Runs every bench/*.bench.ts suite (or those whose name contains a filter), prints a table,
 * writes bench/results/latest.json (or --out) and a chart of it beside it (latest.html, see
 * bench/report-html.ts), and exits 1 when a budget, a limit or a checksum
 * is missed, 2 on bad arguments. Progress goes to stderr, the table to stdout.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BenchContext,
  FULL_TIME_MS,
  FULL_WARMUP_MS,
  QUICK_LOOSENESS,
  QUICK_TIME_MS,
  QUICK_WARMUP_MS,
  describeBudget,
  formatNumber,
  type BenchReport,
  type Suite,
  type SuiteResult,
} from './harness.ts';
import { htmlPathFor, renderBenchHtml } from './report-html.ts';

/**
 * Writes the kernel's dirty page cache out before a suite: suites measure durable commits, and an
 * fsync waits for whatever else the file system has to write back (the test run or the previous
 * suite can leave hundreds of MB, flushed in the background for ~30 s: group-commit fsyncs of
 * 100-200 ms in the middle of a measurement). Best effort: no `sync` command, no flush.
 */
function flushDirtyPages(): void {
  spawnSync('sync', { stdio: 'ignore', timeout: 60_000 });
}

const BENCH_DIR = import.meta.dirname;

export interface RunOptions {
  quick: boolean;
  out: string;
  looseness: number;
  filters: string[];
  list: boolean;
  retries: number | undefined;
}

export function parseArgs(argv: string[]): RunOptions {
  const options: RunOptions = { quick: false, out: join(BENCH_DIR, 'results', 'latest.json'), looseness: NaN, filters: [], list: false, retries: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--list') options.list = true;
    else if (arg === '--out') options.out = resolve(requireValue(argv, ++i, '--out'));
    else if (arg === '--looseness') options.looseness = Number(requireValue(argv, ++i, '--looseness'));
    else if (arg === '--retries') {
      options.retries = Number(requireValue(argv, ++i, '--retries'));
      if (!Number.isInteger(options.retries) || options.retries < 0) throw new UsageError('--retries must be an integer >= 0');
    } else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    else options.filters.push(arg);
  }
  const envLooseness = process.env.BENCH_LOOSENESS;
  if (Number.isNaN(options.looseness)) options.looseness = envLooseness ? Number(envLooseness) : options.quick ? QUICK_LOOSENESS : 1;
  if (!(options.looseness >= 1)) throw new UsageError('--looseness must be a number >= 1');
  return options;
}

class UsageError extends Error {}

function requireValue(argv: string[], i: number, flag: string): string {
  const v = argv[i];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  return v;
}

export function discoverSuites(filters: string[]): Array<{ name: string; file: string }> {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.bench.ts'.length), file: join(BENCH_DIR, f) }))
    .filter((s) => filters.length === 0 || filters.some((flt) => s.name.includes(flt)));
}

function machineInfo() {
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    totalMemoryMb: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  };
}

async function runSuite(name: string, file: string, options: RunOptions): Promise<SuiteResult> {
  const ctx = new BenchContext({
    suite: name,
    quick: options.quick,
    looseness: options.looseness,
    timeMs: options.quick ? QUICK_TIME_MS : FULL_TIME_MS,
    warmupMs: options.quick ? QUICK_WARMUP_MS : FULL_WARMUP_MS,
    retries: options.retries,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const started = performance.now();
  try {
    const mod = (await import(pathToFileURL(file).href)) as { default?: Suite };
    if (typeof mod.default !== 'function') throw new Error(`${file} has no default export suite(ctx) (see bench/README.md, "Writing a suite")`);
    const result = await mod.default(ctx);
    if (!result || !Array.isArray(result.tasks)) throw new Error('suite did not return ctx.result()');
    return result;
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`  ${name} FAILED: ${message}\n`);
    const partial = ctx.result();
    return {
      ...partial,
      pass: false,
      failures: [`suite threw: ${error instanceof Error ? error.message : String(error)}`, ...partial.failures],
      durationMs: performance.now() - started,
    };
  }
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function renderTable(suites: SuiteResult[]): string {
  const rows: string[][] = [['suite', 'task', 'samples', 'median µs', 'p99 µs', 'ops/s', 'ratio', 'budget', 'pass']];
  for (const s of suites) {
    for (const t of s.tasks) {
      rows.push([
        s.suite,
        t.floor ? `${t.name} (floor)` : t.name,
        String(t.samples),
        formatNumber(t.medianUs),
        formatNumber(t.p99Us),
        formatNumber(t.opsPerSec),
        t.ratioToFloor === null ? '-' : formatNumber(t.ratioToFloor),
        describeBudget(t.appliedBudget),
        t.pass ? 'ok' : 'FAIL',
      ]);
    }
    for (const m of s.metrics) {
      const limit = [m.appliedMax !== undefined ? `≤${formatNumber(m.appliedMax)}` : '', m.appliedMin !== undefined ? `≥${formatNumber(m.appliedMin)}` : '']
        .join(' ')
        .trim();
      rows.push([s.suite, `${m.name} [${m.unit}]`, '-', formatNumber(m.value), '-', '-', '-', limit || '-', m.pass ? 'ok' : 'FAIL']);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const numeric = new Set([2, 3, 4, 5, 6]);
  const lines = rows.map((r) => r.map((cell, c) => pad(cell, widths[c], numeric.has(c))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  for (const s of suites) {
    for (const c of s.checksums) lines.push(`checksum ${s.suite} › ${c.label}: ${c.pass ? 'ok' : `FAIL (got ${c.actual}, expected ${c.expected})`}`);
    for (const n of s.notes) lines.push(`note ${s.suite}: ${n}`);
    for (const f of s.failures) lines.push(`FAIL ${s.suite}: ${f}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let options: RunOptions;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\nusage: tsx bench/run.ts [--quick] [--out file] [--looseness n] [--retries n] [--list] [filter ...]\n`);
      return 2;
    }
    throw error;
  }
  const suites = discoverSuites(options.filters);
  if (options.list) {
    for (const s of suites) process.stdout.write(`${s.name}\n`);
    return 0;
  }
  if (suites.length === 0) {
    process.stderr.write(`bench: no suite matches ${options.filters.join(', ') || '(none found)'}\n`);
    return 2;
  }
  process.stderr.write(`bench: ${suites.length} suite(s), ${options.quick ? 'quick' : 'full'} mode, looseness x${options.looseness}\n`);
  const results: SuiteResult[] = [];
  for (const s of suites) {
    process.stderr.write(`${s.name}\n`);
    flushDirtyPages();
    results.push(await runSuite(s.name, s.file, options));
  }
  const pass = results.every((r) => r.pass);
  const report: BenchReport = {
    machine: machineInfo(),
    mode: options.quick ? 'quick' : 'full',
    looseness: options.looseness,
    pass,
    suites: results.map(({ tasks: _tasks, metrics: _metrics, ...rest }) => rest),
    tasks: results.flatMap((r) => r.tasks),
    metrics: results.flatMap((r) => r.metrics),
  };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  const htmlOut = htmlPathFor(options.out);
  writeFileSync(htmlOut, renderBenchHtml(report));
  process.stdout.write(`${renderTable(results)}\n`);
  process.stdout.write(`${pass ? 'PASS' : 'FAIL'}: results written to ${options.out}, chart to ${htmlOut}\n`);
  return pass ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
