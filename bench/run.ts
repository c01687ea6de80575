/**
 * `npm run bench [-- [--quick] [--out file] [--looseness n] [name-filter ...]]`
 *
 * Runs every bench/*.bench.ts suite (or those whose name contains a filter), prints a table,
 * writes bench/results/latest.json (or --out) and a chart of it beside it (latest.html, see
 * bench/report-html.ts), and exits 1 when a budget, a limit or a checksum
 * is missed, 2 on bad arguments (USAGE). Progress goes to stderr, the table to stdout. Arguments
 * are parsed by the project's CLI kit (tools/src/cli.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EXIT_FAILED, EXIT_OK, isEntryScript, parseCommandLine, prepareOutputFile, runCli, UsageError } from '#tools/cli';
import { QUICK_LOOSENESS, describeBudget, describeGc, describeLoad, formatNumber, type BenchReport, type SuiteResult } from './harness.ts';
import { htmlPathFor, renderBenchHtml } from './report-html.ts';
import { runSuite } from './suite-process.ts';

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

export const USAGE = `usage: npm run bench -- [--quick] [--out FILE] [--looseness N] [--retries N] [--list] [filter ...]

  --quick          short runs, budgets x${QUICK_LOOSENESS} looser (also runs in npm test)
  --out FILE       where the results JSON goes (default bench/results/latest.json); the chart goes
                   beside it (x.json -> x.html); its folder is created, and checked writable first
  --looseness N    multiply every budget by N >= 1 (default 1, --quick ${QUICK_LOOSENESS}; env BENCH_LOOSENESS)
  --retries N      extra measurements of a task that missed an absolute budget (default 2 quick, 0 full)
  --list           list the suites (after the filters) and exit
  filter ...       run only suites whose name contains one of these words
  -h, --help       print this text

Exit status: 0 every budget, limit and checksum holds; 1 one is missed, a suite failed, or the
results cannot be written (one line naming the path); 2 usage error (unknown option, a missing or
bad value, no suite matching the filters: one line and this text on stderr).`;

const OPTIONS = {
  quick: { type: 'boolean' },
  list: { type: 'boolean' },
  out: { type: 'string' },
  looseness: { type: 'string' },
  retries: { type: 'string' },
} as const;

/** The command line (name filters are the positionals); throws UsageError. `help` asks for USAGE. */
export function parseArgs(argv: string[]): RunOptions & { help: boolean } {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, Number.POSITIVE_INFINITY);
  const quick = values.quick === true;
  let retries: number | undefined;
  if (values.retries !== undefined) {
    retries = /^[0-9]+$/.test(values.retries) ? Number(values.retries) : Number.NaN;
    if (!Number.isSafeInteger(retries)) throw new UsageError(`--retries must be an integer >= 0, got "${values.retries}"`);
  }
  const given = values.looseness ?? process.env.BENCH_LOOSENESS;
  const looseness = given !== undefined && given !== '' ? Number(given) : quick ? QUICK_LOOSENESS : 1;
  if (!(looseness >= 1) || !Number.isFinite(looseness)) {
    throw new UsageError(`--looseness must be a number >= 1, got "${given}"${values.looseness === undefined ? ' (from BENCH_LOOSENESS)' : ''}`);
  }
  return {
    quick,
    out: values.out !== undefined ? resolve(values.out) : join(BENCH_DIR, 'results', 'latest.json'),
    looseness,
    filters: positionals,
    list: values.list === true,
    retries,
    help: values.help === true,
  };
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

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function renderTable(suites: SuiteResult[]): string {
  const rows: string[][] = [['suite', 'task', 'samples', 'median µs', 'p99 µs', 'ops/s', 'ratio', 'budget', 'pass', 'GC during the task']];
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
        describeGc(t.gc),
      ]);
    }
    for (const m of s.metrics) {
      const limit = [m.appliedMax !== undefined ? `≤${formatNumber(m.appliedMax)}` : '', m.appliedMin !== undefined ? `≥${formatNumber(m.appliedMin)}` : '']
        .join(' ')
        .trim();
      rows.push([s.suite, `${m.name} [${m.unit}]`, '-', formatNumber(m.value), '-', '-', '-', limit || '-', m.pass ? 'ok' : 'FAIL', '-']);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const numeric = new Set([2, 3, 4, 5, 6]);
  const lines = rows.map((r) => r.map((cell, c) => pad(cell, widths[c], numeric.has(c))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  for (const s of suites) {
    lines.push(`machine ${s.suite}: ${describeLoad(s.load)}`);
    for (const c of s.checksums) lines.push(`checksum ${s.suite} › ${c.label}: ${c.pass ? 'ok' : `FAIL (got ${c.actual}, expected ${c.expected})`}`);
    for (const n of s.notes) lines.push(`note ${s.suite}: ${n}`);
    for (const f of s.failures) lines.push(`FAIL ${s.suite}: ${f}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  return runCli('bench', USAGE, () => runBench(argv));
}

async function runBench(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const suites = discoverSuites(options.filters);
  if (options.list) {
    for (const s of suites) process.stdout.write(`${s.name}\n`);
    return EXIT_OK;
  }
  if (suites.length === 0) throw new UsageError(`no suite matches ${options.filters.join(', ') || '(none found)'}`);
  // Before minutes of measurement: the results must have somewhere to go.
  prepareOutputFile(options.out, 'results file');
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
  return pass ? EXIT_OK : EXIT_FAILED;
}

if (isEntryScript(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
