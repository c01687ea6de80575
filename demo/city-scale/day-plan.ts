/**
 * The city-scale day: the validators on the real network and every rider's taps, in time order.
 *
 * Devices: one entry and one exit validator at every station of the main subway network (each
 * stands for that station's bank of gates), `busesPerLine` validators on each bus line of the fare
 * tables, an entry and an exit gate at every P+R lot, one gate at every park the annual pass
 * covers. A seeded sample of devices (`SAMPLE-…`: two stations, one flat and one segmented bus
 * line, one P+R lot, one park) runs the real device code path; the seeded sample of riders who use
 * them taps nowhere else, so every card's state lives in exactly one place.
 *
 * Riders, each seeded by its card index: subway commuters (home and work stations, a morning and
 * an evening trip, some a midday round trip), bus commuters (a line, two or four rides; segmented
 * lines tap on and off), bus + subway riders, P+R riders (park, ride the subway from the lot's
 * station and back, leave), park visitors with the annual pass (subway there and back), occasional
 * riders (one trip). Every tap is an event (second of the day, device, card, bus stop); a
 * counting sort by second puts the day in time order.
 */
import type { BusLine, DeviceKind, FareTables, Operator } from '#core';
import { SeededRandom } from '../seeded-random.ts';

export type GatewayDeviceKind = 'subway-gate' | 'bus-validator' | 'pr-gate' | 'park-gate';

export interface PlannedDevice {
  id: string;
  kind: DeviceKind;
  operator: Operator;
  gatewayKind: GatewayDeviceKind;
  /** Registration place fields for POST /v1/devices. */
  register: Record<string, string>;
  stationCode: number;
  stationName: string;
  busLine: number;
  lotId: number;
  parkId: number;
  /** Runs the real device code path (Device.tap with a card simulator). */
  sample: boolean;
}

interface Stop {
  entry: number;
  exit: number;
  code: number;
}

interface Side {
  stations: Stop[];
  /** Per bus line (index into lines): the device indexes of its validators. */
  buses: number[][];
  lines: BusLine[];
  lots: Array<{ entry: number; exit: number; stationIndex: number }>;
  parks: number[];
}

export interface DayPlan {
  devices: PlannedDevice[];
  cards: number;
  /** Cards that tap on sample devices only (sorted card indexes). */
  sampleCards: Int32Array;
  /** Events: second of the day, device index, card index, bus stop; `order` lists them in time order. */
  events: number;
  order: Uint32Array;
  second: Uint32Array;
  device: Uint16Array;
  card: Uint32Array;
  stop: Uint8Array;
  /** Of the events: taps per operator of the device. */
  tapsByOperator: Record<Operator, number>;
  riderKinds: Record<RiderKind, number>;
}

export type RiderKind = 'subway-commuter' | 'bus-commuter' | 'bus-and-subway' | 'park-and-ride' | 'park-visitor' | 'occasional';
const RIDER_MIX: ReadonlyArray<[RiderKind, number]> = [
  ['subway-commuter', 0.52],
  ['bus-commuter', 0.22],
  ['bus-and-subway', 0.14],
  ['park-and-ride', 0.03],
  ['park-visitor', 0.05],
  ['occasional', 0.04],
];

/** Expected taps per card of RIDER_MIX (measured over 1 M cards of seed 8), to size a run from a record target. */
export const TAPS_PER_CARD = 4.74;

export interface PlanOptions {
  cards: number;
  seed: number;
  busesPerLine: number;
  /** One card in `sampleEvery` is a sample rider. */
  sampleEvery: number;
}

const MINUTE = 60;
const HOUR = 3600;
const DAY_END = 24 * HOUR - 1;

function buildDevices(fares: FareTables, options: PlanOptions): { devices: PlannedDevice[]; bulk: Side; sample: Side } {
  const devices: PlannedDevice[] = [];
  const add = (d: Omit<PlannedDevice, 'stationCode' | 'stationName' | 'busLine' | 'lotId' | 'parkId'> & Partial<PlannedDevice>): number => {
    devices.push({ stationCode: 0, stationName: '', busLine: 0, lotId: 0, parkId: 0, ...d });
    return devices.length - 1;
  };
  const network = fares.subway;
  const codes: number[] = [];
  for (let code = 1; code <= network.stationCount; code++) if (network.onMainNetwork[code] === 1) codes.push(code);
  const random = new SeededRandom(options.seed ^ 0x5eed);
  const sampleCodes = new Set(random.shuffle(codes).slice(0, 2));
  const lines = [...fares.busLineById.values()].sort((a, b) => a.lineId - b.lineId);
  const parksCovered = [...fares.parkById.values()].filter((p) => p.coveredByPass).sort((a, b) => a.parkId - b.parkId);
  const lots = [...fares.lotById.values()].sort((a, b) => a.lotId - b.lotId);

  const side = (sample: boolean): Side => {
    const prefix = sample ? 'SAMPLE-' : '';
    const stations: Stop[] = [];
    for (const code of codes) {
      if (sampleCodes.has(code) !== sample) continue;
      const name = network.stationNames[code];
      const tag = `S${String(code).padStart(3, '0')}`;
      const common = {
        operator: 'subway' as const,
        gatewayKind: 'subway-gate' as const,
        register: { station: name },
        stationCode: code,
        stationName: name,
        sample,
      };
      const entry = add({ id: `${prefix}SUB-${tag}-IN`, kind: 'subway-entry', ...common });
      const exit = add({ id: `${prefix}SUB-${tag}-OUT`, kind: 'subway-exit', ...common });
      stations.push({ entry, exit, code });
    }
    const sideLines = sample ? [lines.find((l) => l.kind === 'flat'), lines.find((l) => l.kind === 'segmented')].filter((l) => l !== undefined) : lines;
    const buses = sideLines.map((line) => {
      const count = sample ? 1 : options.busesPerLine;
      return Array.from({ length: count }, (_, n) =>
        add({
          id: `${prefix}BUS-${line.lineId}-${String(n + 1).padStart(3, '0')}`,
          kind: 'bus',
          operator: 'bus',
          gatewayKind: 'bus-validator',
          register: { line: String(line.lineId) },
          busLine: line.lineId,
          sample,
        }),
      );
    });
    const sideLots = (sample ? lots.slice(0, 1) : lots).map((lot, n) => {
      const common = { operator: 'pr' as const, gatewayKind: 'pr-gate' as const, register: { lot: String(lot.lotId) }, lotId: lot.lotId, sample };
      const entry = add({ id: `${prefix}PR-${lot.lotId}-IN`, kind: 'pr-entry', ...common });
      const exit = add({ id: `${prefix}PR-${lot.lotId}-OUT`, kind: 'pr-exit', ...common });
      // The lot's station when the reference data names one on this side, else a seeded one.
      const named = lot.nearestStation === undefined ? -1 : stations.findIndex((s) => network.stationNames[s.code] === lot.nearestStation);
      return { entry, exit, stationIndex: named >= 0 ? named : (n * 7919) % stations.length };
    });
    const parks = (sample ? parksCovered.slice(0, 1) : parksCovered).map((park) =>
      add({
        id: `${prefix}PARK-${park.parkId}`,
        kind: 'park-gate',
        operator: 'park',
        gatewayKind: 'park-gate',
        register: { park: park.name },
        parkId: park.parkId,
        sample,
      }),
    );
    return { stations, buses, lines: sideLines, lots: sideLots, parks };
  };
  const bulk = side(false);
  const sample = side(true);
  if (devices.length > 0xffff) throw new Error('too many devices for the event arrays');
  return { devices, bulk, sample };
}

/** Growable typed-array columns of tap events. */
class EventColumns {
  n = 0;
  second: Uint32Array;
  device: Uint16Array;
  card: Uint32Array;
  stop: Uint8Array;

  constructor(capacity: number) {
    this.second = new Uint32Array(capacity);
    this.device = new Uint16Array(capacity);
    this.card = new Uint32Array(capacity);
    this.stop = new Uint8Array(capacity);
  }

  push(second: number, device: number, card: number, stop: number): void {
    if (this.n === this.second.length) this.grow();
    const i = this.n++;
    this.second[i] = Math.min(DAY_END, second);
    this.device[i] = device;
    this.card[i] = card;
    this.stop[i] = stop;
  }

  private grow(): void {
    const capacity = Math.ceil(this.second.length * 1.25) + 1024;
    const second = new Uint32Array(capacity);
    second.set(this.second);
    const device = new Uint16Array(capacity);
    device.set(this.device);
    const card = new Uint32Array(capacity);
    card.set(this.card);
    const stop = new Uint8Array(capacity);
    stop.set(this.stop);
    Object.assign(this, { second, device, card, stop });
  }
}

/** One rider's day of taps, pushed in the rider's own time order. */
function planRider(random: SeededRandom, kind: RiderKind, card: number, side: Side, out: EventColumns): void {
  const stations = side.stations;
  const station = (): Stop => stations[random.int(0, stations.length - 1)];
  const otherThan = (s: Stop): Stop => {
    for (;;) {
      const o = station();
      if (o !== s || stations.length === 1) return o;
    }
  };
  /** A subway trip leaving at `at`; returns when the rider is out. */
  const subway = (from: Stop, to: Stop, at: number): number => {
    out.push(at, from.entry, card, 0);
    const arrive = at + random.int(12, 70) * MINUTE + random.int(0, 59);
    out.push(arrive, to.exit, card, 0);
    return arrive;
  };
  /** A bus ride on a random line (the same validator for tap-on and tap-off); returns the end time. */
  const bus = (lineIndex: number, bus: number, at: number): number => {
    const line = side.lines[lineIndex];
    const stops = line.stops.length;
    const on = random.int(0, Math.max(0, stops - 2));
    out.push(at, bus, card, on);
    if (line.kind !== 'segmented') return at + random.int(10, 40) * MINUTE;
    const off = random.int(on + 1, stops - 1);
    const end = at + random.int(8, 45) * MINUTE + random.int(0, 59);
    out.push(end, bus, card, off);
    return end;
  };
  const pickBus = (): { line: number; bus: number } => {
    const line = random.int(0, side.lines.length - 1);
    const buses = side.buses[line];
    return { line, bus: buses[random.int(0, buses.length - 1)] };
  };
  const morning = (): number => 6 * HOUR + random.int(0, 210) * MINUTE + random.int(0, 59);
  const evening = (): number => 17 * HOUR + random.int(0, 210) * MINUTE + random.int(0, 59);

  switch (kind) {
    case 'subway-commuter': {
      const home = station();
      const work = otherThan(home);
      let t = subway(home, work, morning());
      if (random.chance(0.15)) {
        const lunch = otherThan(work);
        t = subway(work, lunch, Math.max(t + 2 * HOUR, 11 * HOUR + random.int(0, 90) * MINUTE));
        t = subway(lunch, work, t + random.int(30, 90) * MINUTE);
      }
      subway(work, home, Math.max(t + HOUR, evening()));
      break;
    }
    case 'bus-commuter': {
      const { line, bus: b } = pickBus();
      let t = bus(line, b, morning());
      if (random.chance(0.3)) {
        t = bus(line, b, Math.max(t + HOUR, 12 * HOUR + random.int(0, 120) * MINUTE));
        t = bus(line, b, t + random.int(30, 120) * MINUTE);
      }
      bus(line, b, Math.max(t + HOUR, evening()));
      break;
    }
    case 'bus-and-subway': {
      const { line, bus: b } = pickBus();
      const home = station();
      const work = otherThan(home);
      let t = bus(line, b, morning());
      t = subway(home, work, t + random.int(3, 15) * MINUTE);
      t = subway(work, home, Math.max(t + HOUR, evening()));
      bus(line, b, t + random.int(3, 15) * MINUTE);
      break;
    }
    case 'park-and-ride': {
      const lot = side.lots[random.int(0, side.lots.length - 1)];
      const from = stations[lot.stationIndex];
      const work = otherThan(from);
      const parked = morning();
      out.push(parked, lot.entry, card, 0);
      let t = subway(from, work, parked + random.int(4, 12) * MINUTE);
      t = subway(work, from, Math.max(t + HOUR, evening()));
      out.push(t + random.int(4, 12) * MINUTE, lot.exit, card, 0);
      break;
    }
    case 'park-visitor': {
      const home = station();
      const near = otherThan(home);
      let t = subway(home, near, 8 * HOUR + random.int(0, 240) * MINUTE);
      const gate = side.parks[random.int(0, side.parks.length - 1)];
      t += random.int(5, 20) * MINUTE;
      out.push(t, gate, card, 0);
      subway(near, home, t + random.int(60, 240) * MINUTE);
      break;
    }
    case 'occasional': {
      const from = station();
      subway(from, otherThan(from), 7 * HOUR + random.int(0, 14 * 60) * MINUTE);
      break;
    }
  }
}

function riderKind(random: SeededRandom): RiderKind {
  let x = random.next();
  for (const [kind, weight] of RIDER_MIX) {
    x -= weight;
    if (x < 0) return kind;
  }
  return 'occasional';
}

/** Card indexes of the sample riders. */
export function isSampleCard(card: number, sampleEvery: number): boolean {
  return card % sampleEvery === sampleEvery >> 1;
}

export function planDay(fares: FareTables, options: PlanOptions): DayPlan {
  const { devices, bulk, sample } = buildDevices(fares, options);
  const columns = new EventColumns(Math.ceil(options.cards * TAPS_PER_CARD * 1.05));
  const riderKinds: Record<RiderKind, number> = {
    'subway-commuter': 0,
    'bus-commuter': 0,
    'bus-and-subway': 0,
    'park-and-ride': 0,
    'park-visitor': 0,
    occasional: 0,
  };
  const samples: number[] = [];
  for (let card = 0; card < options.cards; card++) {
    const random = new SeededRandom((options.seed * 0x9e3779b1) ^ Math.imul(card + 1, 0x85ebca6b));
    const kind = riderKind(random);
    riderKinds[kind]++;
    const isSample = isSampleCard(card, options.sampleEvery);
    if (isSample) samples.push(card);
    planRider(random, kind, card, isSample ? sample : bulk, columns);
  }
  // Counting sort by second (stable: a rider's taps keep their order within a second), as a
  // permutation: the columns stay where they are (one extra array instead of four).
  const n = columns.n;
  const starts = new Uint32Array(DAY_END + 2);
  for (let i = 0; i < n; i++) starts[columns.second[i] + 1]++;
  for (let s = 1; s < starts.length; s++) starts[s] += starts[s - 1];
  const order = new Uint32Array(n);
  const tapsByOperator: Record<Operator, number> = { subway: 0, bus: 0, pr: 0, park: 0, suburban: 0 };
  for (let i = 0; i < n; i++) {
    order[starts[columns.second[i]]++] = i;
    tapsByOperator[devices[columns.device[i]].operator]++;
  }
  const { second, device, card, stop } = columns;
  return { devices, cards: options.cards, sampleCards: Int32Array.from(samples), events: n, order, second, device, card, stop, tapsByOperator, riderKinds };
}
