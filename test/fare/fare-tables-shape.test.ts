/**
 * The fare-tables decoder refuses every mistyped or missing field (fare-tables-shape.ts) with a
 * FareTablesFormatError, before anything is built: a bundle published by an operator reaches
 * every validator, and a field that slipped through would price taps with NaN or switch a rule
 * off. Exhaustive over the default bundle: every leaf replaced by a value of another JSON type,
 * every member removed.
 */
import { describe, expect, it } from 'vitest';
import { FareTablesFormatError, defaultFareTablesSpec, encodeFareTablesJson, parseFareTablesJson } from '#core';
import { fareTablesSpecShapeProblems } from '#core/fare/fare-tables-shape';
import { SUBWAY_CSV } from './subway-data.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const BASE = JSON.parse(encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 2, 1_000))) as { [key: string]: Json };

/** Every path to a leaf and to an object member (arrays: every element). */
function paths(value: Json, prefix: (string | number)[] = []): { leaves: (string | number)[][]; members: (string | number)[][] } {
  const out = { leaves: [] as (string | number)[][], members: [] as (string | number)[][] };
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const inner = paths(v, [...prefix, i]);
      out.leaves.push(...inner.leaves);
      out.members.push(...inner.members);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.members.push([...prefix, k]);
      const inner = paths(v, [...prefix, k]);
      out.leaves.push(...inner.leaves);
      out.members.push(...inner.members);
    }
  } else {
    out.leaves.push(prefix);
  }
  return out;
}

function edited(path: (string | number)[], change: (parent: Record<string | number, Json>, key: string | number) => void): string {
  const copy = structuredClone(BASE) as Json;
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  change(parent, path[path.length - 1]);
  return JSON.stringify(copy);
}

function otherType(value: Json): Json {
  return typeof value === 'string' ? 7 : 'x';
}

describe('fare-tables decoder: shape', () => {
  it('the default bundle has no problems and decodes', () => {
    expect(fareTablesSpecShapeProblems(BASE)).toEqual([]);
    expect(parseFareTablesJson(JSON.stringify(BASE)).version).toBe(2);
  });

  const { leaves, members } = paths(BASE);

  it(`every leaf (${leaves.length}) of another JSON type is refused with FareTablesFormatError`, () => {
    expect(leaves.length).toBeGreaterThan(100);
    for (const path of leaves) {
      const json = edited(path, (parent, key) => {
        parent[key] = otherType(parent[key]);
      });
      expect(() => parseFareTablesJson(json), path.join('.')).toThrow(FareTablesFormatError);
    }
  });

  /**
   * The optional members: busPolicy.maxRideMs, and the fields bundles published before them lack
   * (the early-entry boundary and the yearly working-day calendar): absent, they read as the old
   * behaviour.
   */
  const OPTIONAL_FIXED = ['busPolicy.maxRideMs', 'subwayPolicy.earlyEntry.boundaryCounts', 'subwayPolicy.calendar.years'];
  /** And every P+R lot's reference data (data/pr-lots.ts). */
  const OPTIONAL_LOT = /^parkAndRideLots\.\d+\.(nearestStation|bays|placeholder|source)$/;
  const OPTIONAL = members.map((p) => p.join('.')).filter((p) => OPTIONAL_FIXED.includes(p) || OPTIONAL_LOT.test(p));

  it(`every member removed is refused (the only optional ones are ${OPTIONAL_FIXED.join(', ')} and the lots' reference data)`, () => {
    let optional = 0;
    for (const path of members) {
      if (typeof path[path.length - 1] !== 'string') continue;
      const json = edited(path, (parent, key) => {
        delete parent[key];
      });
      if (OPTIONAL.includes(path.join('.'))) {
        optional++;
        const spec = parseFareTablesJson(json).spec;
        const read = path.reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], spec);
        expect(read, path.join('.')).toBeUndefined();
        continue;
      }
      expect(() => parseFareTablesJson(json), path.join('.')).toThrow(FareTablesFormatError);
    }
    expect(optional).toBe(OPTIONAL.length);
    expect(OPTIONAL.length).toBeGreaterThan(OPTIONAL_FIXED.length + 4 * 4);
  });

  it('ranges no rule validator checks: percentages, negative times and amounts, minute of the day, calendar dates', () => {
    const cases: Array<[(string | number)[], Json]> = [
      [['busPolicy', 'profilePercent', 'student'], 101],
      [['busPolicy', 'retapGuardMs'], -1],
      [['busPolicy', 'minBoardingBalanceFen'], -100],
      [['parkPolicy', 'antiPassbackMs'], -1],
      [['subwayPolicy', 'earlyEntry', 'beforeMinutesOfDay'], 1_441],
      [['subwayPolicy', 'earlyEntry', 'percent'], -5],
      [['subwayPolicy', 'calendar', 'holidays'], [20261301 - 100_000_000]],
      [['subwayPolicy', 'calendar', 'years', 0, 'year'], 99_999],
      [['suburban', 'staleEntryMs'], -1],
      [['subwayPolicy', 'main', 'bands', 0, 'upToM'], Number.NaN as unknown as Json],
    ];
    for (const [path, value] of cases) {
      const json = edited(path, (parent, key) => {
        parent[key] = value;
      });
      expect(() => parseFareTablesJson(json), path.join('.')).toThrow(FareTablesFormatError);
    }
  });
});
