/**
 * The report as one self-contained HTML page: summary cards, inline SVG bar charts generated
 * here (no scripts, no external resources) and the tables behind them.
 */
import type { CityDayReport } from './report.ts';
import { yuan } from './report-text.ts';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface Bar {
  label: string;
  /** Stacked segments; their sum is the bar's length. */
  parts: Array<{ value: number; color: string; title: string }>;
  text: string;
}

const PALETTE = ['#2f6fb3', '#e0892b', '#3a9e5c', '#c4453d', '#7c5cb8', '#8c6d4f', '#d16ba5', '#6b7b8c'];

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
      const rect = `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowHeight - 6}" fill="${part.color}"><title>${escapeHtml(part.title)}</title></rect>`;
      x += w;
      return rect;
    });
    return (
      `<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end" class="l">${escapeHtml(bar.label)}</text>` +
      rects.join('') +
      `<text x="${(x + 6).toFixed(1)}" y="${y + 13}" class="v">${escapeHtml(bar.text)}</text>`
    );
  });
  return `<figure><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}">
<text x="0" y="16" class="t">${escapeHtml(title)}</text>${rows.join('\n')}</svg></figure>`;
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
    const label = i % labelEvery === 0 ? `<text x="${(x + step / 2).toFixed(1)}" y="${height - bottom + 14}" text-anchor="end" transform="rotate(-45 ${(x + step / 2).toFixed(1)} ${height - bottom + 14})" class="s">${escapeHtml(c.label)}</text>` : '';
    return `<rect x="${(x + 1).toFixed(1)}" y="${(top + area - h).toFixed(1)}" width="${Math.max(1, step - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${options.color ?? PALETTE[0]}"><title>${escapeHtml(`${c.label}: ${c.value}`)}</title></rect>${label}`;
  });
  return `<figure><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}">
<text x="0" y="16" class="t">${escapeHtml(title)}</text>
<line x1="${left}" y1="${top + area}" x2="${width - 10}" y2="${top + area}" stroke="#999"/>
<text x="${left - 4}" y="${top + 8}" text-anchor="end" class="s">${max}</text><text x="${left - 4}" y="${top + area}" text-anchor="end" class="s">0</text>
${cols.join('\n')}</svg></figure>`;
}

function htmlTable(header: string[], rows: Array<Array<string | number>>): string {
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td${typeof c === 'number' || /^-?[\d,.]+$/.test(String(c)) ? ' class="n"' : ''}>${escapeHtml(String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
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
      ['re-enrolled (new key)', `${s.reenrolledAt ?? '-'}, journal held ${s.unsyncedWhileRevoked} records, drained ${s.drainedRecords}, ${s.unsyncedAfterDrain ?? '-'} left`],
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
    ...report.revenue.byOperator.map((o, i) => ({ label: o.operator, parts: [{ value: o.amountFen, color: PALETTE[i % PALETTE.length], title: `${o.operator}: ${o.debits} debits` }], text: `¥${yuan(o.amountFen)}` })),
    { label: 'park passes', parts: [{ value: report.revenue.parkPassesFen, color: PALETTE[5], title: 'park annual passes sold' }], text: `¥${yuan(report.revenue.parkPassesFen)}` },
  ];
  const loadBars: Bar[] = Object.entries(report.loads.bySource).map(([source, c], i) => ({
    label: source,
    parts: [{ value: c.amountFen, color: PALETTE[i % PALETTE.length], title: `${source}: ${c.count} loads` }],
    text: `¥${yuan(c.amountFen)} (${c.count})`,
  }));
  const resultBars: Bar[] = Object.entries(report.taps.byResult)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => ({ label: name, parts: [{ value: n, color: /ACCEPTED|RECOVERED|OVERTIME/.test(name) ? PALETTE[2] : PALETTE[3], title: `${name}: ${n}` }], text: String(n) }));
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
    columnChart('Taps per hour (Beijing time)', report.taps.byHour.map((h) => ({ label: h.hour, value: h.taps }))),
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
      report.refunds.map((r) => [r.cardNo, r.status, r.settledBy ?? '-', yuan(r.paidFen), yuan(r.writtenOffFen), r.requestedAt, r.paidAt ?? '-', r.deadline, r.withinTwoNaturalDays ? 'yes' : 'NO']),
    ),
    '<h2>Blacklist</h2>',
    `<p>${report.blacklist.size} cards listed (version ${report.blacklist.version}): ${Object.entries(report.blacklist.byReason)
      .map(([k, n]) => `${n} ${escapeHtml(k)}`)
      .join(', ')}. Propagation = from the report to the last validator holding it (leaving out the bus that was offline for days).</p>`,
    barChart('Blacklist propagation to the online fleet (minutes)', propagationBars, { labelWidth: 200 }),
    htmlTable(
      ['card', 'reason', 'reported', 'devices holding', 'to online fleet (min)', 'to whole fleet (min)'],
      report.blacklist.propagation.map((p) => [p.cardNo, p.kind, p.reportedAt, `${p.devicesHolding}/${p.devices}`, p.minutesToOnlineFleet?.toFixed(0) ?? '-', p.minutesToWholeFleet?.toFixed(0) ?? '-']),
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
        ['explained: taps not yet uploaded', `${yuan(-before.unsyncedDebitsFen)} (${before.unsyncedRecords} records)`, `${yuan(-after.unsyncedDebitsFen)} (${after.unsyncedRecords} records)`],
        ['explained: credited loads not yet confirmed', yuan(before.creditedPendingLoadsFen), yuan(after.creditedPendingLoadsFen)],
        ['unexplained', yuan(before.unexplainedFen), yuan(after.unexplainedFen)],
      ],
    ),
    after.excluded.length > 0 ? `<p>Left out: ${after.excluded.map((e) => `${escapeHtml(e.cardNo)} (${escapeHtml(e.why)})`).join('; ')}.</p>` : '',
    '<h2>Fleet and sync</h2>',
    `<p>${Object.entries(report.fleet.byKind)
      .map(([k, n]) => `${n} ${escapeHtml(k)}`)
      .join(', ')}. Stations: ${escapeHtml(report.fleet.stations.join(' · '))}. ${report.sync.rounds} sync rounds, ${report.sync.uploaded} records uploaded, ${report.sync.failures} failed rounds.</p>`,
    htmlTable(
      ['offline validator', 'from', 'until', 'hours'],
      report.sync.offlineWindows.map((w) => [w.deviceId, w.from, w.until, w.hours.toFixed(1)]),
    ),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A city day · seed ${m.seed}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#222}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}.meta{color:#666}
.ok{background:#e6f4ea;border:1px solid #3a9e5c;padding:10px 14px;border-radius:6px;font-weight:600}
.bad{background:#fbe9e7;border:1px solid #c4453d;padding:10px 14px;border-radius:6px;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.cards div{flex:1;min-width:140px;background:#f5f7fa;border-radius:6px;padding:10px;color:#555}
.cards b{display:block;font-size:22px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:12px 0}svg text{font:12px system-ui,sans-serif;fill:#333}svg .t{font-weight:600;font-size:13px}svg .s{font-size:10px;fill:#666}svg .v{fill:#555}
</style></head><body>
${sections.join('\n')}
</body></html>
`;
}
