/**
 * The city-scale run's report: a text summary for the terminal and a self-contained HTML page
 * (inline SVG, no scripts) with the stages, the throughput at each checkpoint, memory and disk.
 * `npx tsx demo/city-scale/scale-report.ts <report.json>` redraws the page of a saved run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { escapeHtml, htmlPage, htmlTable, PALETTE, svgFigure, svgLine, svgRect, svgText } from '../svg-chart.ts';
import type { ScaleReport } from './scale-run.ts';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const yuan = (fen: number): string => (fen / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** The sentence that says which records took which path. */
export function pathsSentence(r: ScaleReport): string {
  return (
    `${int(r.records.viaDevicePath)} records went through the real device code path (Device.tap with a card simulator, PSAM, ` +
    `intent and journal commit) on ${r.plan.sampleDevices} sample validators used by ${int(r.plan.sampleCards)} sample riders; ` +
    `${int(r.records.viaBulkGenerator)} came from the bulk generator (core's decideTap and each card's own TAC, the same record ` +
    `fields) and were staged into the other ${r.plan.devices - r.plan.sampleDevices} validators' SQLite journals by the device's ` +
    `journal code (synchronous=${r.tuning.bulkJournal.toUpperCase()}). All were uploaded by the validator's SyncClient.`
  );
}

export function renderScaleText(r: ScaleReport): string {
  const lines: string[] = [];
  lines.push(`City-scale day ${r.day} (${r.preset}, ${r.store}, seed ${r.seed}): ${r.ok ? 'RECONCILED' : 'FAILED'}`);
  lines.push(
    `machine: ${r.machine.cpuModel}, ${r.machine.cores} cores, node ${r.machine.node}; load average before ${r.machine.loadAverageBefore.join(' ')}, after ${r.machine.loadAverageAfter.join(' ')}`,
  );
  const t = r.plan.tapsByOperator;
  lines.push(
    `records: ${int(r.records.total)} (subway ${int(t.subway)}, bus ${int(t.bus)}, P+R ${int(t.pr)}, park ${int(t.park)}) from ${int(r.plan.cards)} cards provisioned in bulk on ${r.plan.devices} validators`,
  );
  lines.push(pathsSentence(r));
  lines.push('');
  const rows = r.stages.map((s) => [s.timed ? 'timed' : 'setup', s.name, sec(s.wallMs), s.recordsPerSec === null ? '-' : `${int(s.recordsPerSec)}/s`, s.note]);
  const width = [5, Math.max(...rows.map((x) => x[1].length)), 9, 11];
  for (const row of rows)
    lines.push(`${row[0].padEnd(width[0])}  ${row[1].padEnd(width[1])}  ${row[2].padStart(width[2])}  ${row[3].padStart(width[3])}  ${row[4]}`);
  lines.push(`timed stages: ${sec(r.timedMs)} (${(r.timedMs / 60_000).toFixed(1)} min)`);
  lines.push('');
  lines.push(
    `peak RSS: generator and validators ${int(r.memory.generatorPeakRssMb)} MB, gateway ${int(r.memory.gatewayPeakRssMb)} MB (limit ${int(r.memory.limitMb)} MB per process)`,
  );
  lines.push(
    `disk: gateway database ${gib(r.disk.gatewayDbBytes)}, validator databases ${gib(r.disk.deviceDbBytes)}; free before ${gib(r.disk.freeBeforeBytes)} (asked for ${gib(r.disk.neededBytes)}); ${r.disk.cleanedUp ? 'state deleted after the run' : 'state kept'}`,
  );
  const wal = r.tuning.walCheckpoints;
  lines.push(
    `gateway WAL: emptied ${wal.count} times by a TRUNCATE checkpoint every ${int(r.tuning.walCheckpointEvery)} acknowledged records (largest WAL ${gib(wal.largestWalBytes)}, ${sec(wal.ms)} in all); gateway SQLite page cache ${r.tuning.gatewaySqliteCacheMiB} MiB`,
  );
  if (r.checkpoints.length > 0) {
    lines.push('checkpoints (records generated: generate/s, ingest/s over the interval):');
    lines.push(`  ${r.checkpoints.map((c) => `${(c.generated / 1e6).toFixed(1)}M: ${int(c.generateRate)}, ${int(c.ingestRate)}`).join(' | ')}`);
  }
  lines.push(
    r.bend === null
      ? 'ingest throughput: no checkpoint below 80% of the first'
      : `ingest throughput bends at ${(r.bend.atRecords / 1e6).toFixed(1)} M records: ${int(r.bend.rate)}/s against ${int(r.bend.firstRate)}/s at the first checkpoint`,
  );
  if (r.reconciliation !== null) {
    lines.push(
      `ledger: discrepancy ${yuan(r.reconciliation.discrepancyFen)}, postings sum ${yuan(r.reconciliation.postingsBalanceFen)}, card liability ${yuan(r.reconciliation.cardLiabilityFen)} = opening ${yuan(r.expected.openingTotalFen)} - debited ${yuan(r.expected.debitedFen)}`,
    );
  }
  lines.push(`day close: ${r.dayClose.note}`);
  for (const f of r.failures) lines.push(`FAIL: ${f}`);
  return lines.join('\n');
}

/** Throughput per checkpoint: generate and ingest records/s against records generated. */
function throughputChart(r: ScaleReport): string {
  const points = r.checkpoints.filter((c) => c.generateRate > 0 || c.ingestRate > 0);
  const width = 900;
  const height = 320;
  const left = 70;
  const right = 20;
  const top = 40;
  const bottom = 50;
  if (points.length === 0) return svgFigure('Throughput per checkpoint (no checkpoint)', width, 60, '');
  const maxX = Math.max(...points.map((p) => p.generated));
  const maxY = Math.max(...points.map((p) => Math.max(p.generateRate, p.ingestRate))) * 1.1;
  const x = (v: number): number => left + (v / maxX) * (width - left - right);
  const y = (v: number): number => top + (1 - v / maxY) * (height - top - bottom);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (maxY / 4) * i;
    parts.push(svgLine(left, y(v), width - right, y(v), '#eee'));
    parts.push(svgText(left - 6, y(v) + 4, int(v), { 'text-anchor': 'end', class: 's' }));
  }
  for (const p of points)
    parts.push(svgText(x(p.generated), height - bottom + 16, `${(p.generated / 1e6).toFixed(1)}M`, { 'text-anchor': 'middle', class: 's' }));
  parts.push(svgText((left + width) / 2, height - 10, 'records generated', { 'text-anchor': 'middle', class: 's' }));
  const series: Array<[string, string, (c: ScaleReport['checkpoints'][number]) => number]> = [
    ['generated records/s', PALETTE[0], (c) => c.generateRate],
    ['ingested records/s (acknowledged by the gateway)', PALETTE[1], (c) => c.ingestRate],
  ];
  series.forEach(([name, color, value], s) => {
    const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.generated).toFixed(1)},${y(value(p)).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of points)
      parts.push(
        `<circle cx="${x(p.generated).toFixed(1)}" cy="${y(value(p)).toFixed(1)}" r="3" fill="${color}"><title>${escapeHtml(`${name} at ${int(p.generated)}: ${int(value(p))}`)}</title></circle>`,
      );
    parts.push(svgRect(left + 10 + s * 330, top - 18, 12, 12, color));
    parts.push(svgText(left + 28 + s * 330, top - 8, name));
  });
  if (r.bend !== null) {
    const bx = x(r.bend.atRecords);
    parts.push(svgLine(bx, top, bx, height - bottom, PALETTE[3], { 'stroke-dasharray': '4 3' }, `ingest bends here: ${int(r.bend.rate)}/s`));
  }
  return svgFigure('Throughput per checkpoint (records/s over each interval)', width, height, parts.join(''));
}

/** Timed stages as horizontal bars of wall time. */
function stagesChart(r: ScaleReport): string {
  const stages = r.stages.filter((s) => s.timed);
  const width = 900;
  const rowH = 26;
  const left = 330;
  const height = 40 + stages.length * rowH;
  const max = Math.max(1, ...stages.map((s) => s.wallMs));
  const parts = stages.map((s, i) => {
    const yy = 30 + i * rowH;
    const w = (s.wallMs / max) * (width - left - 140);
    return (
      svgText(left - 8, yy + 15, s.name.split(':')[0], { 'text-anchor': 'end' }, s.name) +
      svgRect(left, yy, w, rowH - 8, PALETTE[i % PALETTE.length], `${s.name}: ${sec(s.wallMs)}`) +
      svgText(left + w + 6, yy + 14, `${sec(s.wallMs)}${s.recordsPerSec === null ? '' : `, ${int(s.recordsPerSec)}/s`}`, { class: 'v' })
    );
  });
  return svgFigure(`Timed stages: ${sec(r.timedMs)} in all`, width, height, parts.join(''));
}

/**
 * A standalone SVG (for the README): the timed stages and the throughput per checkpoint, one
 * above the other, with its own style.
 */
export function renderScaleSvg(r: ScaleReport): string {
  const inner = (figure: string): { body: string; height: number } => {
    const height = Number(/height="(\d+)"/.exec(figure)?.[1] ?? 0);
    const body = figure.replace(/^<figure><svg[^>]*>/, '').replace(/<\/svg><\/figure>$/, '');
    return { body, height };
  };
  const title = `City-scale run ${r.day}: ${int(r.records.total)} records, ${r.store}, ${(r.timedMs / 60_000).toFixed(1)} min timed, load average ${r.machine.loadAverageBefore[0]} before`;
  const stages = inner(stagesChart(r));
  const throughput = inner(throughputChart(r));
  const height = 30 + stages.height + throughput.height;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 ${height}" width="900" height="${height}" role="img" aria-label="${escapeHtml(title)}">
<style>text{font:12px system-ui,sans-serif;fill:#333}.t{font-weight:600;font-size:13px}.s{font-size:10px;fill:#666}.v{fill:#555}</style>
<rect width="900" height="${height}" fill="#fff"/>
${svgText(0, 16, title, { class: 't' })}
<g transform="translate(0 30)">${stages.body}</g>
<g transform="translate(0 ${30 + stages.height})">${throughput.body}</g>
</svg>
`;
}

export function renderScaleHtml(r: ScaleReport): string {
  const t = r.plan.tapsByOperator;
  const cards = [
    ['records', int(r.records.total)],
    ['timed', `${(r.timedMs / 60_000).toFixed(1)} min`],
    ['cards', int(r.plan.cards)],
    ['validators', int(r.plan.devices)],
    ['peak RSS (max of 2)', `${int(Math.max(r.memory.generatorPeakRssMb, r.memory.gatewayPeakRssMb))} MB`],
    ['gateway DB', gib(r.disk.gatewayDbBytes)],
  ]
    .map(([k, v]) => `<div>${escapeHtml(k)}<b>${escapeHtml(v)}</b></div>`)
    .join('');
  const stageRows = r.stages.map((s) => [s.timed ? 'timed' : 'setup', s.name, sec(s.wallMs), s.recordsPerSec === null ? '-' : int(s.recordsPerSec), s.note]);
  const checkpointRows = r.checkpoints.map((c) => [
    int(c.generated),
    int(c.ingested),
    sec(c.wallMs),
    int(c.generateRate),
    int(c.ingestRate),
    int(c.generatorRssMb),
    c.gatewayRssMb === null ? '-' : int(c.gatewayRssMb),
    c.gatewayDbMb === null ? '-' : int(c.gatewayDbMb),
  ]);
  const clearingRows = (r.clearing?.operators ?? []).map((o) => {
    const want = r.expected[o.operator as keyof typeof r.expected] as { debits: number; amountFen: number } | undefined;
    return [
      o.operator,
      int(o.debits),
      yuan(o.amountFen),
      int(o.quarantined),
      want === undefined ? '-' : int(want.debits),
      want === undefined ? '-' : yuan(want.amountFen),
    ];
  });
  const body = `<h1>A whole Beijing day on one machine</h1>
<p class="meta">${escapeHtml(`${r.day} · ${r.preset} · ${r.store} · seed ${r.seed} · ${r.machine.cpuModel}, ${r.machine.cores} cores, node ${r.machine.node} · ${r.machine.date} · load average before ${r.machine.loadAverageBefore.join(' ')}, after ${r.machine.loadAverageAfter.join(' ')}`)}</p>
<p class="${r.ok ? 'ok' : 'bad'}">${escapeHtml(r.ok ? 'Reconciled: ledger discrepancy 0.00, clearing equals what was generated' : `Failed: ${r.failures.join('; ')}`)}</p>
<div class="cards">${cards}</div>
<p>${escapeHtml(`Taps: subway ${int(t.subway)}, bus ${int(t.bus)}, P+R ${int(t.pr)}, park ${int(t.park)}.`)} ${escapeHtml(pathsSentence(r))}</p>
${stagesChart(r)}
${throughputChart(r)}
<p>${escapeHtml(r.bend === null ? 'Ingest throughput stays within 80% of its first checkpoint.' : `Ingest throughput bends at ${int(r.bend.atRecords)} records: ${int(r.bend.rate)}/s against ${int(r.bend.firstRate)}/s at the first checkpoint.`)}</p>
<h2>Stages</h2>
${htmlTable(['', 'stage', 'wall', 'records/s', 'note'], stageRows)}
<h2>Checkpoints</h2>
${htmlTable(['generated', 'ingested', 'at', 'generate/s', 'ingest/s', 'generator RSS MB', 'gateway RSS MB', 'gateway DB MB'], checkpointRows)}
<h2>Clearing and ledger</h2>
${htmlTable(['operator', 'debits', 'yuan', 'quarantined', 'generated debits', 'generated yuan'], clearingRows)}
<p>${escapeHtml(r.reconciliation === null ? 'no reconciliation' : `Ledger discrepancy ${yuan(r.reconciliation.discrepancyFen)}; card liability ${yuan(r.reconciliation.cardLiabilityFen)} = opening balances ${yuan(r.expected.openingTotalFen)} - debited ${yuan(r.expected.debitedFen)}.`)}</p>
<p>${escapeHtml(`Memory, peak RSS: generator and validators ${int(r.memory.generatorPeakRssMb)} MB, gateway ${int(r.memory.gatewayPeakRssMb)} MB (limit ${int(r.memory.limitMb)} MB each). Disk: gateway database ${gib(r.disk.gatewayDbBytes)}, validator databases ${gib(r.disk.deviceDbBytes)}.`)}</p>
<p>${escapeHtml(`Day close: ${r.dayClose.note}.`)}</p>`;
  return htmlPage(`City-scale run ${r.day}`, body);
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: npx tsx demo/city-scale/scale-report.ts <report.json>\n');
    process.exitCode = 2;
  } else {
    const report = JSON.parse(readFileSync(file, 'utf8')) as ScaleReport;
    const base = file.replace(/\.json$/, '');
    writeFileSync(`${base}.html`, renderScaleHtml(report));
    writeFileSync(`${base}.svg`, renderScaleSvg(report));
    process.stdout.write(`${base}.html\n${base}.svg\n`);
  }
}
