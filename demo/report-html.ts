/**
 * The report as one self-contained HTML page: summary cards, inline SVG bar charts generated
 * here (no scripts, no external resources) and the tables behind them.
 */
import type { CityDayReport } from './report.ts';
import { yuan } from './report-text.ts';
import { PALETTE, escapeHtml, htmlPage, htmlTable, svgFigure, svgLine, svgRect, svgText } from './svg-chart.ts';

export { escapeHtml } from './svg-chart.ts';

export interface Bar {
  label: string;
  /** Stacked segments; their sum is the bar's length. */
  parts: Array<{ value: number; color: string; title: string }>;
  text: string;
}

/** Horizontal bar chart; values are non-negative. */
export function barChart(title: string, bars: Bar[], options: { labelWidth?: number; width?: number } = {}): string {
  const labelWidth = options.labelWidth ?? 170;
  const width = options.width ?? 720;
  const textWidth = 150;
  const barArea = width - labelWidth - textWidth;
  const rowHeight = 24;
  const height = bars.length * rowHeight + 34;
  const max = Math.max(1, ...bars.map((b) => b.parts.reduce((s, p) => s + Math.max(0, p.value), 0)));
  const rows = bars.map((bar, i) => {
    const y = 28 + i * rowHeight;
    let x = labelWidth;
    const rects = bar.parts.map((part) => {
      const w = (Math.max(0, part.value) / max) * barArea;
      const rect = svgRect(x, y, w, rowHeight - 6, part.color, part.title);
      x += w;
      return rect;
    });
    return svgText(labelWidth - 8, y + 13, bar.label, { 'text-anchor': 'end', class: 'l' }) + rects.join('') + svgText(x + 6, y + 13, bar.text, { class: 'v' });
  });
  return svgFigure(title, width, height, rows.join('\n'));
}

/** Vertical column chart (a time line or a histogram). */
export function columnChart(title: string, columns: Array<{ label: string; value: number }>, options: { width?: number; color?: string } = {}): string {
  const width = options.width ?? 720;
  const height = 220;
  const top = 28;
  const bottom = 44;
  const left = 56;
  const area = height - top - bottom;
  const max = Math.max(1, ...columns.map((c) => c.value));
  const step = (width - left - 10) / Math.max(1, columns.length);
  const labelEvery = Math.max(1, Math.ceil(columns.length / 24));
  const cols = columns.map((c, i) => {
    const h = (c.value / max) * area;
    const x = left + i * step;
    const lx = x + step / 2;
    const ly = height - bottom + 14;
    const label = i % labelEvery === 0 ? svgText(lx, ly, c.label, { 'text-anchor': 'end', transform: `rotate(-45 ${lx.toFixed(1)} ${ly})`, class: 's' }) : '';
    return svgRect(x + 1, top + area - h, Math.max(1, step - 2), h, options.color ?? PALETTE[0], `${c.label}: ${c.value}`) + label;
  });
  const body = `
${svgLine(left, top + area, width - 10, top + area, '#999')}
${svgText(left - 4, top + 8, String(max), { 'text-anchor': 'end', class: 's' })}${svgText(left - 4, top + area, '0', { 'text-anchor': 'end', class: 's' })}
${cols.join('\n')}`;
  return svgFigure(title, width, height, body);
}

function identityHtml(report: CityDayReport): string {
  const id = report.deviceIdentity;
  if (!id) return '';
  const list = (m: Record<string, number>): string =>
    Object.entries(m)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ') || 'none';
  const s = id.stolen;
  const rows: Array<Array<string | number>> = [
    ['devices enrolled', `${id.devicesEnrolled}/${id.devices}`],
    ['certificates issued', `${id.certificatesIssued} (${list(id.certificatesByVia)})`],
    ['certificates now', list(id.certificatesByStatus)],
    ['time spent enrolling', `${(id.enrolWallMs / 1000).toFixed(1)} s`],
    ['syncs served over mutual TLS', `${id.mtlsSyncsServed} of ${id.mtlsSyncRequests} requests (${id.devicesSyncedOverMtls}/${id.devices} devices)`],
    ['refused on the device port', list(id.refusedByCode)],
    [`bearer sync on the main API (${id.mainApiBearerSync.deviceId})`, `${id.mainApiBearerSync.status} ${id.mainApiBearerSync.code ?? ''}`],
  ];
  if (id.reenrolledAfterExpiry > 0) rows.push(['enrolled again after expiring offline', id.reenrolledAfterExpiry]);
  if (s) {
    rows.push(
      [`stolen ${s.deviceId}: revoked`, `${s.revokedAt}, ${s.revokedSerials.length} certificate(s), ${s.unsyncedAtRevocation} records not yet uploaded`],
      ['its next sync', s.refusedSyncCode === null ? 'NOT refused' : `refused: ${s.refusedSyncCode} (${s.refusedSyncs} refused while revoked)`],
      [
        're-enrolled (new key)',
        `${s.reenrolledAt ?? '-'}, journal held ${s.unsyncedWhileRevoked} records, drained ${s.drainedRecords}, ${s.unsyncedAfterDrain ?? '-'} left`,
      ],
    );
  }
  return `<h2>Device identity</h2>
<p>The gateway's device CA (fingerprint ${escapeHtml(id.caFingerprint.slice(0, 16))}…) issued every validator its certificate; validators sync only over mutual TLS with ${escapeHtml(id.deviceUrl)}.</p>
${htmlTable(['', ''], rows)}`;
}

export function renderHtml(report: CityDayReport): string {
  const m = report.meta;
  const rec = report.reconciliation;
  const g = rec.gateway;
  const mi = rec.moneyIdentity;
  const before = rec.crossCheck.beforeFinalSync;
  const after = rec.crossCheck.afterFinalSync;
  const verdict = report.ok
    ? `<div class="ok">Reconciled: discrepancy ${escapeHtml(g.discrepancy)}; money in − money out − held = ${yuan(mi.differenceFen)}; cards vs shadow balances differ by ${yuan(after.differenceFen)}</div>`
    : `<div class="bad">NOT reconciled:<ul>${report.failures.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul></div>`;

  const tapBars: Bar[] = Object.entries(report.taps.byKind).map(([kind, t]) => ({
    label: kind,
    parts: [
      { value: t.accepted, color: PALETTE[2], title: `${kind}: ${t.accepted} accepted` },
      { value: t.refused, color: PALETTE[3], title: `${kind}: ${t.refused} refused` },
    ],
    text: `${t.accepted} ok / ${t.refused} refused`,
  }));
  const revenueBars: Bar[] = [
    ...report.revenue.byOperator.map((o, i) => ({
      label: o.operator,
      parts: [{ value: o.amountFen, color: PALETTE[i % PALETTE.length], title: `${o.operator}: ${o.debits} debits` }],
      text: `¥${yuan(o.amountFen)}`,
    })),
    {
      label: 'park passes',
      parts: [{ value: report.revenue.parkPassesFen, color: PALETTE[5], title: 'park annual passes sold' }],
      text: `¥${yuan(report.revenue.parkPassesFen)}`,
    },
  ];
  const loadBars: Bar[] = Object.entries(report.loads.bySource).map(([source, c], i) => ({
    label: source,
    parts: [{ value: c.amountFen, color: PALETTE[i % PALETTE.length], title: `${source}: ${c.count} loads` }],
    text: `¥${yuan(c.amountFen)} (${c.count})`,
  }));
  const resultBars: Bar[] = Object.entries(report.taps.byResult)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => ({
      label: name,
      parts: [{ value: n, color: /ACCEPTED|RECOVERED|OVERTIME/.test(name) ? PALETTE[2] : PALETTE[3], title: `${name}: ${n}` }],
      text: String(n),
    }));
  const histogram = report.latency.histogram.map((b, i, all) => ({
    label: b.upToMs === null ? `> ${all[i - 1]?.upToMs ?? 0} ms` : `≤ ${b.upToMs} ms`,
    value: b.taps,
  }));
  const propagationBars: Bar[] = report.blacklist.propagation.map((p, i) => ({
    label: `${p.kind} ${p.cardNo.slice(-4)}`,
    parts: [{ value: p.minutesToOnlineFleet ?? 0, color: PALETTE[i % PALETTE.length], title: `${p.cardNo}: reported ${p.reportedAt}` }],
    text: p.minutesToOnlineFleet === null ? 'not everywhere' : `${Math.round(p.minutesToOnlineFleet)} min`,
  }));

  const sections = [
    `<h1>A city day</h1>
<p class="meta">seed ${m.seed} · ${m.riders} riders · ${m.devices} validators · ${m.days} day(s)${m.quick ? ' · quick' : ''} · simulated ${escapeHtml(m.simulatedFrom)} → ${escapeHtml(m.simulatedUntil)} · wall clock ${(m.wallClockMs / 1000).toFixed(1)} s · ${m.gatewayRequests} HTTP requests</p>`,
    verdict,
    `<div class="cards">
<div><b>${report.taps.total}</b>taps</div>
<div><b>¥${yuan(report.revenue.totalFen)}</b>revenue incl. passes</div>
<div><b>¥${yuan(Object.values(report.loads.bySource).reduce((s, c) => s + c.amountFen, 0))}</b>loaded</div>
<div><b>${report.blacklist.size}</b>cards blacklisted</div>
<div><b>${report.latency.p99Ms.toFixed(2)} ms</b>tap p99</div>
</div>`,
    '<h2>Taps</h2>',
    barChart('Taps by device kind (green accepted, red refused)', tapBars),
    barChart('Tap results', resultBars, { labelWidth: 230 }),
    columnChart(
      'Taps per hour (Beijing time)',
      report.taps.byHour.map((h) => ({ label: h.hour, value: h.taps })),
    ),
    '<h2>Money</h2>',
    barChart('Revenue by operator (cleared debits) and park passes', revenueBars),
    barChart('Top-ups by payment source', loadBars),
    htmlTable(
      ['torn top-ups', 'count'],
      [
        ['pulled before CREDIT', report.loads.torn.beforeCredit],
        ['credited, confirmation lost', report.loads.torn.confirmLost],
        ...Object.entries(report.loads.torn.resolutions).map(([k, n]) => [`resolved ${k}`, n]),
        ['still pending at the end', report.loads.torn.pendingAtEnd],
      ],
    ),
    '<h3>Refunds of broken cards</h3>',
    htmlTable(
      ['card', 'status', 'settled by', 'paid', 'late taps written off', 'requested', 'paid at', 'deadline', 'within 2 natural days'],
      report.refunds.map((r) => [
        r.cardNo,
        r.status,
        r.settledBy ?? '-',
        yuan(r.paidFen),
        yuan(r.writtenOffFen),
        r.requestedAt,
        r.paidAt ?? '-',
        r.deadline,
        r.withinTwoNaturalDays ? 'yes' : 'NO',
      ]),
    ),
    '<h2>Blacklist</h2>',
    `<p>${report.blacklist.size} cards listed (version ${report.blacklist.version}): ${Object.entries(report.blacklist.byReason)
      .map(([k, n]) => `${n} ${escapeHtml(k)}`)
      .join(', ')}. Propagation = from the report to the last validator holding it (leaving out the bus that was offline for days).</p>`,
    barChart('Blacklist propagation to the online fleet (minutes)', propagationBars, { labelWidth: 200 }),
    htmlTable(
      ['card', 'reason', 'reported', 'devices holding', 'to online fleet (min)', 'to whole fleet (min)'],
      report.blacklist.propagation.map((p) => [
        p.cardNo,
        p.kind,
        p.reportedAt,
        `${p.devicesHolding}/${p.devices}`,
        p.minutesToOnlineFleet?.toFixed(0) ?? '-',
        p.minutesToWholeFleet?.toFixed(0) ?? '-',
      ]),
    ),
    identityHtml(report),
    '<h2>Tap latency</h2>',
    `<p>The validator's whole tap, durable journal commit (SQLite WAL, synchronous=FULL) included, measured with process.hrtime: p50 ${report.latency.p50Ms} ms, p95 ${report.latency.p95Ms} ms, p99 ${report.latency.p99Ms} ms, max ${report.latency.maxMs} ms over ${report.latency.taps} taps.</p>`,
    columnChart('Tap latency histogram', histogram, { color: PALETTE[4] }),
    '<h2>Reconciliation</h2>',
    htmlTable(
      ['check', 'yuan'],
      [
        ['card liability (ledger)', yuan(g.cardLiabilityFen)],
        ['sum of shadow balances', yuan(g.sumShadowBalancesFen)],
        ['discrepancy (gateway)', g.discrepancy],
        ['money in (payments taken)', yuan(mi.moneyInFen)],
        ['money out (refunds paid)', yuan(mi.moneyOutFen)],
        ...mi.held.map((h) => [`held: ${h.account}`, yuan(h.fen)]),
        ['money in − money out − held', yuan(mi.differenceFen)],
      ],
    ),
    '<h3>Cross-check: the cards themselves against the gateway</h3>',
    htmlTable(
      ['', 'before the final sync', 'after the final sync'],
      [
        ['cards compared', before.cards, after.cards],
        ['sum of card balances (simulators)', yuan(before.sumCardBalancesFen), yuan(after.sumCardBalancesFen)],
        ['sum of shadow balances (gateway)', yuan(before.sumShadowBalancesFen), yuan(after.sumShadowBalancesFen)],
        ['difference', yuan(before.differenceFen), yuan(after.differenceFen)],
        [
          'explained: taps not yet uploaded',
          `${yuan(-before.unsyncedDebitsFen)} (${before.unsyncedRecords} records)`,
          `${yuan(-after.unsyncedDebitsFen)} (${after.unsyncedRecords} records)`,
        ],
        ['explained: credited loads not yet confirmed', yuan(before.creditedPendingLoadsFen), yuan(after.creditedPendingLoadsFen)],
        ['unexplained', yuan(before.unexplainedFen), yuan(after.unexplainedFen)],
      ],
    ),
    after.excluded.length > 0 ? `<p>Left out: ${after.excluded.map((e) => `${escapeHtml(e.cardNo)} (${escapeHtml(e.why)})`).join('; ')}.</p>` : '',
    '<h2>Fleet and sync</h2>',
    `<p>${Object.entries(report.fleet.byKind)
      .map(([k, n]) => `${n} ${escapeHtml(k)}`)
      .join(
        ', ',
      )}. Stations: ${escapeHtml(report.fleet.stations.join(' · '))}. ${report.sync.rounds} sync rounds, ${report.sync.uploaded} records uploaded, ${report.sync.failures} failed rounds.</p>`,
    htmlTable(
      ['offline validator', 'from', 'until', 'hours'],
      report.sync.offlineWindows.map((w) => [w.deviceId, w.from, w.until, w.hours.toFixed(1)]),
    ),
  ];
  return htmlPage(`A city day · seed ${m.seed}`, sections.join('\n'));
}
