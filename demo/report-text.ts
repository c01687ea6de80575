/** The report as text tables for the terminal. */
import { beijingText, type CityDayReport } from './report.ts';

export function yuan(fen: number | null | undefined): string {
  if (fen === null || fen === undefined) return '-';
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

/** Display width: CJK characters take two columns. */
function width(text: string): number {
  let w = 0;
  for (const ch of text) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}

function pad(text: string, size: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, size - width(text)));
  return right ? fill + text : text + fill;
}

export function table(title: string, header: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((row) => row.map((c) => String(c)));
  const widths = header.map((h, i) => Math.max(width(h), ...cells.map((r) => width(r[i] ?? ''))));
  const numeric = header.map((_, i) => cells.length > 0 && cells.every((r) => /^-?[\d,.]+( ms| min|%)?$|^-$/.test(r[i] ?? '')));
  const line = (row: string[]) => `  ${row.map((c, i) => pad(c, widths[i], numeric[i])).join('  ')}`;
  const rule = `  ${widths.map((w) => '─'.repeat(w)).join('  ')}`;
  return [`\x1b[1m${title}\x1b[0m`, line(header), rule, ...cells.map(line), ''].join('\n');
}

export function renderText(report: CityDayReport, color = true): string {
  const out: string[] = [];
  const m = report.meta;
  out.push(`\x1b[1mA city day\x1b[0m  seed ${m.seed}  riders ${m.riders}  devices ${m.devices}  days ${m.days}${m.quick ? '  (quick)' : ''}`);
  out.push(
    `  simulated ${m.simulatedFrom} → ${m.simulatedUntil}; wall clock ${(m.wallClockMs / 1000).toFixed(1)} s; ${m.gatewayRequests} HTTP requests to ${m.gatewayUrl}`,
  );
  out.push(
    `  wall clock by phase: ${Object.entries(m.phasesMs)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(', ')}`,
  );
  out.push(
    `  fleet: ${Object.entries(report.fleet.byKind)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}; stations: ${report.fleet.stations.join(' ')}`,
  );
  out.push('');

  out.push(
    table(
      'Taps by kind',
      ['kind', 'taps', 'accepted', 'refused', 'charged (yuan)'],
      [
        ...Object.entries(report.taps.byKind).map(([kind, t]) => [kind, t.taps, t.accepted, t.refused, yuan(t.chargedFen)]),
        ['total', report.taps.total, report.taps.accepted, report.taps.refused, yuan(report.taps.chargedFen)],
      ],
    ),
  );
  out.push(
    table(
      'Tap results',
      ['result', 'taps'],
      Object.entries(report.taps.byResult).sort((a, b) => b[1] - a[1]),
    ),
  );
  out.push(
    table(
      'Revenue by operator (cleared)',
      ['operator', 'debits', 'amount (yuan)'],
      [
        ...report.revenue.byOperator.map((o) => [o.operator, o.debits, yuan(o.amountFen)]),
        ['park passes', '-', yuan(report.revenue.parkPassesFen)],
        ['late taps written off', '-', yuan(report.revenue.writtenOffFen)],
      ],
    ),
  );
  out.push(
    table(
      'Revenue by operator company (清分: subway trips split by km on their fare path)',
      ['company', 'name', 'amount (yuan)'],
      report.revenue.byCompany.map((c) => [c.companyId, c.name, yuan(c.amountFen)]),
    ),
  );
  out.push(
    table(
      'Loads',
      ['source', 'count', 'amount (yuan)'],
      [
        ...Object.entries(report.loads.bySource).map(([s, c]) => [s, c.count, yuan(c.amountFen)]),
        ...Object.entries(report.loads.byChannel).map(([s, c]) => [`channel: ${s}`, c.count, yuan(c.amountFen)]),
      ],
    ),
  );
  const torn = report.loads.torn;
  out.push(
    `  torn top-ups: ${torn.beforeCredit} pulled before CREDIT, ${torn.confirmLost} credited but unconfirmed; resolved: ${Object.entries(torn.resolutions)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}; still pending: ${torn.pendingAtEnd}\n`,
  );
  out.push(
    table(
      'Refunds (broken cards)',
      ['card', 'status', 'settled by', 'paid (yuan)', 'late taps written off', 'paid at', 'within 2 natural days'],
      report.refunds.map((r) => [
        r.cardNo,
        r.status,
        r.settledBy ?? '-',
        yuan(r.paidFen),
        yuan(r.writtenOffFen),
        r.paidAt ?? '-',
        r.withinTwoNaturalDays ? 'yes' : 'NO',
      ]),
    ),
  );
  out.push(
    table(
      `Blacklist: ${report.blacklist.size} cards (version ${report.blacklist.version})`,
      ['card', 'reason', 'reported', 'devices holding', 'to online fleet', 'to whole fleet'],
      report.blacklist.propagation.map((p) => [
        p.cardNo,
        p.kind,
        p.reportedAt,
        `${p.devicesHolding}/${p.devices}`,
        p.minutesToOnlineFleet === null ? '-' : `${p.minutesToOnlineFleet.toFixed(0)} min`,
        p.minutesToWholeFleet === null ? '-' : `${p.minutesToWholeFleet.toFixed(0)} min`,
      ]),
    ),
  );
  const inc = report.incidents;
  out.push('\x1b[1mIncidents\x1b[0m');
  if (inc.temporaryLoss)
    out.push(
      `  temporary loss ${inc.temporaryLoss.cardNo}: found and tapped at ${inc.temporaryLoss.finderDevice} → ${inc.temporaryLoss.finderResult} (card locked: ${inc.temporaryLoss.locked ? 'yes' : 'no'})`,
    );
  if (inc.formalLoss)
    out.push(
      `  formal loss ${inc.formalLoss.cardNo}: tapped at ${inc.formalLoss.finderDevice} → ${inc.formalLoss.finderResult}; then at ${inc.formalLoss.secondDevice} → ${inc.formalLoss.secondResult} (card locked: ${inc.formalLoss.locked ? 'yes' : 'no'})`,
    );
  if (inc.refund) {
    out.push(
      `  broken card ${inc.refund.cardNo}: rode ${inc.refund.offlineBus} (offline) → ${inc.refund.lateTapResult}, ${yuan(inc.refund.lateTapChargeFen)} yuan, uploaded after the payout`,
    );
    const ex = inc.refund.exchange;
    out.push(
      ex
        ? `  broken-card exchange ${inc.refund.cardNo}: old card ${ex.oldCardStatus} (blacklisted ${ex.blacklistReason ?? 'no'}), balance refunded, new card application ${ex.applicationId} ${ex.applicationState}, due ${beijingText(ex.dueMs)}`
        : `  broken-card exchange ${inc.refund.cardNo}: DID NOT HAPPEN`,
    );
  }
  const ch = inc.channels;
  if (ch?.passwordReset)
    out.push(
      `  service password reset at a street service point for ${ch.passwordReset.cardNo}: back to the initial rule, change forced at sign-in: ${ch.passwordReset.mustChangeAtSignIn ? 'yes' : 'no'}`,
    );
  if (ch?.refusedTopUp)
    out.push(
      `  top-up at a street service point refused: ${ch.refusedTopUp.status} ${ch.refusedTopUp.code} (${ch.refusedTopUp.rule}): ${ch.refusedTopUp.detail}`,
    );
  out.push(`  torn taps recovered on the next tap: ${report.taps.tornRecovered}`);
  out.push('');
  const id = report.deviceIdentity;
  if (id) {
    out.push('\x1b[1mDevice identity (device CA, mutual TLS)\x1b[0m');
    out.push(`  CA ${id.caFingerprint.slice(0, 16)}…; device listener ${id.deviceUrl}`);
    out.push(
      `  devices enrolled: ${id.devicesEnrolled}/${id.devices}; certificates issued: ${id.certificatesIssued} (${Object.entries(id.certificatesByVia)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')}; now ${Object.entries(id.certificatesByStatus)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')}); enrolling took ${(id.enrolWallMs / 1000).toFixed(1)} s`,
    );
    out.push(
      `  syncs over mutual TLS: ${id.mtlsSyncsServed} served of ${id.mtlsSyncRequests} requests, ${id.devicesSyncedOverMtls}/${id.devices} devices; refused: ${
        Object.entries(id.refusedByCode)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ') || 'none'
      }`,
    );
    out.push(`  bearer sync on the main API (${id.mainApiBearerSync.deviceId}): ${id.mainApiBearerSync.status} ${id.mainApiBearerSync.code ?? ''}`);
    if (id.reenrolledAfterExpiry > 0) out.push(`  enrolled again after their certificate expired offline: ${id.reenrolledAfterExpiry}`);
    const s = id.stolen;
    if (s) {
      out.push(
        `  stolen validator ${s.deviceId}: revoked ${s.revokedAt} (${s.revokedSerials.length} certificate(s), ${s.unsyncedAtRevocation} records not yet uploaded); ` +
          `next sync ${s.refusedSyncCode === null ? 'NOT refused' : `refused ${s.refusedSyncCode}`} (${s.refusedSyncs} refused while revoked); ` +
          `its journal kept ${s.unsyncedWhileRevoked} records; recovered and re-enrolled ${s.reenrolledAt ?? '-'} with a new key (serial ${(s.newSerial ?? '-').slice(0, 12)}…), ` +
          `drained ${s.drainedRecords} records, ${s.unsyncedAfterDrain ?? '-'} left`,
      );
    }
    out.push('');
  }
  const l = report.latency;
  out.push(
    table(
      'Tap latency (validator tap incl. durable journal commit)',
      ['taps', 'p50', 'p95', 'p99', 'max'],
      [[l.taps, `${l.p50Ms.toFixed(3)} ms`, `${l.p95Ms.toFixed(3)} ms`, `${l.p99Ms.toFixed(3)} ms`, `${l.maxMs.toFixed(3)} ms`]],
    ),
  );
  out.push(
    `  sync: ${report.sync.rounds} rounds, ${report.sync.uploaded} records uploaded, ${report.sync.failures} failed rounds; ${report.sync.offlineWindows.length} offline windows\n`,
  );

  const rec = report.reconciliation;
  const g = rec.gateway;
  const mi = rec.moneyIdentity;
  out.push(
    table(
      'Reconciliation',
      ['check', 'value (yuan)'],
      [
        ['card liability (ledger)', yuan(g.cardLiabilityFen)],
        ['sum of shadow balances', yuan(g.sumShadowBalancesFen)],
        ['discrepancy (gateway)', g.discrepancy],
        ['money in (payments taken)', yuan(mi.moneyInFen)],
        ['money out (refunds paid)', yuan(mi.moneyOutFen)],
        ...mi.held.map((h) => [`  held: ${h.account}`, yuan(h.fen)]),
        ['in − out − held', yuan(mi.differenceFen)],
      ],
    ),
  );
  const b = rec.crossCheck.beforeFinalSync;
  const a = rec.crossCheck.afterFinalSync;
  out.push(
    table(
      'Cross-check: cards (simulators) vs gateway shadow balances',
      ['', 'before final sync', 'after final sync'],
      [
        ['cards compared', b.cards, a.cards],
        ['sum of card balances', yuan(b.sumCardBalancesFen), yuan(a.sumCardBalancesFen)],
        ['sum of shadow balances', yuan(b.sumShadowBalancesFen), yuan(a.sumShadowBalancesFen)],
        ['difference', yuan(b.differenceFen), yuan(a.differenceFen)],
        [
          '  taps not yet uploaded',
          `${yuan(-b.unsyncedDebitsFen)} (${b.unsyncedRecords} records)`,
          `${yuan(-a.unsyncedDebitsFen)} (${a.unsyncedRecords} records)`,
        ],
        ['  credited loads not yet confirmed', yuan(b.creditedPendingLoadsFen), yuan(a.creditedPendingLoadsFen)],
        ['  unexplained', yuan(b.unexplainedFen), yuan(a.unexplainedFen)],
      ],
    ),
  );
  if (a.excluded.length > 0) out.push(`  left out: ${a.excluded.map((e) => `${e.cardNo} (${e.why})`).join('; ')}\n`);
  out.push(report.ok ? '\x1b[32mRECONCILED: discrepancy 0.00\x1b[0m' : `\x1b[31mNOT RECONCILED:\x1b[0m\n  ${report.failures.join('\n  ')}`);
  const text = out.join('\n');
  return color ? text : text.replace(/\x1b\[[0-9;]*m/g, '');
}
