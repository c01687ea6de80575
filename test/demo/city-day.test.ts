/**
 * The demo in quick mode, in-process, with a fixed seed: it must exit 0 with a reconciled
 * report, taps of every kind, the broken card's late tap written off, and lost cards refused
 * at gates after sync (temporary: refused, not locked; formal: refused and locked), and every
 * validator enrolled with the device CA and synced over mutual TLS only (the stolen one refused
 * once revoked, then re-enrolled with a new key and drained).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliResult } from '#demo/city-day';
import { parseOptions } from '#demo/options';
import { buildReport, emptyRunFacts, percentile, type ReportInput } from '#demo/report';
import { SeededRandom } from '#demo/seeded-random';

const sink = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });

let dir: string;
let result: CliResult;
let stdout = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'city-day-'));
  const out = new Writable({
    write(chunk, _encoding, done) {
      stdout += String(chunk);
      done();
    },
  });
  result = await main(['--quick', '--seed', '7', '--out', dir, '--no-progress'], { stdout: out, stderr: sink() });
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run demo -- --quick', () => {
  it('exits 0 with a reconciled report: gateway discrepancy 0.00, money identity and card cross-check exact', () => {
    expect(result.exitCode).toBe(0);
    const report = result.report!;
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.reconciliation.gateway.discrepancy).toBe('0.00');
    expect(report.reconciliation.gateway.ok).toBe(true);
    expect(report.reconciliation.moneyIdentity.differenceFen).toBe(0);
    expect(report.reconciliation.moneyIdentity.moneyInFen).toBeGreaterThan(0);
    const after = report.reconciliation.crossCheck.afterFinalSync;
    expect(after.differenceFen).toBe(0);
    expect(after.unsyncedRecords).toBe(0);
    expect(after.sumCardBalancesFen).toBe(after.sumShadowBalancesFen);
    expect(after.sumShadowBalancesFen).toBe(report.reconciliation.gateway.sumShadowBalancesFen);
    // Before the final sync the dead bus still holds taps: a difference, fully explained.
    const before = report.reconciliation.crossCheck.beforeFinalSync;
    expect(before.unsyncedRecords).toBeGreaterThan(0);
    expect(before.unexplainedFen).toBe(0);
  });

  it('writes report.json and a self-contained report.html with SVG charts', () => {
    const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    for (const field of ['meta', 'fleet', 'taps', 'revenue', 'loads', 'refunds', 'blacklist', 'latency', 'sync', 'reconciliation', 'incidents'])
      expect(json).toHaveProperty(field);
    expect(json.meta.seed).toBe(7);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script/i);
    expect(stdout).toContain('RECONCILED');
  });

  it('has taps of every device kind, revenue for every transit operator, loads from counters and the app', () => {
    const report = result.report!;
    for (const kind of ['subway-entry', 'subway-exit', 'bus', 'pr-entry', 'pr-exit', 'park-gate']) {
      expect(report.taps.byKind[kind]?.accepted ?? 0, kind).toBeGreaterThan(0);
    }
    for (const operator of ['subway', 'bus', 'pr', 'park']) {
      expect(report.revenue.byOperator.find((o) => o.operator === operator)?.amountFen ?? 0, operator).toBeGreaterThan(0);
    }
    // The operator-company dimension (清分): the same cleared amount, the subway split among the
    // companies running the lines ridden, every exit with its entry station (validator → sync → gateway).
    const cleared = report.revenue.byOperator.reduce((s, o) => s + o.amountFen, 0);
    expect(report.revenue.byCompany.reduce((s, c) => s + c.amountFen, 0)).toBe(cleared);
    expect(report.revenue.byCompany.find((c) => c.companyId === 'bj-subway')?.amountFen ?? 0).toBeGreaterThan(0);
    expect(report.revenue.byCompany.filter((c) => ['bj-subway', 'bj-mtr', 'bii-rail'].includes(c.companyId)).length).toBeGreaterThan(1);
    expect(report.revenue.exitsWithoutEntry).toBe(0);
    expect(report.revenue.parkPassesFen).toBeGreaterThan(0);
    expect(report.loads.byChannel.counter.count).toBeGreaterThan(0);
    expect(report.loads.byChannel.app.count).toBeGreaterThan(0);
    expect(report.loads.torn.pendingAtEnd).toBe(0);
    expect(report.latency.taps).toBe(report.taps.total);
    expect(report.latency.p50Ms).toBeGreaterThan(0);
    expect(report.latency.p99Ms).toBeGreaterThanOrEqual(report.latency.p95Ms);
  });

  it('refunds the broken card within 2 natural days and writes off its late tap', () => {
    const [refund] = result.report!.refunds;
    expect(refund.status).toBe('paid');
    expect(refund.settledBy).toBe('deadline');
    expect(refund.withinTwoNaturalDays).toBe(true);
    expect(refund.lateTapChargeFen + 0).toBeGreaterThanOrEqual(0);
    expect(refund.writtenOffFen).toBeGreaterThan(0);
    expect(result.report!.revenue.writtenOffFen).toBe(refund.writtenOffFen);
  });

  it('exchanges the broken card at its issuing bank: blacklisted exchanged, a new card applied for, printed', () => {
    const broken = result.report!.incidents.refund!;
    expect(broken.exchange).toMatchObject({ oldCardStatus: 'exchanged', blacklistReason: 'exchanged', applicationState: 'applied' });
    expect(result.report!.blacklist.byReason.exchanged).toBeGreaterThanOrEqual(1);
    expect(stdout).toContain(`broken-card exchange ${broken.cardNo}: old card exchanged`);
  });

  it('refuses lost cards at gates after sync: temporary without locking, formal locked', () => {
    const { temporaryLoss, formalLoss } = result.report!.incidents;
    expect(temporaryLoss!.deviceHadIt).toBe(true);
    expect(temporaryLoss!.finderResult).toBe('BLACKLISTED');
    expect(temporaryLoss!.locked).toBe(false);
    expect(formalLoss!.finderResult).toBe('BLACKLISTED_AND_LOCKED');
    expect(formalLoss!.locked).toBe(true);
    expect(formalLoss!.secondResult).toMatch(/LOCKED/);
    const blacklist = result.report!.blacklist;
    expect(blacklist.size).toBe(3);
    for (const p of blacklist.propagation) expect(p.devicesHolding).toBe(p.devices);
  });
});

describe('device identity in the demo (issue 9)', () => {
  it('creates the CA on first run and enrols every validator: one certificate each, key files private', () => {
    const report = result.report!;
    const id = report.deviceIdentity!;
    expect(id.devices).toBe(report.meta.devices);
    expect(id.devicesEnrolled).toBe(id.devices);
    // One certificate per device, plus the stolen validator's re-enrolment.
    expect(id.certificatesIssued).toBe(id.devices + 1);
    expect(id.certificatesByVia).toEqual({ enrolment: id.devices + 1 });
    expect(id.certificatesByStatus).toEqual({ active: id.devices, revoked: 1 });
    expect(id.enrolWallMs).toBeGreaterThan(0);
    expect(id.deviceUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const state = report.meta.stateDir;
    expect(statSync(join(state, 'pki', 'device-ca.key.pem')).mode & 0o077).toBe(0);
    const identityFile = join(state, 'devices', `${id.stolen!.deviceId}.db.pki`, 'device-identity.json');
    expect(statSync(identityFile).mode & 0o077).toBe(0);
    const identityDirs = readdirSync(join(state, 'devices')).filter((name) => name.endsWith('.db.pki'));
    expect(identityDirs).toHaveLength(id.devices);
    for (const name of identityDirs) expect(existsSync(join(state, 'devices', name, 'device-identity.json')), name).toBe(true);
  });

  it('syncs only over mutual TLS: every device had rounds served there, the main API refuses bearer sync', () => {
    const id = result.report!.deviceIdentity!;
    expect(id.mtlsSyncsServed).toBeGreaterThan(0);
    expect(id.devicesSyncedOverMtls).toBe(id.devices);
    // Every uploaded record went through the device port: the gateway saw no other sync path work.
    expect(result.report!.sync.uploaded).toBeGreaterThan(0);
    expect(id.mainApiBearerSync).toMatchObject({ status: 403, code: 'sync-requires-device-tls' });
    // The only refusals on the device port are the stolen validator's.
    expect(id.refusedByCode).toEqual({ 'client-certificate-revoked': id.stolen!.refusedSyncs });
    expect(id.mtlsSyncRequests).toBe(id.mtlsSyncsServed + id.stolen!.refusedSyncs);
  });

  it('refuses the stolen validator after revocation; its journal keeps the taps until it is re-enrolled with a new key and drained', () => {
    const report = result.report!;
    const stolen = report.deviceIdentity!.stolen!;
    expect(stolen.revokedSerials).toHaveLength(1);
    expect(stolen.refusedSyncCode).toBe('client-certificate-revoked');
    expect(stolen.refusedSyncStatus).toBe('rejected');
    expect(stolen.refusedSyncs).toBeGreaterThanOrEqual(1);
    expect(stolen.unsyncedWhileRevoked).toBeGreaterThan(0);
    expect(stolen.unsyncedWhileRevoked).toBeGreaterThanOrEqual(stolen.unsyncedAtRevocation);
    expect(stolen.newSerial).not.toBeNull();
    expect(stolen.newSerial).not.toBe(stolen.revokedSerials[0]);
    expect(stolen.drainStatus).toBe('drained');
    expect(stolen.drainedRecords).toBe(stolen.unsyncedWhileRevoked);
    expect(stolen.unsyncedAfterDrain).toBe(0);
    const installed = JSON.parse(readFileSync(join(report.meta.stateDir, 'devices', `${stolen.deviceId}.db.pki`, 'device-identity.json'), 'utf8'));
    expect(installed.deviceId).toBe(stolen.deviceId);
    expect(new X509Certificate(installed.certPem).serialNumber.toLowerCase()).toBe(stolen.newSerial);
    expect(stdout).toContain(`stolen validator ${stolen.deviceId}`);
    expect(stdout).toContain('refused client-certificate-revoked');
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('Device identity');
  });
});

describe('demo helpers', () => {
  it('the seeded random repeats for a seed and differs across seeds', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const xs = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xs);
  });

  it('percentiles are nearest-rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([5], 95)).toBe(5);
  });

  it('parses options and refuses bad ones', () => {
    expect(parseOptions([])).toMatchObject({ riders: 600, devices: 40, days: 1, seed: 8, quick: false, outDir: 'var/demo-8' });
    expect(parseOptions(['--quick', '--seed=3'])).toMatchObject({ riders: 40, devices: 12, seed: 3, outDir: 'var/demo-3' });
    expect(() => parseOptions(['--riders', 'x'])).toThrow(/whole number/);
    expect(() => parseOptions(['--days', '10'])).toThrow(/1..9/);
    expect(() => parseOptions(['--frobnicate'])).toThrow(/unknown option/);
  });
});

describe('report verdict', () => {
  const crossCheck = (differenceFen: number) => ({
    cards: 1,
    sumCardBalancesFen: 1_000 + differenceFen,
    sumShadowBalancesFen: 1_000,
    differenceFen,
    unsyncedDebitsFen: 0,
    unsyncedRecords: 0,
    creditedPendingLoadsFen: 0,
    unexplainedFen: differenceFen,
    excluded: [],
    mismatchedCards: [],
  });
  const input = (discrepancyFen: number, cardDifferenceFen: number): ReportInput => ({
    options: { riders: 1, devices: 0, days: 1, seed: 1, quick: true, outDir: '.', progress: false, firstDay: 20270106, syncEveryMin: 60 },
    facts: emptyRunFacts(),
    fleet: { devices: [], stations: [], buses: [], lots: [], parks: [], enrolWallMs: 0 },
    riders: [],
    incidents: { temporaryLoss: null, formalLoss: null, refund: null },
    loadStates: new Map(),
    identity: null,
    crossCheck: { beforeFinalSync: crossCheck(0), afterFinalSync: crossCheck(cardDifferenceFen) },
    gateway: {
      url: 'http://127.0.0.1:1',
      requests: 0,
      reconciliation: {
        ok: discrepancyFen === 0,
        discrepancy: (discrepancyFen / 100).toFixed(2),
        discrepancyFen,
        cardLiability: ((1_000 + discrepancyFen) / 100).toFixed(2),
        cardLiabilityFen: 1_000 + discrepancyFen,
        sumShadowBalances: '10.00',
        sumShadowBalancesFen: 1_000,
        forfeitedLostBalances: '0.00',
        forfeitedLostBalancesFen: 0,
        pendingLoadsFen: 0,
        pendingLoadsLedgerFen: 0,
        postingsBalanceFen: 0,
        unbalancedPostings: 0,
        postings: 1,
      },
      balances: [
        { account: 'payment:cash', balance: ((1_000 + discrepancyFen) / 100).toFixed(2), balanceFen: 1_000 + discrepancyFen },
        { account: 'liability:card-purse', balance: ((-1_000 - discrepancyFen) / 100).toFixed(2), balanceFen: -1_000 - discrepancyFen },
      ],
      clearing: [],
      teller: [],
      blacklist: { entries: [], more: false, version: 0 },
    },
    stateDir: '.',
    wallClockMs: 1,
    phasesMs: {},
    simulatedFromMs: 0,
    simulatedUntilMs: 0,
  });

  it('fails when the revoked validator still synced, or a validator never synced over mutual TLS', () => {
    const identity = (refusedSyncCode: string | null, devicesServed: number): ReportInput['identity'] => ({
      caFingerprint: 'ab'.repeat(32),
      deviceUrl: 'https://127.0.0.1:1',
      enrolWallMs: 1,
      certificates: [{ deviceId: 'BUS-1', serial: '01', issuedVia: 'enrolment', status: 'revoked' }],
      devices: [
        { deviceId: 'BUS-1', requests: 2, ok: devicesServed >= 1 ? 1 : 0, refused: {} },
        { deviceId: 'BUS-2', requests: 1, ok: devicesServed >= 2 ? 1 : 0, refused: {} },
      ],
      mainApiBearerSync: { deviceId: 'BUS-1', status: 403, code: 'sync-requires-device-tls' },
      reenrolledAfterExpiry: 0,
      stolen: {
        deviceId: 'BUS-1',
        revokedAtMs: 0,
        revokedSerials: ['01'],
        unsyncedAtRevocation: 1,
        refusedSyncAtMs: 1,
        refusedSyncStatus: refusedSyncCode === null ? 'drained' : 'rejected',
        refusedSyncCode,
        refusedSyncs: refusedSyncCode === null ? 0 : 1,
        unsyncedWhileRevoked: 1,
        reenrolledAtMs: 2,
        newSerial: '02',
        drainStatus: 'drained',
        drainedRecords: 1,
        unsyncedAfterDrain: 0,
      },
    });
    expect(buildReport({ ...input(0, 0), identity: identity('client-certificate-revoked', 2) })).toMatchObject({ ok: true, failures: [] });
    const served = buildReport({ ...input(0, 0), identity: identity(null, 2) });
    expect(served.ok).toBe(false);
    expect(served.failures.join()).toMatch(/not refused as revoked/);
    const bearer = buildReport({ ...input(0, 0), identity: identity('client-certificate-revoked', 1) });
    expect(bearer.ok).toBe(false);
    expect(bearer.failures.join()).toMatch(/1 validators never synced over mutual TLS/);
  });

  it('is ok only when the gateway, the ledger identity and the card cross-check all agree', () => {
    expect(buildReport(input(0, 0))).toMatchObject({ ok: true, failures: [] });
    const gatewayOff = buildReport(input(1, 0));
    expect(gatewayOff.ok).toBe(false);
    expect(gatewayOff.failures.join()).toMatch(/discrepancy 0.01/);
    const cardsOff = buildReport(input(0, -5));
    expect(cardsOff.ok).toBe(false);
    expect(cardsOff.failures.join()).toMatch(/differ by -5 fen/);
  });

  it('fails when the broken card was not exchanged', () => {
    const refund = { cardNo: '31040000000000001', offlineBus: 'bus-1', lateTapResult: null, lateTapChargeFen: 0, refund: null };
    const missed = buildReport({ ...input(0, 0), incidents: { temporaryLoss: null, formalLoss: null, refund: { ...refund, exchange: null } } });
    expect(missed.ok).toBe(false);
    expect(missed.failures.join()).toMatch(/was not exchanged/);
    const exchange = { oldCardStatus: 'exchanged', blacklistReason: 'exchanged', applicationId: 'a1', applicationState: 'applied', dueMs: 0 };
    expect(buildReport({ ...input(0, 0), incidents: { temporaryLoss: null, formalLoss: null, refund: { ...refund, exchange } } }).failures).toEqual([]);
  });
});
