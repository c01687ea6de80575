/**
 * The validator fleet: subway entry/exit gates at real stations of the network, bus validators
 * on the example lines, P+R entry/exit gates, park gates. Each device has its own SQLite device
 * database and is registered with the gateway (its device credential goes into the device's
 * config). Then every device enrols with the gateway's device CA (issue 9: its own RSA key,
 * CSR, certificate in `<db>.pki/`) and syncs with the validator's own SyncClient (msgpack)
 * over mutual TLS with the device listener only; the main API refuses bearer sync once the CA
 * exists. Enrolment costs a key generation per device (libuv thread pool), so the fleet enrols
 * a few devices at once.
 */
import { join } from 'node:path';
import {
  EARLY_ENTRY_STATIONS,
  EXAMPLE_BUS_LINES,
  EXAMPLE_PARK_AND_RIDE_LOTS,
  EXAMPLE_TICKETED_PARK,
  MUNICIPAL_PARKS,
  type BusLine,
  type CardPort,
  type DeviceKind,
  type FareTables,
  type Operator,
} from '#core';
import type { PsamKeys } from '#validator/psam-file';
import { Device, initDevice, type DeviceTapResult } from '#validator/device';
import { terminalIdFor, type DeviceProfile } from '#validator/device-profile';
import { openDeviceDb } from '#validator/storage/device-db';
import { FareTableStore } from '#validator/storage/fare-table-store';
import { SyncClient, type DrainResult } from '#validator/sync-client';
import { enrolForSync } from '#validator/pki/device-tls';
import type { MtlsFetch } from '#validator/pki/mtls-fetch';
import type { GatewayClient } from './gateway-client.ts';
import type { SeededRandom } from './seeded-random.ts';
import type { SimClock } from './sim-clock.ts';

export type GatewayDeviceKind = 'subway-gate' | 'bus-validator' | 'pr-gate' | 'park-gate';

/** What one device's mutual-TLS sync transport saw (counted around its fetch). */
export interface DeviceTlsStats {
  /** Sync requests sent over mutual TLS to the device listener. */
  requests: number;
  /** Answered 200 (a sync round the gateway served). */
  ok: number;
  /** Refused answers by problem code (e.g. client-certificate-revoked). */
  refused: Record<string, number>;
  /** The last refusal's problem code, if any. */
  lastRefusal: string | null;
}

export interface SimDevice {
  id: string;
  kind: DeviceKind;
  operator: Operator;
  device: Device;
  sync: SyncClient;
  /** The device database; its identity (key, certificate, pinned CA) is in `<dbPath>.pki/`. */
  dbPath: string;
  /** The bearer credential from registration (refused for sync once the device CA exists). */
  credential: string;
  tls: DeviceTlsStats;
  /** Closes the kept-alive mutual-TLS connections. */
  closeTransport: () => void;
  /** Offline windows [fromMs, untilMs): no sync happens inside one (taps go on). */
  offline: Array<{ fromMs: number; untilMs: number }>;
  /** Where it stands, for display. */
  place: string;
  stationCode: number;
  busLine: BusLine | null;
  lotId: number;
  parkId: number;
}

export interface Station {
  code: number;
  name: string;
  entry: SimDevice;
  exit: SimDevice;
}

export interface Fleet {
  devices: SimDevice[];
  /** Wall-clock time spent enrolling the fleet with the device CA (keys, CSRs, certificates). */
  enrolWallMs: number;
  stations: Station[];
  buses: SimDevice[];
  lots: Array<{ lotId: number; entry: SimDevice; exit: SimDevice }>;
  parks: SimDevice[];
}

/** How many devices of each kind a fleet of `total` gets (at least one of each). */
export function fleetShape(total: number): { stations: number; buses: number; lots: number; parks: number } {
  const parks = Math.max(2, Math.round(total * 0.15));
  const lots = Math.min(EXAMPLE_PARK_AND_RIDE_LOTS.length, Math.max(1, Math.round((total * 0.1) / 2)));
  const buses = Math.max(2, Math.round(total * 0.2));
  const stations = Math.max(2, Math.floor((total - parks - 2 * lots - buses) / 2));
  // An odd remainder goes to the buses, so the fleet has exactly `total` devices (at least 10).
  const rest = total - (2 * stations + buses + 2 * lots + parks);
  return { stations, buses: buses + Math.max(0, rest), lots, parks };
}

export function isOnline(device: SimDevice, nowMs: number): boolean {
  return !device.offline.some((w) => nowMs >= w.fromMs && nowMs < w.untilMs);
}

export interface BuildFleetOptions {
  dir: string;
  total: number;
  fares: FareTables;
  fareTablesJson: string;
  psamKeys: PsamKeys;
  gateway: GatewayClient;
  operatorToken: string;
  clock: SimClock;
  random: SeededRandom;
  onDevice?: (done: number, total: number) => void;
  /** Called when every device is registered and enrolment starts. */
  onEnrolStart?: () => void;
  onEnrolled?: (done: number, total: number) => void;
  /** Enrolments in flight at once (key generation runs on libuv's pool of 4 threads); default 4. */
  enrolConcurrency?: number;
}

/** Runs `work` over `items` with at most `limit` in flight; results keep the items' order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Wraps the mutual-TLS fetch to count requests, served rounds and refusals by problem code. */
function countingFetch(inner: MtlsFetch, stats: DeviceTlsStats): typeof fetch {
  const counted = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    stats.requests++;
    const answer = await inner(input, init);
    if (answer.status === 200) stats.ok++;
    else {
      let code = `http-${answer.status}`;
      try {
        const problem = (await answer.clone().json()) as { code?: unknown };
        if (typeof problem.code === 'string') code = problem.code;
      } catch {
        // not a problem document: keep the status
      }
      stats.refused[code] = (stats.refused[code] ?? 0) + 1;
      stats.lastRefusal = code;
    }
    return answer;
  };
  return counted as typeof fetch;
}

/** Picks real stations of the main network, one early-entry station among them when there are three or more. */
function pickStations(fares: FareTables, count: number, random: SeededRandom): Array<{ code: number; name: string }> {
  const network = fares.subway;
  const candidates: Array<{ code: number; name: string }> = [];
  for (let code = 1; code <= network.stationCount; code++) {
    if (network.onMainNetwork[code] === 1) candidates.push({ code, name: network.stationNames[code] });
  }
  const chosen = random.shuffle(candidates).slice(0, count);
  if (count >= 3) {
    const early = random.shuffle(candidates.filter((c) => EARLY_ENTRY_STATIONS.includes(c.name)))[0];
    if (early !== undefined && !chosen.some((c) => c.code === early.code)) chosen[chosen.length - 1] = early;
  }
  return chosen;
}

export async function buildFleet(options: BuildFleetOptions): Promise<Fleet> {
  const { fares, random, gateway, clock } = options;
  const shape = fleetShape(options.total);
  const total = shape.stations * 2 + shape.buses + shape.lots * 2 + shape.parks;
  let done = 0;

  const make = async (
    id: string,
    kind: DeviceKind,
    gatewayKind: GatewayDeviceKind,
    place: Partial<DeviceProfile>,
    placeText: string,
    registerPlace: Record<string, string>,
  ): Promise<SimDevice> => {
    const registration = await gateway.post('/v1/devices', options.operatorToken, { body: { deviceId: id, kind: gatewayKind, ...registerPlace } });
    const profile: DeviceProfile = {
      deviceId: id,
      kind,
      operator: kind.startsWith('subway') ? 'subway' : kind === 'bus' ? 'bus' : kind.startsWith('pr') ? 'pr' : 'park',
      stationCode: 0,
      stationName: '',
      busLine: 0,
      busStop: 0,
      lotId: 0,
      parkId: 0,
      terminalIdHex: terminalIdFor(id),
      ...place,
    };
    const dbPath = join(options.dir, `${id}.db`);
    initDevice(dbPath, { profile, gateway: { url: gateway.baseUrl, credential: registration.credential }, nowMs: clock.nowMs });
    // The fare table goes in through the device's own store, so Device.open parses it once
    // (initDevice with fareTablesJson would parse the whole network a second time).
    const db = openDeviceDb(dbPath);
    try {
      new FareTableStore(db).install(fares.version, options.fareTablesJson, clock.nowMs);
    } finally {
      db.close();
    }
    const device = Device.open(dbPath, { psamKeys: options.psamKeys });
    done++;
    options.onDevice?.(done, total);
    return {
      id,
      kind,
      operator: profile.operator,
      device,
      // Set once the device is enrolled (below): sync runs only over mutual TLS.
      sync: null as unknown as SyncClient,
      dbPath,
      credential: registration.credential,
      tls: { requests: 0, ok: 0, refused: {}, lastRefusal: null },
      closeTransport: () => {},
      offline: [],
      place: placeText,
      stationCode: profile.stationCode,
      busLine: null,
      lotId: profile.lotId,
      parkId: profile.parkId,
    };
  };

  const stations: Station[] = [];
  for (const s of pickStations(fares, shape.stations, random)) {
    const tag = `S${String(s.code).padStart(3, '0')}`;
    const entry = await make(`SUB-${tag}-IN`, 'subway-entry', 'subway-gate', { stationCode: s.code, stationName: s.name }, s.name, { station: s.name });
    const exit = await make(`SUB-${tag}-OUT`, 'subway-exit', 'subway-gate', { stationCode: s.code, stationName: s.name }, s.name, { station: s.name });
    stations.push({ code: s.code, name: s.name, entry, exit });
  }
  // Segmented lines first: they carry the tap-off rides.
  const lines = [...EXAMPLE_BUS_LINES].sort((a, b) => (a.kind === b.kind ? a.lineId - b.lineId : a.kind === 'segmented' ? -1 : 1));
  const buses: SimDevice[] = [];
  for (let i = 0; i < shape.buses; i++) {
    const line = lines[i % lines.length];
    const id = `BUS-${line.lineId}-${String(Math.floor(i / lines.length) + 1).padStart(2, '0')}`;
    const bus = await make(id, 'bus', 'bus-validator', { busLine: line.lineId, busStop: 0 }, line.name, { line: String(line.lineId) });
    bus.busLine = line;
    buses.push(bus);
  }
  const lots: Fleet['lots'] = [];
  for (const lot of EXAMPLE_PARK_AND_RIDE_LOTS.slice(0, shape.lots)) {
    const entry = await make(`PR-${lot.lotId}-IN`, 'pr-entry', 'pr-gate', { lotId: lot.lotId }, lot.name, { lot: String(lot.lotId) });
    const exit = await make(`PR-${lot.lotId}-OUT`, 'pr-exit', 'pr-gate', { lotId: lot.lotId }, lot.name, { lot: String(lot.lotId) });
    lots.push({ lotId: lot.lotId, entry, exit });
  }
  const parkList = [EXAMPLE_TICKETED_PARK, ...MUNICIPAL_PARKS];
  const parks: SimDevice[] = [];
  for (let i = 0; i < shape.parks; i++) {
    const park = parkList[i % parkList.length];
    const id = `PARK-${park.parkId}-${String(Math.floor(i / parkList.length) + 1).padStart(2, '0')}`;
    parks.push(await make(id, 'park-gate', 'park-gate', { parkId: park.parkId }, park.name, { park: park.name }));
  }
  const devices = [...stations.flatMap((s) => [s.entry, s.exit]), ...buses, ...lots.flatMap((l) => [l.entry, l.exit]), ...parks];

  // Enrolment: operator code, device key + CSR, certificate; then the SyncClient talks to the
  // device listener the gateway announced, with the device's certificate.
  options.onEnrolStart?.();
  const enrolStarted = performance.now();
  let enrolled = 0;
  try {
    await mapBounded(devices, options.enrolConcurrency ?? 4, async (sim) => {
      const transport = await enrolForSync({
        dbPath: sim.dbPath,
        gatewayUrl: gateway.baseUrl,
        operatorToken: options.operatorToken,
        deviceId: sim.id,
        clock: clock.now,
      });
      sim.closeTransport = () => transport.fetch.close();
      sim.sync = new SyncClient({
        device: sim.device,
        gatewayUrl: transport.gatewayUrl,
        credential: sim.credential,
        fetch: countingFetch(transport.fetch, sim.tls),
        clock: clock.now,
        random: () => random.next(),
        // Simulated time: a failed round is retried at the next sync tick, never by sleeping.
        sleep: async () => {},
        backoff: { maxAttempts: 2 },
      });
      enrolled++;
      options.onEnrolled?.(enrolled, devices.length);
    });
  } catch (error) {
    closeFleet({ devices, stations, buses, lots, parks, enrolWallMs: 0 });
    throw error;
  }
  const enrolWallMs = performance.now() - enrolStarted;
  return { devices, stations, buses, lots, parks, enrolWallMs };
}

/** One tap with its latency: the validator's whole tap, journal commit (synchronous=FULL) included. */
export function timedTap(device: SimDevice, card: CardPort, nowMs: number): { result: DeviceTapResult; latencyMs: number } {
  const started = process.hrtime.bigint();
  const result = device.device.tap(card, nowMs);
  const latencyMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { result, latencyMs };
}

export async function syncDevice(device: SimDevice): Promise<DrainResult> {
  return device.sync.drain();
}

export function closeFleet(fleet: Fleet): void {
  for (const d of fleet.devices) {
    d.closeTransport();
    d.device.close();
  }
}
