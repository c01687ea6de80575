/**
 * Bus fares (DOMAIN.md section 4) [S F3 F10 F11]: flat-fare lines charge at boarding;
 * segmented lines charge 2 yuan for the first 10 km and +1 yuan per started 5 km, by the
 * distance between boarding and alighting stops. Card holders pay a profile percentage of the
 * fare (adult 50%, student 25%, senior 65+ free). A tap-on writes the "mark amount": the
 * undiscounted fare to the far terminus, charged undiscounted at the next tap if the rider
 * never taps off.
 */
import type { HolderProfile } from '../card/card-image.ts';
import { distanceBandFareFen, type DistanceBandRule } from './distance-bands.ts';

export interface BusLine {
  /** Line id written on the card (u16, > 0). */
  lineId: number;
  name: string;
  kind: 'flat' | 'segmented';
  /** Flat lines: the undiscounted fare. */
  flatFareFen: number;
  /** Stop names, in line order. */
  stops: string[];
  /** Cumulative distance of each stop from the first, metres (segmented lines; same length as stops). */
  stopPositionsM: number[];
}

export interface BusFarePolicy {
  /** Segmented lines: 2 yuan to 10 km, +1 yuan per started 5 km. */
  segmented: DistanceBandRule;
  /** Percent the holder pays, by profile. */
  profilePercent: Record<HolderProfile, number>;
  /** Minimum effective balance to board [S F6]. */
  minBoardingBalanceFen: number;
  /** A second tap at the boarding stop within this time is a double tap, refused [P]. */
  retapGuardMs: number;
  /**
   * Segmented lines: a tap on the boarded line is the tap-off only within this time of boarding
   * [P]. Later (the rider never tapped off, e.g. yesterday's ride on the same line) it is a new
   * boarding that first settles the old ride's mark amount, undiscounted [S F10]. Optional so
   * fare tables issued before the field existed still parse: DEFAULT_BUS_MAX_RIDE_MS applies.
   */
  maxRideMs?: number;
}

/** Default bus ride window: as long as the subway's time in system (4 h) [P]. */
export const DEFAULT_BUS_MAX_RIDE_MS = 4 * 60 * 60 * 1000;

/** The ride window in force (the policy's, else the default). */
export function busMaxRideMs(policy: BusFarePolicy): number {
  return policy.maxRideMs ?? DEFAULT_BUS_MAX_RIDE_MS;
}

export function validateBusFarePolicy(policy: BusFarePolicy): void {
  if (policy.maxRideMs !== undefined && (!Number.isSafeInteger(policy.maxRideMs) || policy.maxRideMs <= 0)) {
    throw new RangeError(`bus policy: maxRideMs must be a positive integer of ms, got ${String(policy.maxRideMs)}`);
  }
}

export const DEFAULT_BUS_FARE_POLICY: BusFarePolicy = {
  segmented: { bands: [{ upToM: 10_000, fareFen: 200 }], stepM: 5_000, stepFen: 100, graceM: 0 },
  profilePercent: { adult: 50, student: 25, senior: 0 },
  minBoardingBalanceFen: 100,
  retapGuardMs: 2 * 60 * 1000,
  maxRideMs: DEFAULT_BUS_MAX_RIDE_MS,
};

export function validateBusLine(line: BusLine): void {
  if (!Number.isInteger(line.lineId) || line.lineId < 1 || line.lineId > 0xffff) throw new RangeError(`bus line ${line.name}: id must be 1..65535`);
  if (line.kind === 'flat') {
    if (!Number.isSafeInteger(line.flatFareFen) || line.flatFareFen < 0) throw new RangeError(`bus line ${line.name}: flat fare must be integer fen >= 0`);
    return;
  }
  if (line.stops.length < 2 || line.stopPositionsM.length !== line.stops.length) throw new RangeError(`bus line ${line.name}: needs >= 2 stops with positions`);
  for (let i = 1; i < line.stopPositionsM.length; i++) {
    if (!(line.stopPositionsM[i] > line.stopPositionsM[i - 1])) throw new RangeError(`bus line ${line.name}: stop positions must ascend`);
  }
}

function checkStop(line: BusLine, stop: number): void {
  if (!Number.isInteger(stop) || stop < 0 || stop >= line.stops.length) throw new RangeError(`bus line ${line.name}: no stop index ${stop}`);
}

/** Undiscounted fare of a segmented line between two stop indexes. */
export function busSegmentFareFen(policy: BusFarePolicy, line: BusLine, fromStop: number, toStop: number): number {
  if (line.kind === 'flat') return line.flatFareFen;
  checkStop(line, fromStop);
  checkStop(line, toStop);
  return distanceBandFareFen(policy.segmented, Math.abs(line.stopPositionsM[toStop] - line.stopPositionsM[fromStop]));
}

/** Mark amount written at tap-on: the undiscounted fare to the farther terminus. */
export function busMarkAmountFen(policy: BusFarePolicy, line: BusLine, boardingStop: number): number {
  if (line.kind === 'flat') return line.flatFareFen;
  return Math.max(busSegmentFareFen(policy, line, boardingStop, 0), busSegmentFareFen(policy, line, boardingStop, line.stops.length - 1));
}
