/**
 * The bench results as a self-contained HTML page (no scripts, no external resources), written
 * by bench/run.ts next to the JSON: a header (machine, mode, overall pass), then one inline SVG
 * per suite with each task's median and p99 on a log scale in µs, its budgets as lines,
 * pass/fail colours, its ratio to the suite's floor and its throughput, and the suite's metrics
 * against their limits. Re-render a saved JSON with `tsx bench/report-html.ts <results.json>`.
 */
import { writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { type CliIo, EXIT_OK, FileError, isEntryScript, parseCommandLine, processIo, readTextFile, runCli, UsageError } from '#tools/cli';
import { FAIL_COLOR, PALETTE, PASS_COLOR, escapeHtml, htmlPage, htmlTable, svgFigure, svgLine, svgRect, svgText, type Cell } from '#demo/svg-chart';
import { describeLoad, formatNumber, type BenchReport, type Budget, type MetricResult, type TaskResult } from './harness.ts';

/** Where the page goes: `x.json` → `x.html`; any other path gets `.html` appended. */
export function htmlPathFor(jsonPath: string): string {
  return extname(jsonPath).toLowerCase() === '.json' ? `${jsonPath.slice(0, -'.json'.length)}.html` : `${jsonPath}.html`;
}

export interface LogScale {
  lo: number;
  hi: number;
  /** x of a value; values outside [lo, hi] (and 0, NaN) are clamped to the ends. */
  x: (value: number) => number;
  /** Every power of ten from lo to hi. */
  ticks: number[];
}

/** A log10 scale over whole decades covering every positive finite value, mapped to [x0, x1]. */
export function logScale(values: number[], x0: number, x1: number): LogScale {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  const a = positive.length > 0 ? Math.floor(Math.log10(Math.min(...positive)) + 1e-9) : 0;
  let b = positive.length > 0 ? Math.ceil(Math.log10(Math.max(...positive)) - 1e-9) : 1;
  if (b <= a) b = a + 1;
  const ticks: number[] = [];
  for (let k = a; k <= b; k++) ticks.push(Number((10 ** k).toPrecision(1)));
  const x = (value: number): number => {
    const l = Number.isFinite(value) && value > 0 ? Math.min(b, Math.max(a, Math.log10(value))) : a;
    return x0 + ((l - a) / (b - a)) * (x1 - x0);
  };
  return { lo: ticks[0], hi: ticks[ticks.length - 1], x, ticks };
}

function tickLabel(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(v);
}

const NEUTRAL = PALETTE[0];
const FLOOR_COLOR = PALETTE[7];
const WIDTH = 940;
const PLOT_X0 = 60;
const PLOT_X1 = 560;
const VALUE_X = 572;
const SIDE_X = 748;
const BAR_H = 11;

/** "≤ 5 µs" with the declared value when quick mode loosened it. */
function limitText(op: '≤' | '≥', applied: number | undefined, declared: number | undefined, unit: string): string {
  if (applied === undefined) return '';
  const loosened = declared !== undefined && declared !== applied ? ` (declared ${op} ${formatNumber(declared)})` : '';
  return `${op} ${formatNumber(applied)}${unit}${loosened}`;
}

function statColor(value: number, limit: number | undefined, task: TaskResult): string {
  if (limit !== undefined) return value <= limit ? PASS_COLOR : FAIL_COLOR;
  return task.floor ? FLOOR_COLOR : NEUTRAL;
}

function taskRows(tasks: TaskResult[], scale: LogScale, top: number): { svg: string; bottom: number } {
  const parts: string[] = [];
  let y = top;
  for (const t of tasks) {
    const applied: Budget = t.appliedBudget ?? {};
    const declared: Budget = t.budget ?? {};
    const label = `${t.pass ? '' : '✗ '}${t.name}${t.floor && !/^floor\b/i.test(t.name) ? ' (floor)' : ''}`;
    parts.push(svgText(0, y + 12, label, { class: t.pass ? 'n' : 'n f' }, t.failures.length > 0 ? `${t.name}: ${t.failures.join('; ')}` : t.name));
    const stats: Array<{ stat: 'median' | 'p99'; value: number; limit: number | undefined; declared: number | undefined }> = [
      { stat: 'median', value: t.medianUs, limit: applied.p50Us, declared: declared.p50Us },
      { stat: 'p99', value: t.p99Us, limit: applied.p99Us, declared: declared.p99Us },
    ];
    stats.forEach((s, i) => {
      const rowY = y + 17 + i * (BAR_H + 3);
      const textY = rowY + BAR_H - 1;
      parts.push(svgText(PLOT_X0 - 6, textY, s.stat, { 'text-anchor': 'end', class: 's' }));
      const measured = Number.isFinite(s.value) && t.samples > 0;
      const budget = limitText('≤', s.limit, s.declared, ' µs');
      if (measured) {
        const color = statColor(s.value, s.limit, t);
        parts.push(
          svgRect(
            PLOT_X0,
            rowY,
            scale.x(s.value) - PLOT_X0,
            BAR_H,
            color,
            `${t.name}: ${s.stat} ${formatNumber(s.value)} µs${budget ? `, budget ${budget}` : ''}`,
            {
              'fill-opacity': s.stat === 'p99' ? 0.6 : undefined,
            },
          ),
        );
      }
      if (s.limit !== undefined) {
        const bx = scale.x(s.limit);
        parts.push(svgLine(bx, rowY - 2, bx, rowY + BAR_H + 2, '#222', { 'stroke-width': 2 }, `budget: ${s.stat} ${budget}`));
      }
      const over = measured && s.limit !== undefined && !(s.value <= s.limit);
      const valueText = measured ? `${formatNumber(s.value)} µs${s.limit !== undefined ? `  (≤ ${formatNumber(s.limit)})` : ''}` : 'no samples';
      parts.push(svgText(VALUE_X, textY, valueText, { class: over || !measured ? 'v f' : 'v' }, budget ? `budget ${budget}` : undefined));
      parts.push(i === 0 ? ratioText(t, applied, declared, textY) : opsText(t, applied, declared, textY));
    });
    y += 17 + 2 * (BAR_H + 3) + 10;
  }
  return { svg: parts.join('\n'), bottom: y };
}

function ratioText(t: TaskResult, applied: Budget, declared: Budget, y: number): string {
  if (t.floor) return svgText(SIDE_X, y, 'floor (ratio 1)', { class: 's' });
  if (t.ratioToFloor === null) {
    return applied.maxRatioToFloor !== undefined ? svgText(SIDE_X, y, 'ratio: no floor', { class: 'v f' }) : svgText(SIDE_X, y, 'no floor', { class: 's' });
  }
  const limit = applied.maxRatioToFloor;
  const over = limit !== undefined && !(t.ratioToFloor <= limit);
  const text = `×${formatNumber(t.ratioToFloor)} floor${limit !== undefined ? `  (≤ ${formatNumber(limit)})` : ''}`;
  const budget = limitText('≤', limit, declared.maxRatioToFloor, '');
  return svgText(SIDE_X, y, text, { class: over ? 'v f' : 'v' }, `median ÷ median of ${t.ratioTo ?? 'the floor'}${budget ? `, budget ${budget}` : ''}`);
}

function opsText(t: TaskResult, applied: Budget, declared: Budget, y: number): string {
  const limit = applied.minOpsPerSec;
  const over = limit !== undefined && !(t.opsPerSec >= limit);
  const text = `${formatNumber(t.opsPerSec)} ops/s${limit !== undefined ? `  (≥ ${formatNumber(limit)})` : ''}`;
  const budget = limitText('≥', limit, declared.minOpsPerSec, ' ops/s');
  return svgText(SIDE_X, y, text, { class: over ? 'v f' : limit === undefined ? 's' : 'v' }, budget ? `budget ${budget}` : undefined);
}

function metricRows(metrics: MetricResult[], top: number): { svg: string; bottom: number } {
  const parts = [svgText(0, top + 10, 'metrics: linear scale from 0, one per unit; a black line is a limit', { class: 's' })];
  const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
  const unitMax = new Map<string, number>();
  for (const m of metrics) {
    const biggest = Math.max(0, ...[m.value, m.appliedMax, m.appliedMin].filter(finite));
    unitMax.set(m.unit, Math.max(unitMax.get(m.unit) ?? 0, biggest));
  }
  let y = top + 16;
  for (const m of metrics) {
    parts.push(svgText(0, y + 12, `${m.pass ? '' : '✗ '}${m.name}`, { class: m.pass ? 'n' : 'n f' }));
    const rowY = y + 17;
    const limits = [m.appliedMax, m.appliedMin].filter(finite);
    const value = Number.isFinite(m.value) ? Math.max(0, m.value) : 0;
    const ref = (unitMax.get(m.unit) ?? 0) * 1.1 || 1;
    const x = (v: number): number => PLOT_X0 + (Math.max(0, v) / ref) * (PLOT_X1 - PLOT_X0);
    const color = limits.length === 0 ? NEUTRAL : m.pass ? PASS_COLOR : FAIL_COLOR;
    const limitDesc = [limitText('≤', m.appliedMax, m.max, ` ${m.unit}`), limitText('≥', m.appliedMin, m.min, ` ${m.unit}`)].filter(Boolean).join(', ');
    parts.push(
      svgRect(PLOT_X0, rowY, x(value) - PLOT_X0, BAR_H, color, `${m.name}: ${formatNumber(m.value)} ${m.unit}${limitDesc ? `, limit ${limitDesc}` : ''}`),
    );
    for (const [op, lim] of [
      ['≤', m.appliedMax],
      ['≥', m.appliedMin],
    ] as const) {
      if (lim === undefined) continue;
      parts.push(svgLine(x(lim), rowY - 2, x(lim), rowY + BAR_H + 2, '#222', { 'stroke-width': 2 }, `limit ${op} ${formatNumber(lim)} ${m.unit}`));
    }
    parts.push(svgText(VALUE_X, rowY + BAR_H - 1, `${formatNumber(m.value)} ${m.unit}`, { class: m.pass ? 'v' : 'v f' }));
    const shortLimit = [
      m.appliedMax !== undefined ? `≤ ${formatNumber(m.appliedMax)}` : '',
      m.appliedMin !== undefined ? `≥ ${formatNumber(m.appliedMin)}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    parts.push(
      svgText(
        SIDE_X,
        rowY + BAR_H - 1,
        shortLimit ? `limit ${shortLimit}` : 'no limit',
        { class: shortLimit && !m.pass ? 'v f' : shortLimit ? 'v' : 's' },
        limitDesc || undefined,
      ),
    );
    y += 17 + BAR_H + 10;
  }
  return { svg: parts.join('\n'), bottom: y };
}

/** One suite's chart: tasks on a shared log axis, then its metrics. */
export function suiteChart(suite: string, pass: boolean, tasks: TaskResult[], metrics: MetricResult[]): string {
  const parts: string[] = [];
  let y = 28;
  if (tasks.length > 0) {
    const values = tasks.flatMap((t) => [t.medianUs, t.p99Us, t.appliedBudget?.p50Us ?? NaN, t.appliedBudget?.p99Us ?? NaN]);
    const scale = logScale(values, PLOT_X0, PLOT_X1);
    const axisY = y + 12;
    const rows = taskRows(tasks, scale, axisY + 6);
    scale.ticks.forEach((tick, i) => {
      const x = scale.x(tick);
      const anchor = i === 0 ? 'start' : i === scale.ticks.length - 1 ? 'end' : 'middle';
      parts.push(svgLine(x, axisY + 4, x, rows.bottom - 6, '#ddd'));
      parts.push(svgText(x, axisY, tickLabel(tick), { 'text-anchor': anchor, class: 's' }));
    });
    parts.push(svgText(0, axisY, 'µs (log)', { class: 's' }, 'microseconds per operation, log scale: 1k µs = 1 ms, 1M µs = 1 s'));
    parts.push(svgText(VALUE_X, axisY, 'µs  (budget)', { class: 's' }));
    parts.push(svgText(SIDE_X, axisY, 'ratio to floor / ops/s  (budget)', { class: 's' }));
    parts.push(rows.svg);
    y = rows.bottom;
  }
  if (metrics.length > 0) {
    const rows = metricRows(metrics, y);
    parts.push(rows.svg);
    y = rows.bottom;
  }
  if (tasks.length === 0 && metrics.length === 0) {
    parts.push(svgText(0, y + 14, 'nothing measured', { class: 'v f' }));
    y += 24;
  }
  return svgFigure(`${suite}: ${pass ? 'PASS' : 'FAIL'}`, WIDTH, y + 4, `\n${parts.join('\n')}`, { 'data-suite': suite });
}

const EXTRA_CSS = `svg{max-width:100%;height:auto}svg .n{font-weight:600}svg .f{fill:${FAIL_COLOR};font-weight:600}
td.p{color:${PASS_COLOR};font-weight:600}td.f{color:${FAIL_COLOR};font-weight:600}
.legend span{display:inline-block;width:12px;height:10px;margin:0 4px 0 10px;vertical-align:baseline}
.legend i{display:inline-block;width:2px;height:12px;background:#222;margin:0 4px 0 10px;vertical-align:middle}
ul.fails{color:${FAIL_COLOR}}.small{color:#666;font-size:12px}`;

/** The garbage collections during each measured task (tasks a suite timed itself have none recorded). */
function gcTable(tasks: TaskResult[]): string {
  const watched = tasks.filter((t) => t.gc);
  if (watched.length === 0) return '';
  const rows: Cell[][] = watched.map((t) => [
    t.name,
    t.gc!.count,
    t.gc!.major,
    formatNumber(t.gc!.pauseMs),
    formatNumber(t.gc!.maxPauseMs),
    formatNumber(t.samples > 0 ? (t.gc!.pauseMs * 1000) / (t.samples * t.batch) : Number.NaN),
  ]);
  return `<p class="small">Garbage collections while each task was measured (warm-up included):</p>${htmlTable(
    ['task', 'GCs', 'major', 'pause total ms', 'longest ms', 'pause µs per measured call'],
    rows,
  )}`;
}

export function renderBenchHtml(report: BenchReport): string {
  const m = report.machine;
  const loosened = report.looseness !== 1 ? `budgets and limits loosened ×${formatNumber(report.looseness)}` : 'strict budgets';
  const suiteFailures = report.suites.flatMap((s) => s.failures.map((f) => `${s.suite}: ${f}`));
  const verdict = report.pass
    ? `<div class="ok">PASS: every budget, limit and checksum holds (${report.suites.length} suite${report.suites.length === 1 ? '' : 's'})</div>`
    : `<div class="bad">FAIL<ul>${(suiteFailures.length > 0 ? suiteFailures : ['see the suites below']).map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul></div>`;
  const legend = `<p class="legend small">Bars: <span style="background:${PASS_COLOR}"></span>within its budget <span style="background:${FAIL_COLOR}"></span>over its budget <span style="background:${NEUTRAL}"></span>no budget on this number <span style="background:${FLOOR_COLOR}"></span>the suite's floor (the primitive the others are compared to); the lighter bar is the p99 <i></i>budget. Times in µs per operation on a log scale (1k µs = 1 ms); hover for details.</p>`;
  const summaryRows: Cell[][] = report.suites.map((s) => {
    const tasks = report.tasks.filter((t) => t.suite === s.suite);
    const metrics = report.metrics.filter((x) => x.suite === s.suite);
    return [
      s.suite,
      `${tasks.filter((t) => t.pass).length}/${tasks.length}`,
      `${metrics.filter((x) => x.pass).length}/${metrics.length}`,
      `${s.checksums.filter((c) => c.pass).length}/${s.checksums.length}`,
      (s.durationMs / 1000).toFixed(1),
      s.load ? `${formatNumber(s.load.loadAvgStart[0] ?? Number.NaN)} → ${formatNumber(s.load.loadAvgEnd[0] ?? Number.NaN)} / ${s.load.cpus}` : '-',
      s.pass ? { text: 'ok', cls: 'p' } : { text: 'FAIL', cls: 'f' },
    ];
  });
  const sections = report.suites.map((s) => {
    const tasks = report.tasks.filter((t) => t.suite === s.suite);
    const metrics = report.metrics.filter((x) => x.suite === s.suite);
    const failures = s.failures.length > 0 ? `<ul class="fails">${s.failures.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul>` : '';
    const checksums =
      s.checksums.length > 0
        ? `<p class="small">Checksums: ${s.checksums.map((c) => `${escapeHtml(c.label)} ${c.pass ? 'ok' : `<b>FAIL</b> (got ${escapeHtml(c.actual)}, expected ${escapeHtml(c.expected)})`}`).join('; ')}.</p>`
        : '<p class="small"><b>No checksum asserted.</b></p>';
    const notes = s.notes.length > 0 ? `<ul class="small">${s.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '';
    const load = `<p class="small">Machine: ${escapeHtml(describeLoad(s.load))}.</p>`;
    return `<h2>${escapeHtml(s.suite)}</h2>\n${suiteChart(s.suite, s.pass, tasks, metrics)}\n${failures}${load}${gcTable(tasks)}${checksums}${notes}`;
  });
  const body = [
    '<h1>Bench results</h1>',
    `<p class="meta">${escapeHtml(`${m.cpuModel} · ${m.cores} cores · ${formatNumber(m.totalMemoryMb)} MB · node ${m.node} · ${m.platform} · ${m.date}`)}</p>`,
    `<p class="meta">${escapeHtml(`${report.mode} mode (${loosened})`)}</p>`,
    verdict,
    legend,
    htmlTable(['suite', 'tasks ok', 'metrics ok', 'checksums ok', 'seconds', 'load (1 min) start → end / CPUs', 'result'], summaryRows),
    ...sections,
  ];
  return htmlPage(`Bench ${report.mode} ${report.pass ? 'PASS' : 'FAIL'} · ${m.date}`, body.join('\n'), EXTRA_CSS);
}

export const REDRAW_USAGE = `usage: tsx bench/report-html.ts <results.json>

Redraws the chart of saved bench results beside them (x.json -> x.html).

Exit status: 0 written; 1 the results cannot be read or are not bench results (one line naming
the file); 2 usage error (one line and this text on stderr).`;

/** `tsx bench/report-html.ts <results.json>`: the chart of a saved run. */
export function redrawMain(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCli(
    'bench report',
    REDRAW_USAGE,
    () => {
      const { values, positionals } = parseCommandLine(argv, {}, 1);
      if (values.help) {
        io.out(REDRAW_USAGE);
        return EXIT_OK;
      }
      const input = positionals[0];
      if (input === undefined) throw new UsageError('give the results JSON to draw');
      let report: BenchReport;
      try {
        report = JSON.parse(readTextFile(input, 'results file')) as BenchReport;
      } catch (error) {
        if (error instanceof SyntaxError) throw new FileError(input, 'not JSON (a results file written by bench/run.ts is)');
        throw error;
      }
      if (report === null || typeof report !== 'object' || !Array.isArray(report.tasks) || !Array.isArray(report.suites)) {
        throw new FileError(input, 'not bench results (no tasks and suites)');
      }
      const out = htmlPathFor(resolve(input));
      writeFileSync(out, renderBenchHtml(report));
      io.out(`chart written to ${out}`);
      return EXIT_OK;
    },
    io,
  );
}

if (isEntryScript(import.meta.url)) {
  redrawMain(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
