/**
 * Field-by-field shape check of a fare-tables spec decoded from JSON, before it is built.
 *
 * The rule validators (validateDistanceBandRule, validateSubwayFarePolicy, ...) check the rules
 * of well-typed data; JSON can carry anything, and a field that is missing or of the wrong type
 * would slip past a comparison (`undefined < 0` is false) and surface at a gate as a NaN fare or
 * a switched-off rule. Fare tables travel from an operator's upload to every validator, so the
 * decoder (parseFareTablesJson) refuses such a bundle whole, naming the first problems.
 * Types (integers where the engine counts fen, percent, ms or ids; finite numbers for metres),
 * and the ranges no rule validator checks (percentages, non-negative times and amounts, the
 * minute of the day, calendar dates); the other ranges stay with the rule validators.
 */
const MAX_PROBLEMS = 10;

type Check = (value: unknown, at: string, problems: string[]) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const int =
  (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Check =>
  (value, at, problems) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) problems.push(`${at}: must be an integer`);
    else if (value < min || value > max) problems.push(`${at}: must be ${min}..${max}`);
  };
const integer = int();
/** Fen, milliseconds: integers >= 0. */
const amount = int(0);
const percent = int(0, 100);
/** YYYYMMDD. */
const ymd = int(19_000_101, 29_991_231);
/** Metres: any finite number (the rule validators order them). */
const metres: Check = (value, at, problems) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) problems.push(`${at}: must be a number of metres`);
};
const text: Check = (value, at, problems) => {
  if (typeof value !== 'string') problems.push(`${at}: must be a string`);
};
const boolean: Check = (value, at, problems) => {
  if (typeof value !== 'boolean') problems.push(`${at}: must be true or false`);
};
const nullOr =
  (check: Check): Check =>
  (value, at, problems) => {
    if (value !== null) check(value, at, problems);
  };
const oneOf =
  (...allowed: string[]): Check =>
  (value, at, problems) => {
    if (typeof value !== 'string' || !allowed.includes(value)) problems.push(`${at}: must be one of ${allowed.join(', ')}`);
  };
const arrayOf =
  (check: Check): Check =>
  (value, at, problems) => {
    if (!Array.isArray(value)) {
      problems.push(`${at}: must be an array`);
      return;
    }
    for (let i = 0; i < value.length && problems.length < MAX_PROBLEMS; i++) check(value[i], `${at}[${i}]`, problems);
  };
/** An object with these fields (a field whose name ends in '?' may be absent). */
const object =
  (fields: Record<string, Check>): Check =>
  (value, at, problems) => {
    if (!isRecord(value)) {
      problems.push(`${at}: must be an object`);
      return;
    }
    for (const [key, check] of Object.entries(fields)) {
      if (problems.length >= MAX_PROBLEMS) return;
      const optional = key.endsWith('?');
      const name = optional ? key.slice(0, -1) : key;
      if (!(name in value) || value[name] === undefined) {
        if (!optional) problems.push(`${at}.${name}: missing`);
        continue;
      }
      check(value[name], `${at}.${name}`, problems);
    }
  };

const distanceBandRule = object({
  bands: arrayOf(object({ upToM: metres, fareFen: integer })),
  stepM: metres,
  stepFen: integer,
  graceM: metres,
});

const subwayPolicy = object({
  main: distanceBandRule,
  special: arrayOf(object({ line: text, kind: oneOf('flat', 'distance'), flatFareFen: integer, distanceRule: nullOr(distanceBandRule) })),
  monthlyLadder: arrayOf(object({ fromSpendFen: amount, percent })),
  maxTimeInSystemMs: amount,
  overtimeFen: amount,
  minEntryBalanceFen: amount,
  sameStationFreeExitMs: amount,
  staleEntryMs: amount,
  // boundaryCounts and calendar.years are absent in bundles published before them (read as false / none).
  earlyEntry: object({ enabled: boolean, stations: arrayOf(text), beforeMinutesOfDay: int(0, 1_440), 'boundaryCounts?': boolean, percent }),
  calendar: object({
    holidays: arrayOf(ymd),
    workdays: arrayOf(ymd),
    'years?': arrayOf(object({ year: int(1_900, 9_999), holidays: arrayOf(ymd), workdays: arrayOf(ymd), provisional: boolean, source: text })),
  }),
});

const busPolicy = object({
  segmented: distanceBandRule,
  profilePercent: object({ adult: percent, student: percent, senior: percent }),
  minBoardingBalanceFen: amount,
  retapGuardMs: amount,
  'maxRideMs?': integer,
});

const busLine = object({
  lineId: integer,
  name: text,
  kind: oneOf('flat', 'segmented'),
  flatFareFen: integer,
  stops: arrayOf(text),
  stopPositionsM: arrayOf(metres),
});

const suburban = object({
  stations: arrayOf(object({ code: integer, name: text, positionM: metres })),
  fare: distanceBandRule,
  minEntryBalanceFen: amount,
  staleEntryMs: amount,
  sameStationFreeExitMs: amount,
});

const specShape = object({
  version: integer,
  effectiveFromMs: integer,
  subwayCsv: text,
  subwayPolicy,
  busPolicy,
  busLines: arrayOf(busLine),
  suburban,
  // The reference fields (data/pr-lots.ts) are absent in bundles published before them.
  parkAndRideLots: arrayOf(
    object({
      lotId: integer,
      name: text,
      preferentialFen: integer,
      hourlyFen: integer,
      dailyCapFen: integer,
      'nearestStation?': text,
      'bays?': nullOr(amount),
      'placeholder?': boolean,
      'source?': text,
    }),
  ),
  parkPolicy: object({ antiPassbackMs: amount }),
  parks: arrayOf(object({ parkId: integer, name: text, coveredByPass: boolean, singleTicketFen: nullOr(integer) })),
  // Absent in bundles published before it (split by the 2026 default).
  'revenueSplit?': object({
    operators: arrayOf(object({ id: text, name: text, kind: oneOf('rail', 'bus', 'park-and-ride', 'suburban'), placeholder: boolean, source: text })),
    subwayLines: arrayOf(object({ line: text, operatorId: text, source: text })),
    busLines: arrayOf(object({ lineId: integer, operatorId: text })),
    parkAndRideLots: arrayOf(object({ lotId: integer, operatorId: text })),
    defaults: object({ busOperatorId: text, parkAndRideOperatorId: text, suburbanOperatorId: text }),
  }),
});

/** The first problems of `value` as a FareTablesSpec (empty when every field has its type). */
export function fareTablesSpecShapeProblems(value: unknown): string[] {
  const problems: string[] = [];
  specShape(value, 'fare tables', problems);
  return problems.slice(0, MAX_PROBLEMS);
}
