/**
 * Park annual pass (DOMAIN.md section 4) [S F12-F14]: pass year Y is valid from Y-01-01 to
 * (Y+1)-01-31 inclusive; each entry is counted; the municipal parks below are covered (the
 * year's notice may add district parks: configurable). Anti-passback: the same card cannot
 * enter the same park again within a window (default 10 minutes) [P].
 * The card holds two pass records [previous, current] for the January overlap [P]; at a gate
 * the valid pass with the higher year is used and counted.
 */
import type { ParkPassRecord } from '../card/card-image.ts';
import { beijingDateTime } from './time.ts';

export interface Park {
  parkId: number;
  name: string;
  /** Entry with a valid annual pass. */
  coveredByPass: boolean;
  /** Single ticket charged from the purse when there is no valid pass (null = refuse). */
  singleTicketFen: number | null;
}

export interface ParkPolicy {
  antiPassbackMs: number;
}

export const DEFAULT_PARK_POLICY: ParkPolicy = { antiPassbackMs: 10 * 60 * 1000 };

/**
 * The 11 municipal parks of the annual pass (DOMAIN.md section 4). Ids are project-assigned
 * [P]. Single-ticket prices are not configured (null: no pass, no entry at these gates).
 */
export const MUNICIPAL_PARKS: Park[] = [
  { parkId: 1, name: '颐和园', coveredByPass: true, singleTicketFen: null },
  { parkId: 2, name: '天坛公园', coveredByPass: true, singleTicketFen: null },
  { parkId: 3, name: '中山公园', coveredByPass: true, singleTicketFen: null },
  { parkId: 4, name: '北海公园', coveredByPass: true, singleTicketFen: null },
  { parkId: 5, name: '景山公园', coveredByPass: true, singleTicketFen: null },
  { parkId: 6, name: '陶然亭公园', coveredByPass: true, singleTicketFen: null },
  { parkId: 7, name: '北京动物园', coveredByPass: true, singleTicketFen: null },
  { parkId: 8, name: '香山公园', coveredByPass: true, singleTicketFen: null },
  { parkId: 9, name: '紫竹院公园', coveredByPass: true, singleTicketFen: null },
  { parkId: 10, name: '北京植物园', coveredByPass: true, singleTicketFen: null },
  { parkId: 11, name: '玉渊潭公园', coveredByPass: true, singleTicketFen: null },
];

/** EXAMPLE DATA, MADE UP by this project: a park outside the pass with a single ticket, for tests and the demo. */
export const EXAMPLE_TICKETED_PARK: Park = { parkId: 101, name: '示例收费公园 (example, made up)', coveredByPass: false, singleTicketFen: 1_000 };

export function validatePark(park: Park): void {
  if (!Number.isInteger(park.parkId) || park.parkId < 1 || park.parkId > 0xffff) throw new RangeError(`park ${park.name}: id must be 1..65535`);
  if (park.singleTicketFen !== null && (!Number.isSafeInteger(park.singleTicketFen) || park.singleTicketFen < 0))
    throw new RangeError(`park ${park.name}: ticket must be integer fen >= 0`);
}

/** True when a pass of year `passYear` is valid on date YYYYMMDD: Y-01-01 ..(Y+1)-01-31. */
export function isParkPassValidOn(passYear: number, ymd: number): boolean {
  if (passYear <= 0) return false;
  return ymd >= passYear * 10000 + 101 && ymd <= (passYear + 1) * 10000 + 131;
}

/** Slot (0 previous, 1 current) of the valid pass to use today, or -1. Higher year wins. */
export function validParkPassSlot(passes: readonly [ParkPassRecord, ParkPassRecord], ymd: number): -1 | 0 | 1 {
  let best: -1 | 0 | 1 = -1;
  for (const slot of [0, 1] as const) {
    if (!isParkPassValidOn(passes[slot].year, ymd)) continue;
    if (best === -1 || passes[slot].year > passes[best].year) best = slot;
  }
  return best;
}

/**
 * One pass year as data (data/park-pass-years.ts): when it is sold, where all year, which parks
 * it covers and who may buy it. Dates YYYYMMDD, Beijing, both ends included.
 */
export interface ParkPassYear {
  /** The pass year: valid year-01-01 .. (year+1)-01-31. */
  year: number;
  saleFrom: number;
  saleUntil: number;
  /** Sale points that sell this year's pass all year (the year's own calendar year outside the window). */
  yearRoundSalePoints: string[];
  /** Parks covered (Park.parkId). */
  parkIds: number[];
  /** Who may buy it [U]; only 'anyone' until holder records exist. */
  eligibility: 'anyone';
  /** True while the year's sale notice is not in the data (the window and parks repeat the last known). */
  provisional: boolean;
  source: string;
}

function ymdText(ymd: number): string {
  const s = String(ymd);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
}

export function validateParkPassYears(years: readonly ParkPassYear[]): void {
  const seen = new Set<number>();
  for (const y of years) {
    if (!Number.isSafeInteger(y.year) || y.year < 2000 || y.year > 9998) throw new RangeError(`park pass year ${y.year}: must be 2000..9998`);
    if (seen.has(y.year)) throw new RangeError(`park pass year ${y.year}: listed twice`);
    seen.add(y.year);
    if (!(y.saleFrom <= y.saleUntil)) throw new RangeError(`park pass ${y.year}: sale from ${y.saleFrom} is after sale until ${y.saleUntil}`);
    if (y.saleUntil > (y.year + 1) * 10_000 + 131) throw new RangeError(`park pass ${y.year}: sold after the pass has expired`);
    if (new Set(y.parkIds).size !== y.parkIds.length) throw new RangeError(`park pass ${y.year}: a park is listed twice`);
    if (y.eligibility !== 'anyone') throw new RangeError(`park pass ${y.year}: eligibility must be 'anyone' (other rules need holder records)`);
    if (y.source.trim() === '') throw new RangeError(`park pass ${y.year}: source missing`);
  }
}

export type ParkPassOnSale = { ok: true; year: ParkPassYear } | { ok: false; reason: string };

/**
 * The pass year on sale at `nowMs` (Beijing date): the year whose window contains today; at a
 * year-round sale point, outside every window, this calendar year's pass. Otherwise a reason
 * naming the next (or last) window.
 */
export function parkPassOnSale(years: readonly ParkPassYear[], nowMs: number, salePoint: string | null = null): ParkPassOnSale {
  const today = beijingDateTime(nowMs).date;
  const inWindow = years.find((y) => today >= y.saleFrom && today <= y.saleUntil);
  if (inWindow) return { ok: true, year: inWindow };
  if (salePoint !== null) {
    const thisYear = years.find((y) => y.year === Math.floor(today / 10_000) && y.yearRoundSalePoints.includes(salePoint));
    if (thisYear) return { ok: true, year: thisYear };
  }
  const next = years.filter((y) => y.saleFrom > today).sort((a, b) => a.saleFrom - b.saleFrom)[0];
  if (next)
    return {
      ok: false,
      reason: `park passes are not on sale on ${ymdText(today)} (Beijing time): the ${next.year} pass is sold from ${ymdText(next.saleFrom)} to ${ymdText(next.saleUntil)}`,
    };
  const last = [...years].sort((a, b) => b.saleUntil - a.saleUntil)[0];
  return {
    ok: false,
    reason: last
      ? `park passes are not on sale on ${ymdText(today)} (Beijing time): the ${last.year} pass was sold until ${ymdText(last.saleUntil)} and no later year is configured`
      : 'no park pass year is configured',
  };
}
