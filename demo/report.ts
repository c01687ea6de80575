/**
 * The city-day report: what happened (taps by kind, revenue by operator, loads, refunds,
 * blacklist and its propagation, tap latency) and whether the money adds up (the gateway's
 * reconciliation, the ledger identity money in − money out = what is held, and the
 * independent cross-check of the cards' own balances against the gateway's shadow balances).
 */
import type { DeviceKind, Operator } from '#core';
import type { CityDayOptions, CrossCheck } from './city-day-run.ts';
import type { Fleet } from './fleet.ts';
import type { GatewayAnswer } from './gateway-client.ts';
import type { LoadOutcome } from './rider-cards.ts';

/** GET /v1/ledger/reconciliation, as the gateway answers it. */
export type GatewayReconciliation = GatewayAnswer<'get', '/v1/ledger/reconciliation'>;

export interface TapFact {
  deviceId: string;
  kind: DeviceKind;
  operator: Operator;
  status: string;
  resultName: string;
  chargeFen: number;
  atMs: number;
}

export interface RunFacts {
  taps: TapFact[];
  latenciesMs: number[];
  loads: Array<LoadOutcome & { cardNo: string; atMs: number; riderIndex: number }>;
  syncRounds: number;
  syncFailures: number;
  syncUploaded: number;
  offlineWindows: Array<{ deviceId: string; fromMs: number; untilMs: number }>;
  lossReports: Array<{ cardNo: string; kind: string; version: number | null; reportedMs: number }>;
  /** `${cardNo}@${deviceId}` → simulated time the device first held the card's blacklisting. */
  deviceBlacklistSeen: Map<string, number>;
  parkPassesSold: number;
  tornTapsRecovered: number;
  /** Wall-clock time spent in sync rounds (HTTP, gateway ingest, device bookkeeping). */
  syncWallMs: number;
}

/** The facts of a run before anything happened. */
export function emptyRunFacts(): RunFacts {
  return {
    taps: [],
    latenciesMs: [],
    loads: [],
    syncRounds: 0,
    syncFailures: 0,
    syncUploaded: 0,
    offlineWindows: [],
    lossReports: [],
    deviceBlacklistSeen: new Map(),
    parkPassesSold: 0,
    tornTapsRecovered: 0,
    syncWallMs: 0,
  };
}

/** Device identity (issue 9): what the CA issued, how the fleet synced, the stolen validator. */
export interface IdentityFacts {
  caFingerprint: string;
  /** The mutual-TLS device listener. */
  deviceUrl: string;
  /** Wall-clock time of the fleet's enrolment (keys, CSRs, certificates). */
  enrolWallMs: number;
  /** Every certificate the gateway recorded for the fleet (enrolments, re-enrolments, renewals). */
  certificates: Array<{ deviceId: string; serial: string; issuedVia: string; status: string }>;
  /** Per device: sync requests over mutual TLS, rounds served, refusals by problem code. */
  devices: Array<{ deviceId: string; requests: number; ok: number; refused: Record<string, number> }>;
  /** What the main API answered a validator's bearer sync once the CA existed. */
  mainApiBearerSync: { deviceId: string; status: number; code: string | null };
  /** Devices offline past their certificate's end, enrolled again by the operator. */
  reenrolledAfterExpiry: number;
  stolen: {
    deviceId: string;
    revokedAtMs: number;
    revokedSerials: string[];
    /** Journal records not yet uploaded when it was revoked. */
    unsyncedAtRevocation: number;
    refusedSyncAtMs: number | null;
    refusedSyncStatus: string | null;
    refusedSyncCode: string | null;
    /** Sync requests refused as revoked until it was re-enrolled. */
    refusedSyncs: number;
    /** Journal records waiting on the device when it was re-enrolled. */
    unsyncedWhileRevoked: number;
    reenrolledAtMs: number | null;
    newSerial: string | null;
    drainStatus: string | null;
    drainedRecords: number;
    unsyncedAfterDrain: number | null;
  } | null;
}

export interface ReportInput {
  options: CityDayOptions & { firstDay: number; syncEveryMin: number };
  facts: RunFacts;
  fleet: Fleet;
  riders: Array<{ cardNo: string; kind: string; profile: string; parkPass: boolean; incident: string | null }>;
  incidents: {
    /** The channel matrix at work (issue 16): a service point resets a password and is refused a top-up. */
    channels?: {
      passwordReset: { cardNo: string; unlocked: boolean; mustChangeAtSignIn: boolean } | null;
      refusedTopUp: { cardNo: string; status: number; code: string | null; rule: string | null; detail: string | null } | null;
    } | null;
    temporaryLoss: {
      cardNo: string;
      reportedMs: number;
      version: number | null;
      finderDevice: string | null;
      deviceHadIt: boolean;
      finderResult: string | null;
      locked: boolean;
    } | null;
    formalLoss: {
      cardNo: string;
      reportedMs: number;
      version: number | null;
      finderDevice: string | null;
      finderResult: string | null;
      secondDevice: string | null;
      secondResult: string | null;
      locked: boolean;
    } | null;
    refund: {
      cardNo: string;
      offlineBus: string;
      lateTapResult: string | null;
      lateTapChargeFen: number;
      refund: GatewayAnswer<'get', '/v1/refunds/{id}'> | null;
      /** The broken-card exchange at the issuing bank (issue 16) that started the refund; null when it did not happen. */
      exchange?: BrokenCardExchange | null;
    } | null;
  };
  loadStates: Map<string, Pick<GatewayAnswer<'get', '/v1/loads/{id}'>, 'status' | 'resolution'>>;
  /** Null when the run had no device PKI (unit tests of the verdict). */
  identity: IdentityFacts | null;
  crossCheck: { beforeFinalSync: CrossCheck; afterFinalSync: CrossCheck };
  gateway: {
    url: string;
    requests: number;
    reconciliation: GatewayReconciliation;
    balances: GatewayAnswer<'get', '/v1/ledger/balances'>['accounts'];
    clearing: Array<GatewayAnswer<'get', '/v1/reports/clearing'>>;
    teller: Array<GatewayAnswer<'get', '/v1/reports/teller'>>;
    blacklist: GatewayAnswer<'get', '/v1/blacklist'>;
  };
  stateDir: string;
  wallClockMs: number;
  phasesMs: Record<string, number>;
  simulatedFromMs: number;
  simulatedUntilMs: number;
}

export interface Count {
  count: number;
  amountFen: number;
}

export interface CityDayReport {
  ok: boolean;
  failures: string[];
  meta: {
    seed: number;
    riders: number;
    devices: number;
    days: number;
    quick: boolean;
    firstDay: string;
    simulatedFrom: string;
    simulatedUntil: string;
    wallClockMs: number;
    /** Wall-clock time per phase, and inside the days the time spent in taps and in sync. */
    phasesMs: Record<string, number>;
    gatewayUrl: string;
    gatewayRequests: number;
    stateDir: string;
    syncEveryMin: number;
  };
  fleet: {
    byKind: Record<string, number>;
    stations: string[];
    busLines: string[];
    parks: string[];
  };
  riders: { byKind: Record<string, number>; byProfile: Record<string, number>; parkPassesSold: number };
  taps: {
    total: number;
    accepted: number;
    refused: number;
    chargedFen: number;
    byKind: Record<string, { taps: number; accepted: number; refused: number; chargedFen: number }>;
    byResult: Record<string, number>;
    /** Taps per simulated hour (Beijing), 'MM-DD HH'. */
    byHour: Array<{ hour: string; taps: number }>;
    tornRecovered: number;
  };
  revenue: {
    byOperator: Array<{ operator: string; debits: number; amountFen: number }>;
    /** The same cleared debits by operator company (清分), and the subway exits split without their entry station. */
    byCompany: Array<{ companyId: string; name: string; amountFen: number }>;
    exitsWithoutEntry: number;
    parkPassesFen: number;
    writtenOffFen: number;
    totalFen: number;
  };
  loads: {
    bySource: Record<string, Count>;
    byChannel: Record<string, Count>;
    torn: { beforeCredit: number; confirmLost: number; resolutions: Record<string, number>; pendingAtEnd: number };
    voidedFen: number;
  };
  refunds: Array<{
    cardNo: string;
    status: string;
    settledBy: string | null;
    paidFen: number | null;
    writtenOffFen: number;
    requestedAt: string;
    paidAt: string | null;
    deadline: string;
    withinTwoNaturalDays: boolean;
    lateTapOnDevice: string;
    lateTapChargeFen: number;
  }>;
  blacklist: {
    size: number;
    version: number;
    byReason: Record<string, number>;
    propagation: Array<{
      cardNo: string;
      kind: string;
      version: number | null;
      reportedAt: string;
      devicesHolding: number;
      devices: number;
      /** Minutes from the report to the last device that holds it (whole fleet). */
      minutesToWholeFleet: number | null;
      /** The same, leaving out devices offline for days (the dead bus). */
      minutesToOnlineFleet: number | null;
    }>;
  };
  incidents: ReportInput['incidents'];
  deviceIdentity: DeviceIdentityReport | null;
  latency: {
    taps: number;
    p50Ms: number;
    p95Ms: number;
    p99Ms: number;
    maxMs: number;
    meanMs: number;
    histogram: Array<{ upToMs: number | null; taps: number }>;
  };
  sync: { rounds: number; uploaded: number; failures: number; offlineWindows: Array<{ deviceId: string; from: string; until: string; hours: number }> };
  reconciliation: {
    gateway: GatewayReconciliation;
    ledger: Array<{ account: string; balanceFen: number }>;
    moneyIdentity: { moneyInFen: number; moneyOutFen: number; heldFen: number; held: Array<{ account: string; fen: number }>; differenceFen: number };
    crossCheck: { beforeFinalSync: CrossCheck; afterFinalSync: CrossCheck };
  };
}

export interface DeviceIdentityReport {
  caFingerprint: string;
  deviceUrl: string;
  devicesEnrolled: number;
  devices: number;
  certificatesIssued: number;
  certificatesByVia: Record<string, number>;
  certificatesByStatus: Record<string, number>;
  enrolWallMs: number;
  /** Sync requests over mutual TLS, and those the gateway served (200). */
  mtlsSyncRequests: number;
  mtlsSyncsServed: number;
  /** Devices that had at least one sync round served over mutual TLS. */
  devicesSyncedOverMtls: number;
  refusedByCode: Record<string, number>;
  mainApiBearerSync: IdentityFacts['mainApiBearerSync'];
  reenrolledAfterExpiry: number;
  stolen: (NonNullable<IdentityFacts['stolen']> & { revokedAt: string; reenrolledAt: string | null }) | null;
}

function identityReport(identity: IdentityFacts): DeviceIdentityReport {
  const certificatesByVia: Record<string, number> = {};
  const certificatesByStatus: Record<string, number> = {};
  for (const c of identity.certificates) {
    bump(certificatesByVia, c.issuedVia);
    bump(certificatesByStatus, c.status);
  }
  const refusedByCode: Record<string, number> = {};
  for (const d of identity.devices) for (const [code, n] of Object.entries(d.refused)) bump(refusedByCode, code, n);
  const s = identity.stolen;
  return {
    caFingerprint: identity.caFingerprint,
    deviceUrl: identity.deviceUrl,
    devicesEnrolled: new Set(identity.certificates.map((c) => c.deviceId)).size,
    devices: identity.devices.length,
    certificatesIssued: identity.certificates.length,
    certificatesByVia,
    certificatesByStatus,
    enrolWallMs: Math.round(identity.enrolWallMs),
    mtlsSyncRequests: identity.devices.reduce((n, d) => n + d.requests, 0),
    mtlsSyncsServed: identity.devices.reduce((n, d) => n + d.ok, 0),
    devicesSyncedOverMtls: identity.devices.filter((d) => d.ok > 0).length,
    refusedByCode,
    mainApiBearerSync: identity.mainApiBearerSync,
    reenrolledAfterExpiry: identity.reenrolledAfterExpiry,
    stolen: s && { ...s, revokedAt: beijingText(s.revokedAtMs), reenrolledAt: s.reenrolledAtMs === null ? null : beijingText(s.reenrolledAtMs) },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function beijingText(ms: number): string {
  const local = new Date(ms + 8 * 3_600_000);
  return `${local.toISOString().slice(0, 16).replace('T', ' ')} +08:00`;
}

const LATENCY_BINS_MS = [0.5, 1, 2, 4, 8, 16, 32, 64, 128, Number.POSITIVE_INFINITY];

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function bump<T extends Record<string, number>>(map: T, key: string, by = 1): void {
  (map as Record<string, number>)[key] = ((map as Record<string, number>)[key] ?? 0) + by;
}

export function buildReport(input: ReportInput): CityDayReport {
  const { facts, fleet, gateway } = input;
  const failures: string[] = [];

  // Taps.
  const byKind: CityDayReport['taps']['byKind'] = {};
  const byResult: Record<string, number> = {};
  let accepted = 0;
  let chargedFen = 0;
  for (const tap of facts.taps) {
    const entry = (byKind[tap.kind] ??= { taps: 0, accepted: 0, refused: 0, chargedFen: 0 });
    entry.taps++;
    if (tap.status === 'accepted') {
      entry.accepted++;
      accepted++;
    } else entry.refused++;
    entry.chargedFen += tap.chargeFen;
    chargedFen += tap.chargeFen;
    bump(byResult, tap.resultName);
  }

  // Revenue: clearing reports per operator over the run's days, park passes and write-offs from the ledger.
  const revenueByOperator = new Map<string, { debits: number; amountFen: number }>();
  for (const day of gateway.clearing) {
    for (const row of day.operators ?? []) {
      // The contract does not promise a row's fields (not required in its schema).
      const operator = row.operator ?? 'unknown';
      const entry = revenueByOperator.get(operator) ?? { debits: 0, amountFen: 0 };
      entry.debits += row.debits ?? 0;
      entry.amountFen += row.amountFen ?? 0;
      revenueByOperator.set(operator, entry);
    }
  }
  const revenueByCompany = new Map<string, { companyId: string; name: string; amountFen: number }>();
  let exitsWithoutEntry = 0;
  for (const day of gateway.clearing) {
    for (const company of day.companies ?? []) {
      const id = company.companyId ?? 'unknown';
      const entry = revenueByCompany.get(id) ?? { companyId: id, name: company.name ?? id, amountFen: 0 };
      entry.amountFen += company.amountFen ?? 0;
      revenueByCompany.set(id, entry);
    }
    exitsWithoutEntry += day.split?.exitsWithoutEntry ?? 0;
  }
  const byCompany = [...revenueByCompany.values()].sort((a, b) => b.amountFen - a.amountFen);
  const balance = (account: string): number => gateway.balances.find((b) => b.account === account)?.balanceFen ?? 0;
  const parkPassesFen = -balance('revenue:park-pass');
  const writtenOffFen = balance('writeoff:late-taps');
  const byOperator = [...revenueByOperator].map(([operator, v]) => ({ operator, ...v }));
  const clearedFen = byOperator.reduce((s, o) => s + o.amountFen, 0);

  // Loads.
  const bySource: Record<string, Count> = {};
  const byChannel: Record<string, Count> = {};
  for (const load of facts.loads) {
    const s = (bySource[load.paymentSource] ??= { count: 0, amountFen: 0 });
    s.count++;
    s.amountFen += load.amountFen;
    const c = (byChannel[load.channel] ??= { count: 0, amountFen: 0 });
    c.count++;
    c.amountFen += load.amountFen;
  }
  const resolutions: Record<string, number> = {};
  let pendingAtEnd = 0;
  let voidedFen = 0;
  for (const load of facts.loads) {
    if (load.ending === 'complete') continue;
    const state = input.loadStates.get(load.loadId);
    if (state === undefined) continue;
    if (state.status === 'pending') pendingAtEnd++;
    if (state.status === 'voided') voidedFen += load.amountFen;
    bump(resolutions, `${state.status}:${state.resolution ?? 'none'}`);
  }

  // Refunds.
  const refunds: CityDayReport['refunds'] = [];
  const r = input.incidents.refund;
  if (r?.refund) {
    const view = r.refund;
    // Fields the contract marks optional: absent reads as not (yet) there.
    const paidMs = view.paidMs ?? null;
    refunds.push({
      cardNo: view.cardNo,
      status: view.status,
      settledBy: view.settledBy ?? null,
      paidFen: view.paidFen ?? null,
      writtenOffFen: view.writtenOffFen ?? 0,
      requestedAt: view.requestedMs === undefined ? 'unknown' : beijingText(view.requestedMs),
      paidAt: paidMs === null ? null : beijingText(paidMs),
      deadline: beijingText(view.deadlineMs),
      withinTwoNaturalDays: paidMs !== null && paidMs <= view.deadlineMs,
      lateTapOnDevice: r.offlineBus,
      lateTapChargeFen: r.lateTapChargeFen,
    });
  }

  // Blacklist and propagation.
  const listed = new Map<string, string>();
  for (const entry of gateway.blacklist.entries) {
    if (entry.op === 'add') listed.set(entry.cardNo, entry.reason);
    else listed.delete(entry.cardNo);
  }
  const byReason: Record<string, number> = {};
  for (const reason of listed.values()) bump(byReason, reason);
  const longOffline = new Set(facts.offlineWindows.filter((w) => w.untilMs - w.fromMs > 24 * 3_600_000).map((w) => w.deviceId));
  const propagation = facts.lossReports.map((report) => {
    const times = fleet.devices.map((d) => facts.deviceBlacklistSeen.get(`${report.cardNo}@${d.id}`));
    const onlineTimes = fleet.devices.filter((d) => !longOffline.has(d.id)).map((d) => facts.deviceBlacklistSeen.get(`${report.cardNo}@${d.id}`));
    const minutes = (list: Array<number | undefined>): number | null =>
      list.every((x) => x !== undefined) ? round3((Math.max(...(list as number[])) - report.reportedMs) / 60_000) : null;
    return {
      cardNo: report.cardNo,
      kind: report.kind,
      version: report.version,
      reportedAt: beijingText(report.reportedMs),
      devicesHolding: times.filter((x) => x !== undefined).length,
      devices: fleet.devices.length,
      minutesToWholeFleet: minutes(times),
      minutesToOnlineFleet: minutes(onlineTimes),
    };
  });

  // Latency.
  const sorted = [...facts.latenciesMs].sort((a, b) => a - b);
  const latency = {
    taps: sorted.length,
    p50Ms: round3(percentile(sorted, 50)),
    p95Ms: round3(percentile(sorted, 95)),
    p99Ms: round3(percentile(sorted, 99)),
    maxMs: round3(sorted[sorted.length - 1] ?? 0),
    meanMs: round3(sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length)),
    histogram: LATENCY_BINS_MS.map((upTo, i) => ({
      upToMs: Number.isFinite(upTo) ? upTo : null,
      taps: sorted.filter((x) => x <= upTo && (i === 0 || x > LATENCY_BINS_MS[i - 1])).length,
    })),
  };
  // Every hour from the first tap to the last, quiet night hours included, so the time axis is even.
  const HOUR_MS = 3_600_000;
  const perHour = new Map<number, number>();
  for (const tap of facts.taps) {
    const h = Math.floor(tap.atMs / HOUR_MS);
    perHour.set(h, (perHour.get(h) ?? 0) + 1);
  }
  const byHour: Array<{ hour: string; taps: number }> = [];
  if (perHour.size > 0) {
    const first = Math.min(...perHour.keys());
    const last = Math.max(...perHour.keys());
    for (let h = first; h <= last; h++) byHour.push({ hour: beijingText(h * HOUR_MS).slice(5, 13), taps: perHour.get(h) ?? 0 });
  }

  // Money identity from the ledger: money in (payments taken) − money out (refunds paid to banks)
  // = everything the books hold (card purses, pending loads, operators' revenue, park passes,
  // refunds payable) − write-offs and receivables.
  let moneyInFen = 0;
  let moneyOutFen = 0;
  const held: Array<{ account: string; fen: number }> = [];
  for (const { account, balanceFen } of gateway.balances) {
    if (account.startsWith('payment:')) moneyInFen += balanceFen;
    else if (account.startsWith('bank:')) moneyOutFen += -balanceFen;
    else held.push({ account, fen: -balanceFen });
  }
  const heldFen = held.reduce((s, h) => s + h.fen, 0);
  const moneyIdentity = { moneyInFen, moneyOutFen, heldFen, held, differenceFen: moneyInFen - moneyOutFen - heldFen };

  // Verdicts.
  const rec = gateway.reconciliation;
  if (rec.ok !== true || rec.discrepancy !== '0.00') failures.push(`gateway reconciliation: discrepancy ${rec.discrepancy}, ok ${rec.ok}`);
  // The broken card is exchanged at the issuing bank: the old card blacklisted `exchanged`, a new card applied for.
  const broken = input.incidents.refund;
  if (broken) {
    const ex = broken.exchange ?? null;
    if (ex === null) failures.push(`the broken card ${broken.cardNo} was not exchanged`);
    else if (ex.oldCardStatus !== 'exchanged' || ex.blacklistReason !== 'exchanged')
      failures.push(`the broken card ${broken.cardNo}'s exchange left it ${ex.oldCardStatus}, blacklisted ${ex.blacklistReason ?? 'not at all'}`);
  }
  const channels = input.incidents.channels;
  if (channels?.refusedTopUp && channels.refusedTopUp.code !== 'channel-not-allowed') {
    failures.push(`a street service point top-up was not refused by the channel matrix: ${channels.refusedTopUp.status} ${channels.refusedTopUp.code}`);
  }
  if (channels?.passwordReset && !channels.passwordReset.mustChangeAtSignIn) failures.push('a reset service password did not force a change at sign-in');
  if (moneyIdentity.differenceFen !== 0) failures.push(`money in − money out ≠ held: off by ${moneyIdentity.differenceFen} fen`);
  const after = input.crossCheck.afterFinalSync;
  if (after.differenceFen !== 0) failures.push(`cards vs shadow balances differ by ${after.differenceFen} fen after the final sync`);
  if (input.crossCheck.beforeFinalSync.unexplainedFen !== 0)
    failures.push(`before the final sync ${input.crossCheck.beforeFinalSync.unexplainedFen} fen of card/shadow difference is unexplained`);
  if (pendingAtEnd > 0) failures.push(`${pendingAtEnd} loads still pending at the end`);
  if (clearedFen !== chargedFen) failures.push(`cleared debits ${clearedFen} fen ≠ charged at validators ${chargedFen} fen`);
  const deviceIdentity = input.identity && identityReport(input.identity);
  if (deviceIdentity) {
    // Device identity is part of the verdict: a gate that syncs without its certificate, or a
    // revoked one that still syncs, is a failure even when the money adds up.
    if (deviceIdentity.mainApiBearerSync.status !== 403)
      failures.push(`the main API answered a bearer sync with ${deviceIdentity.mainApiBearerSync.status}, not 403`);
    if (deviceIdentity.devicesSyncedOverMtls !== deviceIdentity.devices)
      failures.push(`${deviceIdentity.devices - deviceIdentity.devicesSyncedOverMtls} validators never synced over mutual TLS`);
    const stolen = deviceIdentity.stolen;
    if (stolen && stolen.refusedSyncCode !== 'client-certificate-revoked')
      failures.push(`the revoked validator ${stolen.deviceId}'s sync was not refused as revoked (${stolen.refusedSyncCode ?? 'served'})`);
    if (stolen && stolen.unsyncedAfterDrain !== 0)
      failures.push(`the re-enrolled validator ${stolen.deviceId} still holds ${stolen.unsyncedAfterDrain} unsynced records`);
  }

  const fleetByKind: Record<string, number> = {};
  for (const d of fleet.devices) bump(fleetByKind, d.kind);
  const ridersByKind: Record<string, number> = {};
  const ridersByProfile: Record<string, number> = {};
  for (const rider of input.riders) {
    bump(ridersByKind, rider.kind);
    bump(ridersByProfile, rider.profile);
  }
  const o = input.options;
  return {
    ok: failures.length === 0,
    failures,
    meta: {
      seed: o.seed,
      riders: o.riders,
      devices: fleet.devices.length,
      days: o.days,
      quick: o.quick,
      firstDay: `${String(o.firstDay).slice(0, 4)}-${String(o.firstDay).slice(4, 6)}-${String(o.firstDay).slice(6, 8)}`,
      simulatedFrom: beijingText(input.simulatedFromMs),
      simulatedUntil: beijingText(input.simulatedUntilMs),
      wallClockMs: Math.round(input.wallClockMs),
      phasesMs: {
        ...input.phasesMs,
        'taps (inside the days)': Math.round(facts.latenciesMs.reduce((a, b) => a + b, 0)),
        'sync (all)': Math.round(facts.syncWallMs),
      },
      gatewayUrl: gateway.url,
      gatewayRequests: gateway.requests,
      stateDir: input.stateDir,
      syncEveryMin: o.syncEveryMin,
    },
    fleet: {
      byKind: fleetByKind,
      stations: fleet.stations.map((s) => s.name),
      busLines: [...new Set(fleet.buses.map((b) => b.place))],
      parks: [...new Set(fleet.parks.map((p) => p.place))],
    },
    riders: { byKind: ridersByKind, byProfile: ridersByProfile, parkPassesSold: facts.parkPassesSold },
    taps: {
      total: facts.taps.length,
      accepted,
      refused: facts.taps.length - accepted,
      chargedFen,
      byKind,
      byResult,
      byHour,
      tornRecovered: facts.tornTapsRecovered,
    },
    revenue: { byOperator, byCompany, exitsWithoutEntry, parkPassesFen, writtenOffFen, totalFen: clearedFen + parkPassesFen },
    loads: {
      bySource,
      byChannel,
      torn: {
        beforeCredit: facts.loads.filter((l) => l.ending === 'torn-before-credit').length,
        confirmLost: facts.loads.filter((l) => l.ending === 'confirm-lost').length,
        resolutions,
        pendingAtEnd,
      },
      voidedFen,
    },
    refunds,
    blacklist: { size: listed.size, version: gateway.blacklist.version, byReason, propagation },
    incidents: input.incidents,
    deviceIdentity,
    latency,
    sync: {
      rounds: facts.syncRounds,
      uploaded: facts.syncUploaded,
      failures: facts.syncFailures,
      offlineWindows: facts.offlineWindows.map((w) => ({
        deviceId: w.deviceId,
        from: beijingText(w.fromMs),
        until: beijingText(w.untilMs),
        hours: round3((w.untilMs - w.fromMs) / 3_600_000),
      })),
    },
    reconciliation: { gateway: rec, ledger: gateway.balances, moneyIdentity, crossCheck: input.crossCheck },
  };
}

/** What the demo's broken-card exchange (POST /v1/cards/{cardNo}/exchange) answered. */
export interface BrokenCardExchange {
  oldCardStatus: string;
  blacklistReason: string | null;
  applicationId: string;
  applicationState: string;
  dueMs: number;
}
