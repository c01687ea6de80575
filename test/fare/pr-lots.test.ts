/**
 * P+R lots as reference data (core/src/fare/data/pr-lots.ts): only the lots a public source
 * names, each with its source; the demo's placeholder lots keep their ids; the lots travel in the
 * default fare tables and the decoder checks their reference fields.
 */
import { describe, expect, it } from 'vitest';
import {
  defaultFareTablesSpec,
  encodeFareTablesJson,
  EXAMPLE_PARK_AND_RIDE_LOTS,
  FareTablesFormatError,
  MANUAL_PARK_AND_RIDE_LOT_COUNT,
  PARK_AND_RIDE_LOTS,
  parkingChargeFen,
  parseFareTablesJson,
  SOURCED_PARK_AND_RIDE_LOTS,
  stationCode,
} from '#core';
import { SUBWAY_CSV } from './subway-data.ts';

const tables = parseFareTablesJson(encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 2, 0)));

describe('P+R lot data', () => {
  it('ships the sourced lots (天通苑北 with 436 bays, the lot near 回龙观 on line 13), each with its source', () => {
    expect(SOURCED_PARK_AND_RIDE_LOTS.map((l) => [l.lotId, l.nearestStation, l.bays, l.placeholder])).toEqual([
      [4, '天通苑北', 436, false],
      [5, '回龙观', null, false],
    ]);
    for (const lot of PARK_AND_RIDE_LOTS) expect(lot.source?.length ?? 0, lot.name).toBeGreaterThan(20);
    expect(SOURCED_PARK_AND_RIDE_LOTS[0].source).toContain('horoad.com');
    // Their stations exist in the real network.
    for (const lot of SOURCED_PARK_AND_RIDE_LOTS) expect(stationCode(tables.subway, lot.nearestStation!)).toBeGreaterThan(0);
    expect(PARK_AND_RIDE_LOTS.length).toBeLessThanOrEqual(MANUAL_PARK_AND_RIDE_LOT_COUNT);
    expect(MANUAL_PARK_AND_RIDE_LOT_COUNT).toBe(38);
  });

  it('the demo placeholders keep ids 1-3 and say they are made up', () => {
    expect(EXAMPLE_PARK_AND_RIDE_LOTS.map((l) => [l.lotId, l.placeholder])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    for (const lot of EXAMPLE_PARK_AND_RIDE_LOTS) expect(lot.source).toMatch(/PLACEHOLDER/);
    // Sourced lots are never placeholders, and no id is used twice.
    expect(new Set(PARK_AND_RIDE_LOTS.map((l) => l.lotId)).size).toBe(PARK_AND_RIDE_LOTS.length);
  });

  it('travel in the default fare tables: a gate configured with lot 4 prices a stay there', () => {
    expect([...tables.lotById.keys()]).toEqual([1, 2, 3, 4, 5]);
    const lot = tables.lotById.get(4)!;
    expect(lot).toMatchObject({ name: '天通苑北 P+R', bays: 436 });
    const entry = Date.UTC(2026, 10, 25, 0, 0);
    expect(parkingChargeFen(lot, entry, entry + 9 * 3_600_000, entry + 3_600_000, 0, 0)).toMatchObject({ chargeFen: 200, preferential: true });
  });

  it('a bundle without the reference fields (published before them) still decodes', () => {
    const old = JSON.parse(encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 2, 0)));
    for (const lot of old.parkAndRideLots) {
      delete lot.nearestStation;
      delete lot.bays;
      delete lot.placeholder;
      delete lot.source;
    }
    expect(parseFareTablesJson(JSON.stringify(old)).lotById.get(4)?.source).toBeUndefined();
  });

  it('bad reference data is refused', () => {
    for (const [edit, message] of [
      [(lot: Record<string, unknown>) => (lot.bays = -1), /parkAndRideLots\[3\]\.bays/],
      [(lot: Record<string, unknown>) => (lot.bays = 4.5), /parkAndRideLots\[3\]\.bays/],
      [(lot: Record<string, unknown>) => (lot.source = ' '), /source must say/],
      [(lot: Record<string, unknown>) => (lot.nearestStation = null), /nearestStation/],
    ] as const) {
      const json = JSON.parse(encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 2, 0)));
      edit(json.parkAndRideLots[3]);
      expect(() => parseFareTablesJson(JSON.stringify(json))).toThrow(FareTablesFormatError);
      expect(() => parseFareTablesJson(JSON.stringify(json))).toThrow(message);
    }
  });
});
