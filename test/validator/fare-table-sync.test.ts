/**
 * Fare-table publishing end to end over real loopback HTTP: an operator POSTs new fare tables
 * with effective dates to a listening gateway; validators (their own SQLite databases) pick them
 * up at sync and charge every tap by the table in force at the tap's time: the old fare before
 * a table's effective date, the new one after it.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  beijingDateTime,
  dayNumberFromYmd,
  defaultFareTablesSpec,
  encodeFareTablesJson,
  epochMsFromBeijing,
  isWorkingDay,
  parseFareTablesJson,
  quoteSubwayFare,
  stationCode,
  type FareTablesSpec,
  ymdFromDayNumber,
} from '#core';
import { supersededFareTables, type Device } from '#validator/device';
import { CardWallet } from '#validator/rider/card-wallet';
import { SyncClient } from '#validator/sync-client';
import { SUBWAY_CSV } from '../fare/subway-data.ts';
import { createDevice, FARES, profile, 花园桥, 潞城 } from './device-fixtures.ts';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from './gateway-fixture.ts';
import { tempDir } from './temp-db.ts';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
/**
 * The gateway runs on the real clock (it decides which table is in force now), so the effective
 * dates lie ahead of it: noon (Beijing) ten days from now, then a day apart. No table is in force
 * yet at the gateway, so it announces them all, in order.
 */
const NOON_AHEAD_MS = Math.floor((Date.now() + 8 * 60 * MIN) / DAY) * DAY + 10 * DAY + 4 * 60 * MIN;

/** Version `version`: the main-network bands `extraFen` dearer, in force from `effectiveFromMs`. */
function dearerBundle(version: number, effectiveFromMs: number, extraFen: number): FareTablesSpec {
  const spec = defaultFareTablesSpec(SUBWAY_CSV, version, effectiveFromMs);
  for (const band of spec.subwayPolicy.main.bands) band.fareFen += extraFen;
  return spec;
}

/** The undiscounted 花园桥 → 潞城 fare of a bundle (the rides below stay under every discount). */
function rideFareFen(spec: FareTablesSpec): number {
  return quoteSubwayFare(parseFareTablesJson(encodeFareTablesJson(spec)).subway, '花园桥', '潞城').fareFen;
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const publish = (spec: unknown) =>
  fetch(`${gw.url}/v1/fare-tables`, { method: 'POST', headers: admin, body: typeof spec === 'string' ? spec : encodeFareTablesJson(spec as FareTablesSpec) });
const client = (device: Device, credential: string) => new SyncClient({ device, gatewayUrl: gw.url, credential, sleep: async () => {}, random: () => 0.5 });

describe('fare tables published over HTTP reach validators', () => {
  let tmp: ReturnType<typeof tempDir>;
  let wallet: CardWallet;
  let entry: Device;
  let exit: Device;
  let entryCredential: string;
  let exitCredential: string;
  beforeEach(async () => {
    tmp = tempDir();
    wallet = new CardWallet(tmp.file('cards.db'));
    entry = createDevice(tmp.file('entry.db'), profile('FARE-IN-1', 'subway-entry', { stationCode: 花园桥 }));
    exit = createDevice(tmp.file('exit.db'), profile('FARE-OUT-1', 'subway-exit', { stationCode: 潞城 }));
    entryCredential = await gw.registerDevice(entry.deviceId, 'subway-entry');
    exitCredential = await gw.registerDevice(exit.deviceId, 'subway-exit');
  });
  afterEach(() => {
    entry.close();
    exit.close();
    wallet.close();
    tmp.cleanup();
  });

  /** One ride 花园桥 → 潞城 entering at `atMs`, out 30 minutes later: the charge and the fare table the exit used. */
  function ride(card: string, atMs: number): { chargeFen: number; fareTableVersion: number } {
    const tapIn = entry.tap(wallet.present(card), atMs);
    expect(tapIn.status, tapIn.resultName).toBe('accepted');
    const tapOut = exit.tap(wallet.present(card), atMs + 30 * MIN);
    expect(tapOut.status, tapOut.resultName).toBe('accepted');
    const record = exit.journal.get(tapOut.deviceSeqs[tapOut.deviceSeqs.length - 1])!.record;
    return { chargeFen: tapOut.chargeFen, fareTableVersion: record.fareTableVersion };
  }

  it('validators pick up announced versions at sync and charge the old fare before each effective date, the new one after', async () => {
    const card = await gw.issueLoadedCard(wallet, 20_000);
    const v1 = defaultFareTablesSpec(SUBWAY_CSV, 1, 0);
    const v2 = dearerBundle(2, NOON_AHEAD_MS, 100);
    const v3 = dearerBundle(3, NOON_AHEAD_MS + DAY, 200);
    const v4 = dearerBundle(4, NOON_AHEAD_MS + 2 * DAY, 300);
    const fares = [v1, v2, v3, v4].map(rideFareFen);
    expect(new Set(fares).size).toBe(4);

    // Nothing published yet: the devices (on the built-in version 1) get nothing new.
    expect(await client(entry, entryCredential).drain()).toMatchObject({ status: 'drained', rounds: 1 });
    expect(entry.status().fareTableVersions).toEqual([1]);

    // A bad bundle over HTTP: 400 problem+json, nothing published.
    const bad = await publish('{"format":"fare-tables/1","version":2}');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    for (const spec of [v2, v3, v4]) expect((await publish(spec)).status).toBe(201);
    const listed = (await (await fetch(`${gw.url}/v1/fare-tables`, { headers: admin })).json()) as {
      fareTables: Array<{ version: number; effectiveFromMs: number }>;
    };
    expect(listed.fareTables.map((t) => [t.version, t.effectiveFromMs])).toEqual([
      [1, 0],
      [2, v2.effectiveFromMs],
      [3, v3.effectiveFromMs],
      [4, v4.effectiveFromMs],
    ]);

    // One drain installs every announced version (one per answer), and keeps version 1: it is
    // still in force until the 2nd's date.
    for (const [device, credential] of [
      [entry, entryCredential],
      [exit, exitCredential],
    ] as const) {
      const result = await client(device, credential).drain();
      expect(result, result.lastError ?? '').toMatchObject({ status: 'drained' });
      expect(device.status()).toMatchObject({ fareTableVersion: 4, fareTableVersions: [1, 2, 3, 4] });
    }
    const devices = (await (await fetch(`${gw.url}/v1/devices`, { headers: admin })).json()) as {
      devices: Array<{ deviceId: string; fareTableVersion: number }>;
    };
    expect(devices.devices.filter((d) => d.deviceId.startsWith('FARE-')).map((d) => d.fareTableVersion)).toEqual([4, 4]);

    // Taps priced by the table in force at their time.
    expect(ride(card, NOON_AHEAD_MS - 2 * 60 * MIN)).toEqual({ chargeFen: fares[0], fareTableVersion: 1 });
    expect(ride(card, NOON_AHEAD_MS - 31 * MIN)).toEqual({ chargeFen: fares[0], fareTableVersion: 1 });
    expect(ride(card, NOON_AHEAD_MS + 60 * MIN)).toEqual({ chargeFen: fares[1], fareTableVersion: 2 });
    expect(ride(card, NOON_AHEAD_MS + DAY + 60 * MIN)).toEqual({ chargeFen: fares[2], fareTableVersion: 3 });
    expect(ride(card, NOON_AHEAD_MS + 2 * DAY + 60 * MIN)).toEqual({ chargeFen: fares[3], fareTableVersion: 4 });

    // The taps clear at the gateway: the back office's balance agrees with the card.
    for (const [device, credential] of [
      [entry, entryCredential],
      [exit, exitCredential],
    ] as const) {
      expect((await client(device, credential).drain()).status).toBe('drained');
    }
    const rows = await gw.journalRows(exit.deviceId);
    expect(rows.filter((r) => r.card_action === 'debit').map((r) => r.amount_fen)).toEqual([fares[0], fares[0], fares[1], fares[2], fares[3]]);
    expect(await gw.shadowBalanceFen(card)).toBe(20_000 - (2 * fares[0] + fares[1] + fares[2] + fares[3]));
  });
});

describe('a new working-day calendar published as a fare-table version reaches validators', () => {
  let tmp: ReturnType<typeof tempDir>;
  let wallet: CardWallet;
  let entry: Device;
  let exit: Device;
  let entryCredential: string;
  let exitCredential: string;
  const 土桥 = stationCode(FARES.subway, '土桥');
  // A gateway of its own: nothing published before this version 2.
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw.close();
  });
  const publish = (spec: FareTablesSpec) => fetch(`${gw.url}/v1/fare-tables`, { method: 'POST', headers: admin, body: encodeFareTablesJson(spec) });
  const client = (device: Device, credential: string) => new SyncClient({ device, gatewayUrl: gw.url, credential, sleep: async () => {}, random: () => 0.5 });
  beforeEach(async () => {
    tmp = tempDir();
    wallet = new CardWallet(tmp.file('cards.db'));
    // 土桥 is one of the early-entry stations: half fare before 07:00 on working days.
    entry = createDevice(tmp.file('entry.db'), profile('CAL-IN-1', 'subway-entry', { stationCode: 土桥 }));
    exit = createDevice(tmp.file('exit.db'), profile('CAL-OUT-1', 'subway-exit', { stationCode: 潞城 }));
    entryCredential = await gw.registerDevice(entry.deviceId, 'subway-entry');
    exitCredential = await gw.registerDevice(exit.deviceId, 'subway-exit');
  });
  afterEach(() => {
    entry.close();
    exit.close();
    wallet.close();
    tmp.cleanup();
  });

  const calendar = FARES.subway.policy.calendar;
  const weekdayOf = (ymd: number) => beijingDateTime(epochMsFromBeijing(ymd, 120000)).weekday;
  /** The first date from `fromYmd` on (at most 3 weeks) matching `test`. */
  function firstDay(fromYmd: number, test: (ymd: number, weekday: number) => boolean): number {
    for (let d = dayNumberFromYmd(fromYmd); d < dayNumberFromYmd(fromYmd) + 21; d++) {
      const ymd = ymdFromDayNumber(d);
      if (test(ymd, weekdayOf(ymd))) return ymd;
    }
    throw new Error(`no day from ${fromYmd}`);
  }
  const listed = (spec: FareTablesSpec, ymd: number) =>
    (spec.subwayPolicy.calendar.years ?? []).some((y) => y.holidays.includes(ymd) || y.workdays.includes(ymd));

  it('taps before the effective date follow the old calendar, taps after it the new one', async () => {
    const card = await gw.issueLoadedCard(wallet, 20_000);
    const v1 = defaultFareTablesSpec(SUBWAY_CSV, 1, 0);
    const effectiveYmd = beijingDateTime(NOON_AHEAD_MS).date;
    // The morning of the effective day (before noon): still version 1.
    const before = firstDay(
      ymdFromDayNumber(dayNumberFromYmd(effectiveYmd) - 6),
      (ymd, wd) => ymd <= effectiveYmd && wd <= 5 && isWorkingDay(calendar, ymd, wd) && !listed(v1, ymd),
    );
    const afterDayOff = firstDay(
      ymdFromDayNumber(dayNumberFromYmd(effectiveYmd) + 1),
      (ymd, wd) => wd <= 5 && isWorkingDay(calendar, ymd, wd) && !listed(v1, ymd),
    );
    const afterWorkingSaturday = firstDay(ymdFromDayNumber(dayNumberFromYmd(effectiveYmd) + 1), (ymd, wd) => wd === 6 && !listed(v1, ymd));
    expect(before).toBeLessThanOrEqual(effectiveYmd);

    // Version 2: a (test) notice makes `before` and `afterDayOff` days off and a Saturday a working day.
    const v2 = defaultFareTablesSpec(SUBWAY_CSV, 2, NOON_AHEAD_MS);
    for (const [ymd, working] of [
      [before, false],
      [afterDayOff, false],
      [afterWorkingSaturday, true],
    ] as const) {
      const year = Math.floor(ymd / 10_000);
      const years = v2.subwayPolicy.calendar.years!;
      let entryOfYear = years.find((y) => y.year === year);
      if (!entryOfYear) years.push((entryOfYear = { year, provisional: false, source: 'test notice', holidays: [], workdays: [] }));
      (working ? entryOfYear.workdays : entryOfYear.holidays).push(ymd);
    }
    // A bad calendar is refused over HTTP, naming the date.
    const bad = structuredClone(v2);
    bad.subwayPolicy.calendar.years![0].workdays.push(20261012);
    const refused = await publish(bad);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('2026-10-12 is a weekday');
    expect((await publish(v2)).status).toBe(201);
    for (const [device, credential] of [
      [entry, entryCredential],
      [exit, exitCredential],
    ] as const) {
      const result = await client(device, credential).drain();
      expect(result, result.lastError ?? '').toMatchObject({ status: 'drained' });
      expect(device.status().fareTableVersions).toEqual([1, 2]);
    }

    const full = quoteSubwayFare(FARES.subway, '土桥', '潞城').fareFen;
    const half = Math.floor(full / 2);
    const rideAt = (ymd: number) => {
      const atMs = epochMsFromBeijing(ymd, 63000);
      const tapIn = entry.tap(wallet.present(card), atMs);
      expect(tapIn.status, tapIn.resultName).toBe('accepted');
      const tapOut = exit.tap(wallet.present(card), atMs + 40 * MIN);
      expect(tapOut.status, tapOut.resultName).toBe('accepted');
      return { chargeFen: tapOut.chargeFen, fareTableVersion: exit.journal.get(tapOut.deviceSeqs[tapOut.deviceSeqs.length - 1])!.record.fareTableVersion };
    };
    // Before the effective instant: version 1's calendar (a working day there), half fare.
    expect(rideAt(before)).toEqual({ chargeFen: half, fareTableVersion: 1 });
    // After it: version 2's calendar: the weekday is a day off, the Saturday a working day.
    expect(rideAt(afterDayOff)).toEqual({ chargeFen: full, fareTableVersion: 2 });
    expect(rideAt(afterWorkingSaturday)).toEqual({ chargeFen: half, fareTableVersion: 2 });
  });
});

describe('supersededFareTables (what a validator may drop)', () => {
  const t = (version: number, effectiveFromMs: number) => ({ version, effectiveFromMs });
  it('never the table in force nor an announced one, whatever their number; beaten ones beyond the kept margin', () => {
    const tables = [t(1, 0), t(2, 100), t(3, 200), t(4, 300), t(5, 400)];
    expect(supersededFareTables(tables, 50, 0)).toEqual([]);
    expect(supersededFareTables(tables, 250, 0)).toEqual([2, 1]);
    expect(supersededFareTables(tables, 250, 1)).toEqual([1]);
    expect(supersededFareTables(tables, 1_000, 1)).toEqual([3, 2, 1]);
    // Same instant: the higher version is in force, the lower one is beaten.
    expect(supersededFareTables([t(1, 0), t(2, 100), t(3, 100)], 100, 0)).toEqual([2, 1]);
    // Nothing in force yet (a device holding only future tables): nothing is dropped.
    expect(supersededFareTables([t(2, 100), t(3, 200)], 50, 0)).toEqual([]);
  });
});
