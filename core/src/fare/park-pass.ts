/**
 * Park annual pass (DOMAIN.md section 4) [S F12-F14]: pass year Y is valid from Y-01-01 to
 * (Y+1)-01-31 inclusive; each entry is counted; the municipal parks below are covered (the
 * year's notice may add district parks: configurable). Anti-passback: the same card cannot
 * enter the same park again within a window (default 10 minutes) [P].
 * The card holds two pass records [previous, current] for the January overlap [P]; at a gate
 * the valid pass with the higher year is used and counted.
 */
import type { ParkPassRecord } from '../card/card-image.ts';

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
