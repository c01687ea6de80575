/**
 * One versioned bundle of every fare rule a validator needs, in force from an instant.
 * The gateway sends it in sync as JSON (`SyncResponse.fareTable`); the network travels as its
 * CSV text and is rebuilt (with all precomputed matrices) when the JSON is parsed, off the gate
 * path.
 */
import { distanceBandFareFen } from './distance-bands.ts';
import { type BusFarePolicy, type BusLine, DEFAULT_BUS_FARE_POLICY, validateBusFarePolicy, validateBusLine } from './bus-fare.ts';
import { EXAMPLE_BUS_LINES } from './example-bus-lines.ts';
import { type ParkAndRideLot, validateParkAndRideLot } from './park-and-ride.ts';
import { PARK_AND_RIDE_LOTS } from './data/pr-lots.ts';
import { DEFAULT_PARK_POLICY, EXAMPLE_TICKETED_PARK, MUNICIPAL_PARKS, type Park, type ParkPolicy, validatePark } from './park-pass.ts';
import { EXAMPLE_SUBURBAN_RAIL, type SuburbanRail, validateSuburbanRail } from './suburban-fare.ts';
import { DEFAULT_SUBWAY_FARE_POLICY, type SubwayFarePolicy } from './subway-fare-policy.ts';
import { parseSubwayNetwork, type SubwayNetwork } from './subway-network.ts';
import { fareTablesSpecShapeProblems } from './fare-tables-shape.ts';
import { type RevenueSplitTable, validateRevenueSplitTable } from './revenue-split-table.ts';
import { LIMITS } from '../limits.ts';

export const FARE_TABLES_FORMAT = 'fare-tables/1';

/** The serialisable form (what travels as JSON). */
export interface FareTablesSpec {
  /** Strictly increasing across issued tables; written on the card and in every journal record. */
  version: number;
  /** In force from this instant (epoch ms; normally a Beijing midnight, see epochMsFromBeijing). */
  effectiveFromMs: number;
  subwayCsv: string;
  subwayPolicy: SubwayFarePolicy;
  busPolicy: BusFarePolicy;
  busLines: BusLine[];
  suburban: SuburbanRail;
  parkAndRideLots: ParkAndRideLot[];
  parkPolicy: ParkPolicy;
  parks: Park[];
  /**
   * Who is paid for each line, lot and bus line (revenue-split-table.ts). Absent in bundles
   * published before it: those are split by the 2026 default (data/revenue-operators.ts).
   */
  revenueSplit?: RevenueSplitTable;
}

/** The built form the tap engine reads (lookups precomputed). */
export interface FareTables {
  readonly spec: FareTablesSpec;
  readonly version: number;
  readonly effectiveFromMs: number;
  readonly subway: SubwayNetwork;
  readonly busLineById: ReadonlyMap<number, BusLine>;
  readonly lotById: ReadonlyMap<number, ParkAndRideLot>;
  readonly parkById: ReadonlyMap<number, Park>;
  /** Index = suburban station code: highest fare from that station. */
  readonly suburbanMaxFareFromFen: ReadonlyMap<number, number>;
}

export class FareTablesFormatError extends Error {
  override readonly name = 'FareTablesFormatError';
}

function byId<T>(items: T[], id: (item: T) => number, what: string): Map<number, T> {
  const map = new Map<number, T>();
  for (const item of items) {
    const key = id(item);
    if (map.has(key)) throw new RangeError(`duplicate ${what} id ${key}`);
    map.set(key, item);
  }
  return map;
}

export function buildFareTables(spec: FareTablesSpec): FareTables {
  if (!Number.isSafeInteger(spec.version) || spec.version < 1 || spec.version > 0xffffffff)
    throw new RangeError(`fare table version must be 1..2^32-1, got ${spec.version}`);
  if (!Number.isSafeInteger(spec.effectiveFromMs)) throw new RangeError('effectiveFromMs must be an integer');
  validateBusFarePolicy(spec.busPolicy);
  spec.busLines.forEach(validateBusLine);
  spec.parkAndRideLots.forEach(validateParkAndRideLot);
  spec.parks.forEach(validatePark);
  validateSuburbanRail(spec.suburban);
  const subway = parseSubwayNetwork(spec.subwayCsv, spec.subwayPolicy);
  if (spec.revenueSplit !== undefined) validateRevenueSplitTable(spec.revenueSplit, subway.lines);
  const suburbanMax = new Map<number, number>();
  for (const s of spec.suburban.stations) {
    let max = 0;
    for (const t of spec.suburban.stations) {
      const d = Math.abs(s.positionM - t.positionM);
      max = Math.max(max, fareOf(spec.suburban, d));
    }
    suburbanMax.set(s.code, max);
  }
  return {
    spec,
    version: spec.version,
    effectiveFromMs: spec.effectiveFromMs,
    subway,
    busLineById: byId(spec.busLines, (l) => l.lineId, 'bus line'),
    lotById: byId(spec.parkAndRideLots, (l) => l.lotId, 'P+R lot'),
    parkById: byId(spec.parks, (p) => p.parkId, 'park'),
    suburbanMaxFareFromFen: suburbanMax,
  };
}

function fareOf(rail: SuburbanRail, distanceM: number): number {
  return distanceBandFareFen(rail.fare, distanceM);
}

/** The default spec: Beijing policies, the given network CSV, and the labelled example data. */
export function defaultFareTablesSpec(subwayCsv: string, version = 1, effectiveFromMs = 0): FareTablesSpec {
  return structuredClone({
    version,
    effectiveFromMs,
    subwayCsv,
    subwayPolicy: DEFAULT_SUBWAY_FARE_POLICY,
    busPolicy: DEFAULT_BUS_FARE_POLICY,
    busLines: EXAMPLE_BUS_LINES,
    suburban: EXAMPLE_SUBURBAN_RAIL,
    parkAndRideLots: PARK_AND_RIDE_LOTS,
    parkPolicy: DEFAULT_PARK_POLICY,
    parks: [...MUNICIPAL_PARKS, EXAMPLE_TICKETED_PARK],
  });
}

/** The table in force at `nowMs`: latest effectiveFromMs not after now (ties: higher version); null if none. */
export function selectFareTables<T extends { version: number; effectiveFromMs: number }>(list: readonly T[], nowMs: number): T | null {
  let best: T | null = null;
  for (const t of list) {
    if (t.effectiveFromMs > nowMs) continue;
    if (best === null || t.effectiveFromMs > best.effectiveFromMs || (t.effectiveFromMs === best.effectiveFromMs && t.version > best.version)) best = t;
  }
  return best;
}

export function encodeFareTablesJson(tables: FareTables | FareTablesSpec): string {
  const spec = 'spec' in tables ? tables.spec : tables;
  return JSON.stringify({ format: FARE_TABLES_FORMAT, ...spec });
}

const REQUIRED_KEYS: Array<keyof FareTablesSpec> = [
  'version',
  'effectiveFromMs',
  'subwayCsv',
  'subwayPolicy',
  'busPolicy',
  'busLines',
  'suburban',
  'parkAndRideLots',
  'parkPolicy',
  'parks',
];

/** Parses and builds (validating every rule). Throws FareTablesFormatError on a malformed bundle. */
export function parseFareTablesJson(json: string): FareTables {
  if (json.length > LIMITS.fareTablesJsonChars) throw new FareTablesFormatError(`fare tables over ${LIMITS.fareTablesJsonChars} characters`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new FareTablesFormatError(`fare tables are not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) throw new FareTablesFormatError('fare tables must be an object');
  const record = value as Record<string, unknown>;
  if (record.format !== FARE_TABLES_FORMAT) throw new FareTablesFormatError(`unknown fare tables format ${String(record.format)}`);
  for (const key of REQUIRED_KEYS) {
    if (!(key in record)) throw new FareTablesFormatError(`fare tables: missing ${key}`);
  }
  if (typeof record.subwayCsv !== 'string') throw new FareTablesFormatError('fare tables: subwayCsv must be a string');
  const spec = {} as Record<string, unknown>;
  for (const key of REQUIRED_KEYS) spec[key] = record[key];
  if (record.revenueSplit !== undefined) spec.revenueSplit = record.revenueSplit;
  // Every field its type before anything is built: JSON can carry anything (fare-tables-shape.ts).
  const problems = fareTablesSpecShapeProblems(spec);
  if (problems.length > 0) throw new FareTablesFormatError(`fare tables invalid: ${problems.join('; ')}`);
  try {
    return buildFareTables(spec as unknown as FareTablesSpec);
  } catch (error) {
    // The cause stays reachable (a LineWithoutOperatorError names the lines for the gateway's answer).
    throw new FareTablesFormatError(`fare tables invalid: ${(error as Error).message}`, { cause: error });
  }
}
