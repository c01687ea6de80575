/**
 * P+R car parks (DOMAIN.md section 4): entry and exit taps. The preferential rate applies when
 * the card shows a subway or bus tap during the stay (trip.lastTransitTime between entry and
 * exit); otherwise the lot's rate per started hour, capped per calendar day. Real prices are
 * not published [U]; defaults 2 yuan per stay vs 5 yuan per started hour, 30 yuan per day [P].
 *
 * Hour and day rule [P]: hour k of the stay starts at entry + k hours; each started hour is
 * charged to the Beijing calendar day in which it starts; each day's total is capped. The cap
 * also spans several stays on one day: the card keeps the day and the amount already charged.
 */
import { beijingDayNumber, ymdFromDayNumber } from './time.ts';

export interface ParkAndRideLot {
  lotId: number;
  name: string;
  preferentialFen: number;
  hourlyFen: number;
  dailyCapFen: number;
  /** Reference data (data/pr-lots.ts), absent in bundles published before it and not used to price: the nearest station (absent when unknown). */
  nearestStation?: string;
  /** Number of bays, null when no source gives it. */
  bays?: number | null;
  /** True for a lot made up for the demo and tests. */
  placeholder?: boolean;
  /** Where the lot's name and numbers come from. */
  source?: string;
}

const HOUR_MS = 60 * 60 * 1000;
/** A stay longer than this is charged as this many hours (bounded loop; a year of parking). */
export const MAX_PARKING_HOURS = 366 * 24;

export function validateParkAndRideLot(lot: ParkAndRideLot): void {
  if (!Number.isInteger(lot.lotId) || lot.lotId < 1 || lot.lotId > 0xffff) throw new RangeError(`lot ${lot.name}: id must be 1..65535`);
  for (const v of [lot.preferentialFen, lot.hourlyFen, lot.dailyCapFen]) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`lot ${lot.name}: amounts must be integer fen >= 0`);
  }
  if (lot.bays !== undefined && lot.bays !== null && (!Number.isSafeInteger(lot.bays) || lot.bays < 0))
    throw new RangeError(`lot ${lot.name}: bays must be a whole number >= 0 (or null when unknown)`);
  if (lot.source !== undefined && lot.source.trim() === '') throw new RangeError(`lot ${lot.name}: source must say where the lot comes from`);
}

export interface ParkingCharge {
  chargeFen: number;
  preferential: boolean;
  /** Day (YYYYMMDD) of the exit and what the card has been charged that day after this exit. */
  exitDay: number;
  exitDayChargedFen: number;
}

/**
 * @param entryMs, exitMs stay bounds (epoch ms)
 * @param lastTransitMs last subway/bus tap on the card (epoch ms, 0 = none)
 * @param cardDay, cardDayChargedFen what the card already shows charged on that day (YYYYMMDD)
 */
export function parkingChargeFen(
  lot: ParkAndRideLot,
  entryMs: number,
  exitMs: number,
  lastTransitMs: number,
  cardDay: number,
  cardDayChargedFen: number,
): ParkingCharge {
  const exitDayNumber = beijingDayNumber(exitMs);
  const exitDay = ymdFromDayNumber(exitDayNumber);
  const alreadyOnExitDay = cardDay === exitDay ? cardDayChargedFen : 0;
  if (lastTransitMs > 0 && lastTransitMs >= entryMs && lastTransitMs <= exitMs) {
    return { chargeFen: lot.preferentialFen, preferential: true, exitDay, exitDayChargedFen: alreadyOnExitDay + lot.preferentialFen };
  }
  const stayMs = Math.max(0, exitMs - entryMs);
  const hours = Math.min(MAX_PARKING_HOURS, Math.max(1, Math.ceil(stayMs / HOUR_MS)));
  let total = 0;
  let dayNumber = beijingDayNumber(entryMs);
  let dayTotal = 0;
  const capFor = (d: number): number => Math.max(0, lot.dailyCapFen - (ymdFromDayNumber(d) === cardDay ? cardDayChargedFen : 0));
  let cap = capFor(dayNumber);
  for (let k = 0; k < hours; k++) {
    const d = beijingDayNumber(entryMs + k * HOUR_MS);
    if (d !== dayNumber) {
      total += dayTotal;
      dayNumber = d;
      dayTotal = 0;
      cap = capFor(d);
    }
    dayTotal = Math.min(cap, dayTotal + lot.hourlyFen);
  }
  total += dayTotal;
  const exitDayCharged = dayNumber === exitDayNumber ? alreadyOnExitDay + dayTotal : alreadyOnExitDay;
  return { chargeFen: total, preferential: false, exitDay, exitDayChargedFen: exitDayCharged };
}
