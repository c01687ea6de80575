/**
 * Suburban rail (市郊铁路): outside the subway fare system (data/SOURCE.md gap 5). A card may
 * ride only once the suburban function is opened on it at a bank branch (seed question 44).
 * The fare rule is configurable [P]: stations with a position along the line and a distance
 * band rule over the distance between them.
 */
import { distanceBandFareFen, type DistanceBandRule, validateDistanceBandRule } from './distance-bands.ts';

export interface SuburbanStation {
  /** Station code written on the card (u16, > 0), its own namespace (not a subway code). */
  code: number;
  name: string;
  /** Position along the line, metres. */
  positionM: number;
}

export interface SuburbanRail {
  stations: SuburbanStation[];
  fare: DistanceBandRule;
  /** Minimum effective balance to enter. */
  minEntryBalanceFen: number;
  /** An open entry younger than this blocks a new entry; older is settled at the maximum fare [P]. */
  staleEntryMs: number;
  /** Exit at the entry station within this time is free [P]. */
  sameStationFreeExitMs: number;
}

/**
 * EXAMPLE DATA, MADE UP by this project: station names, codes, positions and fares are invented
 * (no official suburban fare table was used); they exist so tests and the demo have a line.
 */
export const EXAMPLE_SUBURBAN_RAIL: SuburbanRail = {
  stations: [
    { code: 1, name: '示例市郊甲站 (example)', positionM: 0 },
    { code: 2, name: '示例市郊乙站 (example)', positionM: 18_000 },
    { code: 3, name: '示例市郊丙站 (example)', positionM: 41_000 },
    { code: 4, name: '示例市郊丁站 (example)', positionM: 73_000 },
  ],
  fare: {
    bands: [
      { upToM: 20_000, fareFen: 300 },
      { upToM: 40_000, fareFen: 500 },
    ],
    stepM: 20_000,
    stepFen: 200,
    graceM: 0,
  },
  minEntryBalanceFen: 300,
  staleEntryMs: 4 * 60 * 60 * 1000,
  sameStationFreeExitMs: 5 * 60 * 1000,
};

export function validateSuburbanRail(rail: SuburbanRail): void {
  validateDistanceBandRule(rail.fare, 'suburban fare');
  const codes = new Set<number>();
  for (const s of rail.stations) {
    if (!Number.isInteger(s.code) || s.code < 1 || s.code > 0xffff || codes.has(s.code))
      throw new RangeError(`suburban station ${s.name}: code must be unique 1..65535`);
    codes.add(s.code);
  }
}

export function suburbanStation(rail: SuburbanRail, code: number): SuburbanStation | undefined {
  for (const s of rail.stations) if (s.code === code) return s;
  return undefined;
}

export function suburbanFareFen(rail: SuburbanRail, fromCode: number, toCode: number): { distanceM: number; fareFen: number } {
  const a = suburbanStation(rail, fromCode);
  const b = suburbanStation(rail, toCode);
  if (!a) throw new RangeError(`unknown suburban station code ${fromCode}`);
  if (!b) throw new RangeError(`unknown suburban station code ${toCode}`);
  const distanceM = Math.abs(a.positionM - b.positionM);
  return { distanceM, fareFen: distanceBandFareFen(rail.fare, distanceM) };
}

/** Highest fare from a station (settles an entry that never exited) [P]. */
export function suburbanMaxFareFromFen(rail: SuburbanRail, fromCode: number): number {
  let max = 0;
  for (const s of rail.stations) max = Math.max(max, suburbanFareFen(rail, fromCode, s.code).fareFen);
  return max;
}
