/**
 * A simulated city day, end to end (issue 8): a real gateway on SQLite listening on loopback,
 * a fleet of validators with their own SQLite device databases syncing over HTTP, riders with
 * simulated cards, and a compressed clock injected into all of them.
 *
 * The run: setup the evening before (fleet, cards, first top-ups, park passes in the sale
 * window), then each day's events in time order (commutes, bus rides with and without tap-off,
 * P+R stays, park visits, app and counter top-ups, some torn, lost cards, a broken card,
 * validators offline for hours, sync ticks), then the epilogue (the refund deadline passes, the
 * last offline bus comes back, everything syncs, pending loads are settled by card evidence)
 * and the report (demo/report.ts).
 *
 * Device identity (issue 9): the gateway creates its device CA in <outDir>/state/pki on first run
 * and starts the mutual-TLS device listener; every validator enrols (own key, CSR, certificate)
 * and syncs only over mutual TLS. One bus validator is reported stolen at 13:00: the operator
 * revokes it, its next sync is refused (its taps stay in its journal); at 15:00 the unit is
 * recovered, re-enrolled with a new key, and drains its journal, so the day still reconciles.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  LIMITS,
  TAP_RESULT,
  beijingDateTime,
  defaultFareTablesSpec,
  encodeFareTablesJson,
  epochMsFromBeijing,
  parseFareTablesJson,
  type DeviceKind,
  type FareTables,
  type HolderProfile,
} from '#core';
import { buildGateway, DEFAULT_SUBWAY_NETWORK_CSV } from '#gateway/app';
import { simulatorCardReader } from '#gateway/console/card-reader';
import { createStaff } from '#gateway/console/staff';
import { IssuerKeyService, type MasterKeySet } from '#issuer/issuer-key-service';
import { readTextFile } from '#tools/cli';
import { initDevicePki, startDevicePkiListener } from '#gateway/pki/start-device-pki';
import { SqliteStore } from '#gateway/store/sqlite-store';
import type { DeviceTapResult } from '#validator/device';
import { identityDirFor } from '#validator/pki/device-tls';
import { enrolDevice } from '#validator/pki/enrolment';
import type { DrainResult } from '#validator/sync-client';
import { EventQueue } from './event-queue.ts';
import { buildFleet, closeFleet, isOnline, timedTap, type Fleet, type SimDevice, type Station } from './fleet.ts';
import { bearer, GatewayClient, GatewayHttpError, type GatewayAnswer } from './gateway-client.ts';
import { ProgressBar } from './progress-bar.ts';
import { buildReport, emptyRunFacts, type BrokenCardExchange, type CityDayReport, type IdentityFacts, type ReportInput } from './report.ts';
import {
  appSession,
  buyParkPass,
  counterCardRead,
  effectiveBalance,
  issueRiderCard,
  topUp,
  type LoadChannel,
  type LoadEnding,
  type LoadOutcome,
  type PaymentSource,
  type RiderCard,
} from './rider-cards.ts';
import { SeededRandom } from './seeded-random.ts';
import { SimClock } from './sim-clock.ts';

export interface CityDayOptions {
  riders: number;
  devices: number;
  days: number;
  seed: number;
  quick: boolean;
  /** Where report.json / report.html go; the SQLite files go to <outDir>/state. */
  outDir: string;
  /** Draw the progress bar on stderr. */
  progress: boolean;
  /** First simulated day, YYYYMMDD (Beijing). Default 2027-01-06, a Wednesday inside the park-pass sale window. */
  firstDay?: number;
  /** Minutes between sync attempts of an online station gate (P+R and park gates: twice that, buses: four times). Default 30, quick 60. */
  syncEveryMin?: number;
  /** The subway network CSV (default env SUBWAY_NETWORK_CSV, else ../shared/data/beijing-subway-sections.csv). */
  subwayCsvPath?: string;
  /**
   * `--serve`: after the day, before the gateway closes, called with the report and the web
   * console's address and demo teller; the gateway stays up until the returned promise settles.
   */
  serve?: (report: CityDayReport, console: DemoConsole) => Promise<void>;
}

/** The web console of a served demo: its address and the demo teller's sign-in. */
export interface DemoConsole {
  url: string;
  username: string;
  password: string;
}

export const DEMO_TELLER = { username: 'demo.teller', displayName: '演示柜员', password: 'demo-teller-1', organisationId: 'branch-01' } as const;

/** The network CSV a run reads: the option, else env SUBWAY_NETWORK_CSV, else the shared data beside the clone. */
export function subwayCsvPathOf(options: Pick<CityDayOptions, 'subwayCsvPath'>): string {
  return options.subwayCsvPath ?? process.env.SUBWAY_NETWORK_CSV ?? DEFAULT_SUBWAY_NETWORK_CSV;
}

export const SUBWAY_CSV_HINT = 'the demo reads ../shared/data/beijing-subway-sections.csv; give --subway-csv or set SUBWAY_NETWORK_CSV';

export const DEFAULT_FIRST_DAY = 20270106;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

type RiderKind = 'commute' | 'bus-commute' | 'bus' | 'pr' | 'park';
const RIDER_KINDS: readonly RiderKind[] = ['commute', 'bus-commute', 'bus', 'pr', 'park'];
const RIDER_WEIGHTS: Record<RiderKind, number> = { commute: 0.4, 'bus-commute': 0.15, bus: 0.15, pr: 0.1, park: 0.2 };

interface Rider extends RiderCard {
  kind: RiderKind;
  home: Station;
  work: Station;
  parkPass: boolean;
  /** Taps after this instant do not happen (the card was lost or broke). */
  goneAtMs: number;
  /** Reported lost / refunded: excluded from the rider-driven top-ups. */
  incident: 'temporary-loss' | 'formal-loss' | 'refund' | null;
  loadsMade: number;
}

interface Incidents {
  temporaryLoss: {
    rider: Rider;
    reportedMs: number;
    version: number | null;
    finderTap: DeviceTapResult | null;
    finderDevice: string | null;
    deviceHadIt: boolean;
  } | null;
  formalLoss: {
    rider: Rider;
    reportedMs: number;
    version: number | null;
    finderTap: DeviceTapResult | null;
    finderDevice: string | null;
    secondTap: DeviceTapResult | null;
    secondDevice: string | null;
    cardLockedAfter: boolean;
  } | null;
  refund: {
    rider: Rider;
    offlineBus: SimDevice;
    lateTap: DeviceTapResult | null;
    refundId: string | null;
    requestedMs: number;
    refund: GatewayAnswer<'get', '/v1/refunds/{id}'> | null;
    exchange: BrokenCardExchange | null;
  } | null;
  stolen: NonNullable<IdentityFacts['stolen']> | null;
  channels?: ReportInput['incidents']['channels'];
}

function pickWeighted(random: SeededRandom): RiderKind {
  let x = random.next();
  for (const kind of RIDER_KINDS) {
    x -= RIDER_WEIGHTS[kind];
    if (x < 0) return kind;
  }
  return 'commute';
}

function masterKeys(random: SeededRandom): Map<number, MasterKeySet> {
  // Demo keys from the seed (a real issuer's keys come from its key file or HSM).
  return new Map([[1, { purchase: random.bytes(16), load: random.bytes(16), tac: random.bytes(16), block: random.bytes(16), issuer: random.bytes(16) }]]);
}

export async function runCityDay(options: CityDayOptions): Promise<CityDayReport> {
  const wallStart = performance.now();
  const random = new SeededRandom(options.seed);
  const planRandom = random.fork(1);
  const cardRandom = random.fork(2);
  const _syncRandom = random.fork(3);
  const firstDay = options.firstDay ?? DEFAULT_FIRST_DAY;
  const syncEveryMs = (options.syncEveryMin ?? (options.quick ? 60 : 30)) * MIN;
  const progress = new ProgressBar(options.progress);

  // The network first: a missing file is reported before anything is created or started.
  const csvPath = subwayCsvPathOf(options);
  const csv = readTextFile(csvPath, 'subway network CSV', SUBWAY_CSV_HINT);

  const stateDir = join(options.outDir, 'state');
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(join(stateDir, 'devices'), { recursive: true });

  // Setup happens the evening before the first day, 20:00 Beijing.
  const dayStartMs = (d: number): number => epochMsFromBeijing(firstDay, 0) + d * DAY;
  const clock = new SimClock(dayStartMs(0) - 4 * HOUR);
  const t = (d: number, hour: number, minute = 0): number => dayStartMs(d) + hour * HOUR + minute * MIN;

  // --- gateway -----------------------------------------------------------------------------
  progress.start('starting gateway');
  // Refund payouts run from the sync route and the explicit ops call, at simulated time; the
  // real-time job timer would fire at wall-clock moments (nondeterministic), so it is off.
  const previousJobsInterval = process.env.GATEWAY_JOBS_INTERVAL_MS;
  process.env.GATEWAY_JOBS_INTERVAL_MS = '0';
  const keys = IssuerKeyService.fromKeySets(masterKeys(random.fork(4)), 1);
  const store = new SqliteStore({ path: join(stateDir, 'gateway.db'), clock: clock.now });
  const ridersByCardNo = new Map<string, Rider>();
  const adminToken = `demo-operator-${Buffer.from(random.bytes(16)).toString('hex')}`;
  // The demo opts in to a device CA, as an operator does with `npm run gateway -- pki init` (the
  // state folder is new each run; the gateway itself never creates one). Certificates and codes
  // are judged by the simulated clock; the CA is also valid at wall time.
  const pki = initDevicePki({ dir: join(stateDir, 'pki'), certificateValidityMs: 7 * DAY, enrolmentCodeTtlMs: DAY }, clock.nowMs);
  const app = await buildGateway({
    store,
    keys,
    clock: clock.now,
    adminToken,
    subwayNetworkCsvPath: csvPath,
    policies: {
      lossExpiryIntervalMs: 0,
      // The demo issues hundreds of cards: a cheaper scrypt than production's N=16384 (demo only).
      passwordKdf: { N: 1024, r: 8, p: 1 },
    },
    devicePki: pki,
    // The console's counter reader is the riders' simulated cards (the demo holds them).
    console: { cardReader: simulatorCardReader((cardNo) => ridersByCardNo.get(cardNo)?.card) },
  });
  if (previousJobsInterval === undefined) delete process.env.GATEWAY_JOBS_INTERVAL_MS;
  else process.env.GATEWAY_JOBS_INTERVAL_MS = previousJobsInterval;
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('gateway did not listen on a TCP port');
  const gateway = new GatewayClient(`http://127.0.0.1:${address.port}`);
  const deviceListener = await startDevicePkiListener(app, pki, {
    deviceHost: '127.0.0.1',
    devicePort: 0,
    advertisedHost: '127.0.0.1',
    hostnames: ['127.0.0.1', 'localhost'],
  });
  const operator = adminToken;
  const branches = ['branch-01', 'branch-02', 'branch-03'];
  const counters: string[] = [];
  for (const branchId of branches) {
    counters.push((await gateway.post('/v1/auth/tokens', operator, { body: { role: 'counter', label: `teller ${branchId}`, branchId } })).token);
  }
  const counterFor = (rider: { index: number }): string => counters[rider.index % counters.length];
  // A street service point (issue 16, the channel matrix): it resets service passwords but takes no top-ups.
  await gateway.post('/v1/organisations', operator, {
    body: { id: 'sp-xichang-01', name: '西长安街街道社保卡服务网点', channelKind: 'service-point' },
  });
  const servicePoint = (
    await gateway.post('/v1/auth/tokens', operator, { body: { role: 'counter', label: 'service point clerk', organisationId: 'sp-xichang-01' } })
  ).token;
  if (options.serve) {
    // A teller of branch-01 (the organisation its counter token made) for the served console.
    await createStaff(store, { ...DEMO_TELLER, role: 'teller' }, 'demo', clock.nowMs, { N: 1024, r: 8, p: 1 });
    await store.transaction((tx) => tx.run('UPDATE staff_accounts SET must_change = 0 WHERE username = ?', [DEMO_TELLER.username]));
  }

  let fleet: Fleet | null = null;
  try {
    // --- fleet ------------------------------------------------------------------------------
    const fareTablesJson = encodeFareTablesJson(defaultFareTablesSpec(csv, 1, 0));
    const fares: FareTables = parseFareTablesJson(fareTablesJson);
    progress.start('validators');
    fleet = await buildFleet({
      dir: join(stateDir, 'devices'),
      total: options.devices,
      fares,
      fareTablesJson,
      psamKeys: keys.psamKeyMaterial(),
      gateway,
      operatorToken: operator,
      clock,
      random: random.fork(5),
      onDevice: (done, total) => progress.update(done, total),
      onEnrolStart: () => progress.start('enrolling validators'),
      onEnrolled: (done, total) => progress.update(done, total),
    });
    const theFleet = fleet;

    // Once the CA exists the main API refuses validator sync with the bearer credential.
    const probeDevice = theFleet.devices[0];
    const probe = await gateway.api.POST('/v1/devices/{deviceId}/sync', {
      params: { path: { deviceId: probeDevice.id } },
      body: undefined, // a probe: no msgpack body is sent
      headers: bearer(probeDevice.credential),
      parseAs: 'text', // a 200 would be msgpack
    });
    if (![403, 401, 200, 400, 415].includes(probe.response.status))
      throw new GatewayHttpError('POST', `/v1/devices/${probeDevice.id}/sync`, probe.response.status, probe.error ?? probe.data ?? null);
    // The refusal is a problem+json (read as text here, since a 200 would be msgpack).
    const refusal = probe.error as { code?: string } | undefined;
    const mainApiBearerSync = { deviceId: probeDevice.id, status: probe.response.status, code: refusal?.code ?? null };
    let reenrolledAfterExpiry = 0;

    // --- facts gathered for the report ------------------------------------------------------
    const facts = emptyRunFacts();
    const recordTap = (device: SimDevice, result: DeviceTapResult, latencyMs: number, nowMs: number): void => {
      facts.taps.push({
        deviceId: device.id,
        kind: device.kind,
        operator: device.operator,
        status: result.status,
        resultName: result.resultName,
        chargeFen: result.chargeFen,
        atMs: nowMs,
      });
      facts.latenciesMs.push(latencyMs);
    };

    const syncOne = async (device: SimDevice): Promise<DrainResult> => {
      const started = performance.now();
      let result = await device.sync.drain();
      // A validator offline past its certificate's end (the dead bus on a long run) could not
      // renew: the operator enrols it again with a new code, then it syncs.
      if (result.status === 'rejected' && device.tls.lastRefusal === 'client-certificate-expired') {
        facts.syncRounds += result.rounds;
        facts.syncFailures += result.failures;
        device.tls.lastRefusal = null;
        await enrolDevice({ dir: identityDirFor(device.dbPath), gatewayUrl: gateway.baseUrl, operatorToken: operator, deviceId: device.id });
        reenrolledAfterExpiry++;
        result = await device.sync.drain();
      }
      facts.syncWallMs += performance.now() - started;
      facts.syncRounds += result.rounds;
      facts.syncFailures += result.failures;
      facts.syncUploaded += result.uploaded;
      const version = device.device.state.read().blacklistVersion;
      for (const report of facts.lossReports) {
        if (report.version === null) continue;
        const seen = facts.deviceBlacklistSeen.get(`${report.cardNo}@${device.id}`);
        if (seen === undefined && version >= report.version) facts.deviceBlacklistSeen.set(`${report.cardNo}@${device.id}`, clock.nowMs);
      }
      return result;
    };

    // First sync of every device: blacklist version and watermark start current.
    progress.start('first sync');
    for (const [i, device] of theFleet.devices.entries()) {
      await syncOne(device);
      progress.update(i + 1, theFleet.devices.length);
    }

    // --- riders -----------------------------------------------------------------------------
    progress.start('issuing cards');
    const riders: Rider[] = [];
    ridersByCardNo.clear();
    for (let i = 0; i < options.riders; i++) {
      const kind: RiderKind = i < RIDER_KINDS.length ? RIDER_KINDS[i] : pickWeighted(planRandom);
      const profileRoll = planRandom.next();
      const profile: HolderProfile = profileRoll < 0.08 ? 'student' : profileRoll < 0.16 ? 'senior' : 'adult';
      const card = await issueRiderCard(gateway, counterFor({ index: i }), i, profile, cardRandom);
      const home = planRandom.pick(theFleet.stations);
      let work = planRandom.pick(theFleet.stations);
      if (work.code === home.code) work = theFleet.stations[(theFleet.stations.indexOf(home) + 1) % theFleet.stations.length];
      riders.push({ ...card, kind, home, work, parkPass: false, goneAtMs: Number.MAX_SAFE_INTEGER, incident: null, loadsMade: 0 });
      ridersByCardNo.set(card.cardNo, riders[riders.length - 1]);
      progress.update(i + 1, options.riders);
    }

    let loadSeq = 0;
    const doLoad = async (
      rider: Rider,
      channel: LoadChannel,
      amountFen: number,
      ending: LoadEnding,
      paymentSource?: PaymentSource,
    ): Promise<LoadOutcome | null> => {
      const token = channel === 'app' ? await appSession(gateway, rider, clock.nowMs) : counterFor(rider);
      const source = paymentSource ?? (channel === 'app' ? 'app' : planRandom.pick<PaymentSource>(['cash', 'bank-account', 'other-bank-card']));
      const balance = effectiveBalance(rider);
      // Respect the 1,000-yuan cap: top up less (or not at all) when the card is nearly full.
      if (balance + amountFen > LIMITS.balanceCapFen) return null;
      const outcome = await topUp(gateway, rider, channel, token, amountFen, source, ending, `demo-${options.seed}-load-${++loadSeq}`);
      rider.loadsMade++;
      facts.loads.push({ ...outcome, cardNo: rider.cardNo, atMs: clock.nowMs, riderIndex: rider.index });
      return outcome;
    };

    progress.start('first top-ups');
    for (const [i, rider] of riders.entries()) {
      // Counter top-ups are whole multiples of 10 yuan; a few riders start nearly empty.
      const amountFen = planRandom.chance(0.06) ? 1_000 : planRandom.int(3, 20) * 1_000;
      await doLoad(rider, 'counter', amountFen, 'complete');
      progress.update(i + 1, riders.length);
    }

    // Park passes: sold 15 Dec - 15 Jan; the first day is in January, so the pass sold now is
    // this year's and already valid (1 January - 31 January next year).
    progress.start('park passes');
    const parkRiders = riders.filter((r) => r.kind === 'park');
    for (const [i, rider] of parkRiders.entries()) {
      // Some park visitors have no pass (always the second one, so the ticketed park sees visitors).
      if (i === 1 || (i > 1 && planRandom.chance(0.25))) continue;
      const viaApp = planRandom.chance(0.4);
      const token = viaApp ? await appSession(gateway, rider, clock.nowMs) : counterFor(rider);
      await buyParkPass(gateway, rider, token, `demo-${options.seed}-pass-${rider.cardNo}`);
      rider.parkPass = true;
      facts.parkPassesSold++;
      progress.update(i + 1, parkRiders.length);
    }

    // --- the days -----------------------------------------------------------------------------
    const queue = new EventQueue();
    const segmentedBuses = theFleet.buses.filter((b) => b.busLine?.kind === 'segmented');
    const flatBuses = theFleet.buses.filter((b) => b.busLine?.kind === 'flat');
    const municipalParks = theFleet.parks.filter((p) => p.parkId !== 101);
    const ticketedParks = theFleet.parks.filter((p) => p.parkId === 101);
    // The bus whose modem dies at noon on day 1 and stays dead until after the refund deadline.
    const offlineBus = segmentedBuses[segmentedBuses.length - 1] ?? theFleet.buses[theFleet.buses.length - 1];
    // The bus validator reported stolen at 13:00 on day 1 (another bus: the fleet has two or more).
    const stolenBus = theFleet.buses.find((b) => b !== offlineBus)!;
    const incidents: Incidents = { temporaryLoss: null, formalLoss: null, refund: null, stolen: null };

    const travelMs = (from: Station, to: Station): number => {
      const side = fares.subway.side;
      const metres = Math.max(0, fares.subway.distanceM[from.code * side + to.code]);
      return Math.min(150, Math.round(8 + (metres / 1000) * 1.6)) * MIN;
    };

    /**
     * One rider tap. Refused for funds → the rider tops up in the app and taps again; a few
     * taps tear (card pulled right after the debit) and the rider taps again at once, which
     * recovers the torn purchase.
     */
    const tap = async (rider: Rider | null, card: RiderCard, device: SimDevice, busStop?: number): Promise<DeviceTapResult> => {
      if (busStop !== undefined) device.device.setBusStop(busStop);
      const tear = rider !== null && planRandom.chance(0.01);
      if (tear) card.card.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
      let { result, latencyMs } = timedTap(device, card.card, clock.nowMs);
      card.card.tearAt(null);
      recordTap(device, result, latencyMs, clock.nowMs);
      if (tear && result.resultCode === TAP_RESULT.CARD_REMOVED) {
        card.card.reset();
        ({ result, latencyMs } = timedTap(device, card.card, clock.nowMs));
        recordTap(device, result, latencyMs, clock.nowMs);
        if (result.recovered) facts.tornTapsRecovered++;
      }
      if (rider !== null && (result.resultCode === TAP_RESULT.INSUFFICIENT_BALANCE || result.resultCode === TAP_RESULT.NEGATIVE_BALANCE)) {
        const loaded = await doLoad(rider, 'app', planRandom.int(5, 10) * 1_000, 'complete');
        if (loaded !== null) {
          ({ result, latencyMs } = timedTap(device, card.card, clock.nowMs));
          recordTap(device, result, latencyMs, clock.nowMs);
        }
      }
      return result;
    };

    const riderEvent = (rider: Rider, atMs: number, run: () => Promise<unknown>): void => {
      queue.at(atMs, async () => {
        if (clock.nowMs >= rider.goneAtMs) return;
        await run();
      });
    };

    const subwayTrip = (rider: Rider, from: Station, to: Station, startMs: number): number => {
      riderEvent(rider, startMs, () => tap(rider, rider, from.entry));
      const arrive = startMs + travelMs(from, to);
      riderEvent(rider, arrive, () => tap(rider, rider, to.exit));
      return arrive;
    };

    const busRide = (rider: Rider, bus: SimDevice, startMs: number, tapOff: boolean): number => {
      const line = bus.busLine!;
      if (line.kind === 'flat') {
        riderEvent(rider, startMs, () => tap(rider, rider, bus, planRandom.int(0, line.stops.length - 1)));
        return startMs + 15 * MIN;
      }
      const from = planRandom.int(0, line.stops.length - 2);
      const to = planRandom.int(from + 1, line.stops.length - 1);
      riderEvent(rider, startMs, () => tap(rider, rider, bus, from));
      const arrive = startMs + (6 + (to - from) * 5) * MIN;
      if (tapOff) riderEvent(rider, arrive, () => tap(rider, rider, bus, to));
      return arrive;
    };

    const planDay = (d: number): void => {
      const minute = (fromHour: number, toHour: number): number => t(d, 0) + planRandom.int(fromHour * 60, toHour * 60) * MIN;
      for (const rider of riders) {
        switch (rider.kind) {
          case 'commute': {
            // Some riders at early-entry stations go before 07:00 (50% off on working days).
            const early = planRandom.chance(0.15);
            const arrive = subwayTrip(rider, rider.home, rider.work, early ? minute(6, 6.9) : minute(7, 9.5));
            const back = Math.max(arrive + 7 * HOUR, minute(17, 20));
            subwayTrip(rider, rider.work, rider.home, back);
            if (planRandom.chance(0.1)) subwayTrip(rider, rider.home, rider.work, back + 4 * HOUR); // a late errand
            break;
          }
          case 'bus-commute': {
            const bus = planRandom.pick(segmentedBuses.length > 0 ? segmentedBuses : theFleet.buses);
            const off = busRide(rider, bus, minute(6.5, 8.5), true);
            const arrive = subwayTrip(rider, rider.home, rider.work, off + 5 * MIN);
            let next = arrive + 3 * HOUR;
            // A lunchtime ride without tap-off: the evening subway entry settles its mark amount.
            if (planRandom.chance(0.4)) next = busRide(rider, planRandom.pick(theFleet.buses), next, false) + HOUR;
            const home = subwayTrip(rider, rider.work, rider.home, Math.max(next, minute(17, 19.5)));
            busRide(rider, bus, home + 5 * MIN, planRandom.chance(0.8));
            break;
          }
          case 'bus': {
            const rides = planRandom.int(2, 3);
            let at = minute(7, 11);
            for (let i = 0; i < rides; i++) {
              const pool = planRandom.chance(0.5) && flatBuses.length > 0 ? flatBuses : theFleet.buses;
              at = busRide(rider, planRandom.pick(pool), at, planRandom.chance(0.85)) + planRandom.int(60, 300) * MIN;
            }
            break;
          }
          case 'pr': {
            const lot = planRandom.pick(theFleet.lots);
            const parkAt = minute(6.5, 8.5);
            riderEvent(rider, parkAt, () => tap(rider, rider, lot.entry));
            if (planRandom.chance(0.75)) {
              // Park and ride: the subway trip makes the stay preferential.
              const arrive = subwayTrip(rider, rider.home, rider.work, parkAt + 10 * MIN);
              const back = subwayTrip(rider, rider.work, rider.home, Math.max(arrive + 8 * HOUR, minute(17, 19)));
              riderEvent(rider, back + 10 * MIN, () => tap(rider, rider, lot.exit));
            } else {
              // Parked without riding: the hourly rate.
              riderEvent(rider, parkAt + planRandom.int(60, 300) * MIN, () => tap(rider, rider, lot.exit));
            }
            break;
          }
          case 'park': {
            let at = minute(8.5, 12);
            if (rider.parkPass && municipalParks.length > 0) {
              const visits = planRandom.int(1, 2);
              for (let i = 0; i < visits; i++) {
                const gate = planRandom.pick(municipalParks);
                riderEvent(rider, at, () => tap(rider, rider, gate));
                // Anti-passback: tapping the same park again within 10 minutes is refused.
                if (planRandom.chance(0.2)) riderEvent(rider, at + 3 * MIN, () => tap(rider, rider, gate));
                at += planRandom.int(90, 180) * MIN;
              }
            } else if (ticketedParks.length > 0) {
              // No pass: a municipal gate refuses, the ticketed park takes the single ticket.
              if (municipalParks.length > 0 && planRandom.chance(0.5)) riderEvent(rider, at, () => tap(rider, rider, planRandom.pick(municipalParks)));
              riderEvent(rider, at + 5 * MIN, () => tap(rider, rider, planRandom.pick(ticketedParks)));
            }
            break;
          }
        }
        // Top-ups during the day: app (some torn) or counter.
        if (rider.incident === null && planRandom.chance(0.12)) {
          const at = minute(9, 21);
          const viaApp = planRandom.chance(0.7);
          const roll = planRandom.next();
          const ending: LoadEnding = viaApp && roll < 0.12 ? 'torn-before-credit' : viaApp && roll < 0.24 ? 'confirm-lost' : 'complete';
          riderEvent(rider, at, async () => {
            const amountFen = viaApp ? planRandom.int(2, 10) * 1_000 : planRandom.int(2, 10) * 1_000;
            const outcome = await doLoad(rider, viaApp ? 'app' : 'counter', amountFen, ending);
            // Some riders whose top-up tore try again a few minutes later: the new INITIALIZE FOR
            // LOAD shows the old credit never happened (same online ATC) and the first load is voided.
            if (outcome !== null && ending === 'torn-before-credit' && planRandom.chance(0.5)) {
              riderEvent(rider, clock.nowMs + 5 * MIN, () => doLoad(rider, 'app', amountFen, 'complete'));
            }
          });
        }
      }

      // Validators offline for hours (modem down): no sync inside the window, taps go on.
      // (Not the stolen bus: its refused sync must be a revocation, not a dead modem.)
      const candidates = theFleet.devices.filter((dv) => dv !== offlineBus && dv !== stolenBus);
      const offlineCount = Math.max(1, Math.round(candidates.length * 0.1));
      for (const device of planRandom.shuffle(candidates).slice(0, offlineCount)) {
        const fromMs = minute(7, 11);
        const window = { fromMs, untilMs: fromMs + planRandom.int(2 * 60, 5 * 60) * MIN };
        device.offline.push(window);
        facts.offlineWindows.push({ deviceId: device.id, ...window });
      }

      // Sync ticks while in service, staggered: station gates have a wired link (every
      // syncEvery minutes), P+R and park gates sync half as often, buses at the terminus (a
      // quarter as often). Taps never wait for sync.
      for (const [i, device] of theFleet.devices.entries()) {
        const everyMs = syncEveryMs * (device.kind === 'bus' ? 4 : device.kind.startsWith('subway') ? 1 : 2);
        const offset = Math.floor((i * everyMs) / theFleet.devices.length) % everyMs;
        for (let at = t(d, 5) + offset; at < t(d, 23, 30); at += everyMs) {
          queue.at(at, async () => {
            if (isOnline(device, clock.nowMs)) await syncOne(device);
          });
        }
        // End of service: every validator that has a link uploads everything.
        queue.at(t(d, 23, 45), async () => {
          if (isOnline(device, clock.nowMs)) await syncOne(device);
        });
      }
    };

    const planIncidents = (): void => {
      const d = 0;
      const commuters = riders.filter((r) => r.kind === 'commute');
      const pool = commuters.length >= 2 ? commuters : riders;
      const temporary = pool[0];
      const formal = pool[1] ?? riders[riders.length - 1];
      const busRiders = riders.filter((r) => r !== temporary && r !== formal && (r.kind === 'bus' || r.kind === 'bus-commute'));
      const broken = busRiders[0] ?? riders.find((r) => r !== temporary && r !== formal)!;
      const forgetful = riders.find((r) => r !== temporary && r !== formal && r !== broken) ?? riders[0];

      // A holder forgot the service password: the street service point resets it (back to the last
      // 6 of the ID number, a change forced at the next sign-in), then is refused a top-up.
      incidents.channels = { passwordReset: null, refusedTopUp: null };
      queue.at(t(d, 12), async () => {
        const reset = await gateway.post('/v1/cards/{cardNo}/service-password/reset', servicePoint, {
          params: { path: { cardNo: forgetful.cardNo } },
          body: { idNumber: forgetful.socialSecurityNo },
        });
        forgetful.appPassword = forgetful.socialSecurityNo.slice(-6);
        forgetful.appToken = null;
        const session = await gateway.post('/v1/auth/app-sessions', undefined, { body: { cardNo: forgetful.cardNo, password: forgetful.appPassword } });
        incidents.channels!.passwordReset = { cardNo: forgetful.cardNo, unlocked: reset.unlocked, mustChangeAtSignIn: session.mustChangePassword };
        forgetful.appToken = null;
      });
      queue.at(t(d, 12, 5), async () => {
        const body = {
          cardNo: forgetful.cardNo,
          amount: '50.00',
          paymentSource: 'cash' as const,
          onlineAtc: 0,
          cardRandom: '00000000',
          balanceBeforeFen: 0,
          mac1: '00000000',
          keyVersion: 1,
          algorithm: 'sm4' as const,
          terminalId: '00000000C0A2',
        };
        const refused = await gateway.api.POST('/v1/loads', {
          body,
          params: { header: { 'idempotency-key': `sp-topup-${forgetful.cardNo}` } },
          headers: bearer(servicePoint),
        });
        const problem = (refused.error ?? {}) as { code?: string; rule?: string; detail?: string };
        incidents.channels!.refusedTopUp = {
          cardNo: forgetful.cardNo,
          status: refused.response.status,
          code: problem.code ?? null,
          rule: problem.rule ?? null,
          detail: problem.detail ?? null,
        };
      });

      // The bus modem dies at noon and stays dead until after the refund deadline.
      offlineBus.offline.push({ fromMs: t(d, 12), untilMs: Number.MAX_SAFE_INTEGER });
      facts.offlineWindows.push({ deviceId: offlineBus.id, fromMs: t(d, 12), untilMs: -1 });

      const refusalsOf = (device: SimDevice): number => device.tls.refused['client-certificate-revoked'] ?? 0;
      let refusalsBefore = 0;
      // Stolen validator: reported at 13:00, the operator revokes it; its next sync (13:20) is
      // refused and its taps stay in its journal; recovered at 15:00, the operator enrols it
      // again (a new key on the device) and it drains its journal over mutual TLS.
      queue.at(t(d, 13), async () => {
        const answer = await gateway.post('/v1/devices/{deviceId}/revocation', operator, {
          params: { path: { deviceId: stolenBus.id } },
          body: { reason: 'stolen' },
        });
        incidents.stolen = {
          deviceId: stolenBus.id,
          revokedAtMs: clock.nowMs,
          revokedSerials: answer.revokedSerials,
          unsyncedAtRevocation: stolenBus.device.state.read().unackedCount,
          refusedSyncAtMs: null,
          refusedSyncStatus: null,
          refusedSyncCode: null,
          refusedSyncs: 0,
          unsyncedWhileRevoked: 0,
          reenrolledAtMs: null,
          newSerial: null,
          drainStatus: null,
          drainedRecords: 0,
          unsyncedAfterDrain: null,
        };
        refusalsBefore = refusalsOf(stolenBus);
      });
      queue.at(t(d, 13, 20), async () => {
        const stolen = incidents.stolen!;
        const result = await syncOne(stolenBus);
        stolen.refusedSyncAtMs = clock.nowMs;
        stolen.refusedSyncStatus = result.status;
        stolen.refusedSyncCode = stolenBus.tls.lastRefusal;
      });
      // A rider boards that bus while it is revoked: the validator works offline, the tap waits in its journal.
      const stolenRider = riders.find((r) => r.incident === null && (r.kind === 'bus' || r.kind === 'bus-commute') && r !== broken);
      if (stolenRider) busRide(stolenRider, stolenBus, t(d, 14), false);
      queue.at(t(d, 15), async () => {
        const stolen = incidents.stolen!;
        stolen.refusedSyncs = refusalsOf(stolenBus) - refusalsBefore;
        stolen.unsyncedWhileRevoked = stolenBus.device.state.read().unackedCount;
        const identity = await enrolDevice({
          dir: identityDirFor(stolenBus.dbPath),
          gatewayUrl: gateway.baseUrl,
          operatorToken: operator,
          deviceId: stolenBus.id,
        });
        stolen.reenrolledAtMs = clock.nowMs;
        stolen.newSerial = identity.serial;
        const result = await syncOne(stolenBus);
        stolen.drainStatus = result.status;
        stolen.drainedRecords = result.uploaded;
        stolen.unsyncedAfterDrain = result.remainingUnacked;
      });

      // Temporary loss: lost at 10:00, reported in the app at 10:30; someone finds it and taps at 15:30.
      temporary.incident = 'temporary-loss';
      temporary.goneAtMs = t(d, 10);
      incidents.temporaryLoss = { rider: temporary, reportedMs: t(d, 10, 30), version: null, finderTap: null, finderDevice: null, deviceHadIt: false };
      queue.at(t(d, 10, 30), async () => {
        const token = await appSession(gateway, temporary, clock.nowMs);
        const answer = await gateway.post('/v1/cards/{cardNo}/loss-reports', token, {
          params: { path: { cardNo: temporary.cardNo } },
          body: { kind: 'temporary' },
        });
        incidents.temporaryLoss!.version = answer.blacklistVersion;
        facts.lossReports.push({ cardNo: temporary.cardNo, kind: 'temporary-loss', version: answer.blacklistVersion, reportedMs: clock.nowMs });
      });
      queue.at(t(d, 15, 30), async () => {
        const gate = gateWithVersion(incidents.temporaryLoss!.version);
        incidents.temporaryLoss!.finderDevice = gate.id;
        incidents.temporaryLoss!.deviceHadIt = gate.device.state.read().blacklistVersion >= (incidents.temporaryLoss!.version ?? 0);
        incidents.temporaryLoss!.finderTap = await tap(null, temporary, gate);
      });

      // Formal loss: lost at 10:00, reported at a counter at 11:00; found and tapped at 15:40, then at 16:10 elsewhere.
      formal.incident = 'formal-loss';
      formal.goneAtMs = t(d, 10);
      incidents.formalLoss = {
        rider: formal,
        reportedMs: t(d, 11),
        version: null,
        finderTap: null,
        finderDevice: null,
        secondTap: null,
        secondDevice: null,
        cardLockedAfter: false,
      };
      queue.at(t(d, 11), async () => {
        const answer = await gateway.post('/v1/cards/{cardNo}/loss-reports', counterFor(formal), {
          params: { path: { cardNo: formal.cardNo } },
          body: { kind: 'formal' },
        });
        incidents.formalLoss!.version = answer.blacklistVersion;
        facts.lossReports.push({ cardNo: formal.cardNo, kind: 'formal-loss', version: answer.blacklistVersion, reportedMs: clock.nowMs });
      });
      queue.at(t(d, 15, 40), async () => {
        const gate = gateWithVersion(incidents.formalLoss!.version);
        incidents.formalLoss!.finderDevice = gate.id;
        incidents.formalLoss!.finderTap = await tap(null, formal, gate);
        incidents.formalLoss!.cardLockedAfter = formal.card.image().locked;
      });
      queue.at(t(d, 16, 10), async () => {
        // Another gate, whatever its list: the card's own lock refuses it now.
        const other = theFleet.stations.map((s) => s.entry).find((g) => g.id !== incidents.formalLoss!.finderDevice) ?? theFleet.stations[0].entry;
        incidents.formalLoss!.secondDevice = other.id;
        incidents.formalLoss!.secondTap = await tap(null, formal, other);
      });

      // Broken card: rides the (offline) bus at 18:00, the card breaks at 18:30, refund at 19:00.
      broken.incident = 'refund';
      incidents.refund = { rider: broken, offlineBus, lateTap: null, refundId: null, requestedMs: t(d, 19), refund: null, exchange: null };
      queue.at(t(d, 18), async () => {
        const line = offlineBus.busLine!;
        incidents.refund!.lateTap = await tap(broken, broken, offlineBus, 0);
        if (line.kind === 'segmented') {
          clock.advanceTo(clock.nowMs + 20 * MIN);
          await tap(broken, broken, offlineBus, line.stops.length - 1);
        }
        broken.goneAtMs = t(d, 18, 30);
      });
      queue.at(t(d, 19), async () => {
        // A broken-card exchange at the issuing bank (q. 22, q. 46): the old card is collected and
        // blacklisted `exchanged`, its balance refunded through the refund machinery, a new card applied for.
        const exchanged = await gateway.post('/v1/cards/{cardNo}/exchange', counterFor(broken), {
          params: { path: { cardNo: broken.cardNo } },
          body: {
            reason: 'broken',
            collection: 'branch',
            destinationAccount: `6222${String(broken.index).padStart(12, '0')}`,
            destinationName: broken.holderName,
          },
        });
        const refund = exchanged.refund;
        incidents.refund!.refundId = refund.id;
        incidents.refund!.exchange = {
          oldCardStatus: exchanged.oldCard.status,
          blacklistReason: exchanged.oldCard.blacklist?.reason ?? null,
          applicationId: exchanged.application.id,
          applicationState: exchanged.application.state,
          dueMs: exchanged.application.dueMs,
        };
        facts.lossReports.push({ cardNo: broken.cardNo, kind: 'exchanged', version: refund.blacklistVersion ?? null, reportedMs: clock.nowMs });
      });
    };

    /** An online subway entry gate that already holds blacklist version `version` (else any online one). */
    const gateWithVersion = (version: number | null): SimDevice => {
      const gates = theFleet.stations.map((s) => s.entry);
      const current = gates.filter((g) => isOnline(g, clock.nowMs) && g.device.state.read().blacklistVersion >= (version ?? 0));
      return current[0] ?? gates.find((g) => isOnline(g, clock.nowMs)) ?? gates[0];
    };

    for (let d = 0; d < options.days; d++) planDay(d);
    planIncidents();

    progress.start(options.days === 1 ? 'the day' : `${options.days} days`);
    let processed = 0;
    for (let event = queue.pop(); event !== undefined; event = queue.pop()) {
      clock.advanceTo(event.atMs);
      await event.run();
      processed++;
      progress.update(processed, queue.scheduled, {
        taps: facts.taps.length,
        syncs: facts.syncRounds,
        loads: facts.loads.length,
        time: beijingClock(clock.nowMs),
      });
    }

    // --- epilogue -----------------------------------------------------------------------------
    progress.start('epilogue');
    const creditedLoads = () => facts.loads.filter((l) => l.ending === 'confirm-lost');
    const beforeFinalSync = await crossCheck(gateway, counters[0], riders, theFleet, incidents.refund?.rider.cardNo ?? null, creditedLoads());

    // The refund waits for the dead bus; at its deadline the gateway pays what it knows.
    const refund = incidents.refund!;
    if (refund.refundId !== null) {
      const refundPath = { params: { path: { id: refund.refundId } } };
      const waiting = await gateway.get('/v1/refunds/{id}', counterFor(refund.rider), refundPath);
      if (waiting.status === 'waiting') {
        clock.advanceTo(waiting.deadlineMs - 50 * MIN);
        await gateway.post('/v1/ops/jobs/run', operator);
      }
      refund.refund = await gateway.get('/v1/refunds/{id}', counterFor(refund.rider), refundPath);
    }
    // The bus's modem is repaired: it uploads its journal; the broken card's ride is a late tap.
    clock.advanceTo(clock.nowMs + 30 * MIN);
    offlineBus.offline = offlineBus.offline.map((w) => (w.untilMs === Number.MAX_SAFE_INTEGER ? { ...w, untilMs: clock.nowMs } : w));
    for (const w of facts.offlineWindows) if (w.deviceId === offlineBus.id && w.untilMs === -1) w.untilMs = clock.nowMs;
    for (const device of theFleet.devices) await syncOne(device);
    if (refund.refundId !== null)
      refund.refund = await gateway.get('/v1/refunds/{id}', counterFor(refund.rider), { params: { path: { id: refund.refundId } } });

    // Loads still pending: the riders' cards are read at a counter (card evidence decides them).
    const pendingLoads = facts.loads.filter((l) => l.ending !== 'complete');
    const settledAtCounter = new Set<number>();
    for (const load of pendingLoads) {
      const state = await gateway.get('/v1/loads/{id}', counters[0], { params: { path: { id: load.loadId } } });
      if (state.status !== 'pending' || settledAtCounter.has(load.riderIndex)) continue;
      settledAtCounter.add(load.riderIndex);
      await counterCardRead(gateway, riders[load.riderIndex], counterFor(riders[load.riderIndex]));
    }
    const loadStates = new Map<string, GatewayAnswer<'get', '/v1/loads/{id}'>>();
    for (const load of pendingLoads) loadStates.set(load.loadId, await gateway.get('/v1/loads/{id}', counters[0], { params: { path: { id: load.loadId } } }));

    const afterFinalSync = await crossCheck(gateway, counters[0], riders, theFleet, incidents.refund?.rider.cardNo ?? null, creditedLoads());
    const reconciliation = await gateway.get('/v1/ledger/reconciliation', operator);
    const balances = await gateway.get('/v1/ledger/balances', operator);
    const clearing: Array<GatewayAnswer<'get', '/v1/reports/clearing'>> = [];
    const teller: Array<GatewayAnswer<'get', '/v1/reports/teller'>> = [];
    for (let d = -1; d < options.days + 3; d++) {
      const day = isoDay(t(d, 12));
      clearing.push(await gateway.get('/v1/reports/clearing', operator, { params: { query: { day } } }));
      teller.push(await gateway.get('/v1/reports/teller', operator, { params: { query: { day } } }));
    }
    const blacklist = await gateway.get('/v1/blacklist', operator, { params: { query: { since: '0' } } });
    // Every certificate the CA issued, as the gateway recorded them (per device: exact, no paging).
    const certificates: IdentityFacts['certificates'] = [];
    for (const device of theFleet.devices) {
      const answer = await gateway.get('/v1/devices/{deviceId}/certificates', operator, { params: { path: { deviceId: device.id } } });
      for (const c of answer.certificates) certificates.push({ deviceId: c.deviceId, serial: c.serial, issuedVia: c.issuedVia, status: c.status });
    }
    progress.finish();

    const report = buildReport({
      options: { ...options, firstDay, syncEveryMin: syncEveryMs / MIN },
      facts,
      fleet: theFleet,
      riders: riders.map((r) => ({ cardNo: r.cardNo, kind: r.kind, profile: r.profile, parkPass: r.parkPass, incident: r.incident })),
      incidents: {
        temporaryLoss: incidents.temporaryLoss && {
          cardNo: incidents.temporaryLoss.rider.cardNo,
          reportedMs: incidents.temporaryLoss.reportedMs,
          version: incidents.temporaryLoss.version,
          finderDevice: incidents.temporaryLoss.finderDevice,
          deviceHadIt: incidents.temporaryLoss.deviceHadIt,
          finderResult: incidents.temporaryLoss.finderTap?.resultName ?? null,
          locked: incidents.temporaryLoss.rider.card.image().locked,
        },
        formalLoss: incidents.formalLoss && {
          cardNo: incidents.formalLoss.rider.cardNo,
          reportedMs: incidents.formalLoss.reportedMs,
          version: incidents.formalLoss.version,
          finderDevice: incidents.formalLoss.finderDevice,
          finderResult: incidents.formalLoss.finderTap?.resultName ?? null,
          secondDevice: incidents.formalLoss.secondDevice,
          secondResult: incidents.formalLoss.secondTap?.resultName ?? null,
          locked: incidents.formalLoss.cardLockedAfter,
        },
        refund: incidents.refund && {
          cardNo: incidents.refund.rider.cardNo,
          offlineBus: incidents.refund.offlineBus.id,
          lateTapResult: incidents.refund.lateTap?.resultName ?? null,
          lateTapChargeFen: incidents.refund.lateTap?.chargeFen ?? 0,
          refund: incidents.refund.refund,
          exchange: incidents.refund.exchange,
        },
        channels: incidents.channels ?? null,
      },
      loadStates,
      identity: {
        caFingerprint: pki.ca.fingerprint,
        deviceUrl: deviceListener.url,
        enrolWallMs: theFleet.enrolWallMs,
        certificates,
        devices: theFleet.devices.map((dv) => ({ deviceId: dv.id, ...dv.tls })),
        mainApiBearerSync,
        reenrolledAfterExpiry,
        stolen: incidents.stolen,
      },
      crossCheck: { beforeFinalSync, afterFinalSync },
      gateway: { url: gateway.baseUrl, requests: gateway.requests, reconciliation, balances: balances.accounts, clearing, teller, blacklist },
      stateDir,
      wallClockMs: performance.now() - wallStart,
      phasesMs: progress.phasesMs,
      simulatedFromMs: dayStartMs(0) - 4 * HOUR,
      simulatedUntilMs: clock.nowMs,
    });
    if (options.serve) await options.serve(report, { url: `${gateway.baseUrl}/console`, username: DEMO_TELLER.username, password: DEMO_TELLER.password });
    return report;
  } finally {
    progress.finish();
    if (fleet !== null) closeFleet(fleet);
    await deviceListener.close();
    await app.close();
    await store.close();
  }
}

function beijingClock(ms: number): string {
  const { date, time } = beijingDateTime(ms);
  const hh = String(Math.floor(time / 10_000)).padStart(2, '0');
  const mm = String(Math.floor(time / 100) % 100).padStart(2, '0');
  return `${String(date).slice(4, 6)}-${String(date).slice(6, 8)} ${hh}:${mm}`;
}

export function isoDay(ms: number): string {
  const { date } = beijingDateTime(ms);
  const s = String(date);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
}

export interface CrossCheck {
  cards: number;
  sumCardBalancesFen: number;
  sumShadowBalancesFen: number;
  differenceFen: number;
  /** Debits made on validators that the gateway has not received yet (card paid, shadow not yet lowered). */
  unsyncedDebitsFen: number;
  unsyncedRecords: number;
  /** Loads credited on a card whose confirmation the gateway has not received (card has it, shadow not yet). */
  creditedPendingLoadsFen: number;
  /** differenceFen − (creditedPendingLoadsFen − unsyncedDebitsFen): zero when every difference is explained. */
  unexplainedFen: number;
  excluded: Array<{ cardNo: string; why: string; cardBalanceFen: number; shadowFen: number }>;
  /** Cards whose own difference is not explained by their unsynced taps and credited pending loads. */
  mismatchedCards: Array<{ cardNo: string; cardBalanceFen: number; shadowFen: number }>;
}

/**
 * Independent cross-check: the cards' own balances (the simulators) against the gateway's
 * shadow balances. Expected differences: taps still in a validator's journal, and loads that
 * reached the card but whose confirmation did not reach the gateway. The refunded card is
 * kept by the bank (its balance was paid out), so it is listed apart.
 */
async function crossCheck(
  gateway: GatewayClient,
  counterToken: string,
  riders: RiderCard[],
  fleet: Fleet,
  refundedCardNo: string | null,
  creditedLoads: ReadonlyArray<{ loadId: string; cardNo: string; amountFen: number }>,
): Promise<CrossCheck> {
  // Loads that reached the card but whose confirmation the gateway never got, still pending there.
  const creditedPendingByCard = new Map<string, number>();
  for (const load of creditedLoads) {
    const state = await gateway.get('/v1/loads/{id}', counterToken, { params: { path: { id: load.loadId } } });
    if (state.status === 'pending') creditedPendingByCard.set(load.cardNo, (creditedPendingByCard.get(load.cardNo) ?? 0) + load.amountFen);
  }
  const unsyncedByCard = new Map<string, number>();
  let unsyncedRecords = 0;
  for (const device of fleet.devices) {
    for (const record of device.device.journal.unacked(LIMITS.journalCapacity)) {
      if (record.cardAction !== 'debit') continue;
      unsyncedRecords++;
      unsyncedByCard.set(record.cardNo, (unsyncedByCard.get(record.cardNo) ?? 0) + record.amountFen);
    }
  }
  let sumCard = 0;
  let sumShadow = 0;
  let unsyncedDebitsFen = 0;
  let creditedPendingLoadsFen = 0;
  const excluded: CrossCheck['excluded'] = [];
  const mismatched: CrossCheck['mismatchedCards'] = [];
  for (const rider of riders) {
    const card = await gateway.get('/v1/cards/{cardNo}', counterToken, { params: { path: { cardNo: rider.cardNo } } });
    const cardBalanceFen = effectiveBalance(rider);
    if (rider.cardNo === refundedCardNo) {
      excluded.push({
        cardNo: rider.cardNo,
        why: 'broken card retained by the bank; its balance was refunded (late taps written off)',
        cardBalanceFen,
        shadowFen: card.balanceFen,
      });
      continue;
    }
    sumCard += cardBalanceFen;
    sumShadow += card.balanceFen;
    const unsynced = unsyncedByCard.get(rider.cardNo) ?? 0;
    unsyncedDebitsFen += unsynced;
    const creditedPending = creditedPendingByCard.get(rider.cardNo) ?? 0;
    creditedPendingLoadsFen += creditedPending;
    if (cardBalanceFen - card.balanceFen !== creditedPending - unsynced) mismatched.push({ cardNo: rider.cardNo, cardBalanceFen, shadowFen: card.balanceFen });
  }
  const differenceFen = sumCard - sumShadow;
  return {
    cards: riders.length - excluded.length,
    sumCardBalancesFen: sumCard,
    sumShadowBalancesFen: sumShadow,
    differenceFen,
    unsyncedDebitsFen,
    unsyncedRecords,
    creditedPendingLoadsFen,
    unexplainedFen: differenceFen - (creditedPendingLoadsFen - unsyncedDebitsFen),
    excluded,
    mismatchedCards: mismatched.slice(0, 20),
  };
}

export type { DeviceKind };
export { GatewayHttpError };
