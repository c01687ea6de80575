/**
 * The fare of one subway journey with every rule of DOMAIN.md section 4 applied: distance
 * fare (table lookup), weekday early-entry discount, monthly rail-spend ladder, overtime.
 *
 * Combination [P]:
 * - discounts multiply: charged journey fare = floor(fare × early% × ladder% / 10000)
 *   (one rounding, floor, see rounding.ts), e.g. early 50% at ladder 80% pays 40%;
 * - the overtime fare (+3 yuan over 4 hours) is a penalty added in full after the discounts;
 * - the ladder is judged on the month's spend before this trip, and the spend counted is what
 *   the card actually paid (the whole charge, overtime included), in the natural month (Beijing
 *   time) of the exit;
 * - same-station exit within the policy's window is free (0) and not counted in the spend.
 */
import { applyTwoPercentsFen } from './rounding.ts';
import { isWorkingDay, monthlyLadderPercent } from './subway-fare-policy.ts';
import { quoteSubwayFareByCode, type SubwayNetwork } from './subway-network.ts';
import { beijingDateTime } from './time.ts';

export interface SubwayTripInput {
  entryCode: number;
  exitCode: number;
  entryTimeMs: number;
  exitTimeMs: number;
  /** Month (YYYYMM) and spend recorded on the card. */
  cardMonthKey: number;
  cardMonthSpendFen: number;
  /** Beijing's monthly ladder applies (default true; false for another issuer's card, issue 18). */
  monthlyLadder?: boolean;
  /** The weekday early-entry discount applies (default true; false for another issuer's card unless its policy grants it). */
  earlyEntry?: boolean;
}

export interface SubwayTripFare {
  distanceM: number;
  /** Undiscounted fare: distance fare + overtime. */
  fareFen: number;
  overtimeFen: number;
  earlyPercent: number;
  ladderPercent: number;
  /** What the card pays. */
  chargeFen: number;
  /** fareFen - chargeFen. */
  discountFen: number;
  sameStationFree: boolean;
  /** Month and spend to write back on the card. */
  monthKey: number;
  monthSpendAfterFen: number;
}

export function earlyEntryApplies(network: SubwayNetwork, entryCode: number, entryTimeMs: number): boolean {
  const early = network.policy.earlyEntry;
  if (!early.enabled || network.earlyEntryStation[entryCode] !== 1) return false;
  const t = beijingDateTime(entryTimeMs);
  // Strictly before the minute; at its first second (07:00:00) only when the policy says so [U].
  const seconds = t.minutesOfDay * 60 + (t.time % 100);
  const limit = early.beforeMinutesOfDay * 60;
  const inTime = early.boundaryCounts === true ? seconds <= limit : seconds < limit;
  return inTime && isWorkingDay(network.policy.calendar, t.date, t.weekday);
}

export function priceSubwayTrip(network: SubwayNetwork, input: SubwayTripInput): SubwayTripFare {
  const policy = network.policy;
  const quote = quoteSubwayFareByCode(network, input.entryCode, input.exitCode);
  const month = beijingDateTime(input.exitTimeMs).month;
  const spendBefore = input.cardMonthKey === month ? input.cardMonthSpendFen : 0;
  const elapsedMs = input.exitTimeMs - input.entryTimeMs;
  if (input.entryCode === input.exitCode && elapsedMs <= policy.sameStationFreeExitMs) {
    return {
      distanceM: 0,
      fareFen: 0,
      overtimeFen: 0,
      earlyPercent: 100,
      ladderPercent: 100,
      chargeFen: 0,
      discountFen: 0,
      sameStationFree: true,
      monthKey: month,
      monthSpendAfterFen: spendBefore,
    };
  }
  const overtimeFen = elapsedMs > policy.maxTimeInSystemMs ? policy.overtimeFen : 0;
  const earlyPercent = input.earlyEntry !== false && earlyEntryApplies(network, input.entryCode, input.entryTimeMs) ? policy.earlyEntry.percent : 100;
  const ladderPercent = input.monthlyLadder === false ? 100 : monthlyLadderPercent(policy.monthlyLadder, spendBefore);
  const journeyCharge = applyTwoPercentsFen(quote.fareFen, earlyPercent, ladderPercent);
  const fareFen = quote.fareFen + overtimeFen;
  const chargeFen = journeyCharge + overtimeFen;
  return {
    distanceM: quote.distanceM,
    fareFen,
    overtimeFen,
    earlyPercent,
    ladderPercent,
    chargeFen,
    discountFen: fareFen - chargeFen,
    sameStationFree: false,
    monthKey: month,
    monthSpendAfterFen: spendBefore + chargeFen,
  };
}
