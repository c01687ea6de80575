/**
 * The tap decision: pure and synchronous (ARCHITECTURE habit 1). Given the card as read, the
 * device, the prefetched blacklist answer, the fare tables and the time, it says what the gate
 * does, what to charge and what to write on the card. It touches no card and no PSAM:
 * executeTap carries the decision out.
 *
 * Policies decided here [P] (DOMAIN.md section 4 leaves them open):
 * - Locking: a final blacklisting (FINAL_BLACKLIST_REASONS) locks the card; a temporary loss is
 *   refused without locking; a locked card is refused everywhere.
 * - Expiry is checked everywhere except at exits, a bus tap-off counting as one (a journey begun validly
 *   may end).
 * - Subway entry with an open subway entry: younger than staleEntryMs (4 h) → ALREADY_ENTERED
 *   (the rider goes to the service desk or an exit gate); older → the old journey is settled at
 *   this entry at the maximum fare from its entry station, undiscounted, and the new entry is
 *   written in the same purchase. The same applies to any unfinished journey of another mode
 *   met at an entry or boarding: an open bus tap-on is settled at its mark amount
 *   (undiscounted) [S F10], an open subway or suburban entry at the maximum fare from its
 *   station (the rail analogue of the mark amount). P+R and park gates never touch journeys.
 * - Subway exit without a subway entry → NO_ENTRY_RECORD: refused, the service desk settles
 *   (charging a fare automatically would guess the entry station).
 * - Exit fare beyond the overdraft floor (effective balance − charge < −overdraftLimit) →
 *   INSUFFICIENT_BALANCE at the exit: the card cannot debit past its floor, so the rider tops
 *   up at the service desk and taps again; the journey stays open on the card, so nothing is
 *   lost (the decision carries the full fare and the shortfall).
 * - Minimum balance: subway 3 yuan, bus 1 yuan on the effective balance, after settling any
 *   unfinished journey; a negative effective balance is refused at every entry/boarding/P+R
 *   entry/park ticket. Bus riders who pay 0% (seniors) need no minimum but not a negative card.
 * - Bus double tap at the boarding stop within retapGuardMs → ALREADY_ENTERED. A tap on the
 *   boarded segmented line is its tap-off only within maxRideMs (4 h) of boarding; later it is a
 *   new boarding that settles the old mark amount first.
 * - P+R entry with an open stay → ALREADY_ENTERED (the attendant settles); exit at a lot that
 *   is not the entry lot → NO_ENTRY_RECORD.
 * - Park single tickets are paid from the purse without overdraft (effective balance ≥ ticket).
 * - lastTransitTime (P+R evidence) is set by every accepted subway or bus tap, entries included.
 *
 * Other issuers' cards (issue 18, DOMAIN.md section 8) [S C2 cpucard.c; P where marked]:
 * - The prefetched issuer verdict comes first: a card of an issuer that is not on the device's
 *   allow-list is refused (ISSUER_NOT_ACCEPTED) before anything else is judged.
 * - A foreign card is never locked (locking needs its issuer's maintenance key): a blacklisted
 *   one (the national blocklist or any other reason) is refused with BLACKLISTED.
 * - Beijing fares; the issuer's policy record decides the discounts (monthly ladder, bus card
 *   discount, early-entry discount: each off unless the record says so) and the overdraft (the
 *   smaller of the card's own limit and the record's, default 0). A card holding more than the
 *   record's maximum balance, or a charge above its maximum debit, is refused
 *   (ISSUER_LIMIT_EXCEEDED). Beijing's monthly spend on the card is left alone when the ladder
 *   does not apply (trips in Beijing do not count towards another city's ladder, nor ours).
 */
import { effectiveBalanceFen, type CardView, type ParkPassRecord, type TripRecord } from '../card/card-image.ts';
import { applyPercentFen } from '../fare/rounding.ts';
import { busMarkAmountFen, busMaxRideMs, busSegmentFareFen } from '../fare/bus-fare.ts';
import type { FareTables } from '../fare/fare-tables.ts';
import { parkingChargeFen } from '../fare/park-and-ride.ts';
import { validParkPassSlot } from '../fare/park-pass.ts';
import { suburbanFareFen, suburbanStation } from '../fare/suburban-fare.ts';
import { isStationCode } from '../fare/subway-network.ts';
import { priceSubwayTrip } from '../fare/subway-trip-fare.ts';
import { beijingDateTime } from '../fare/time.ts';
import { HOME_ISSUER_ID } from '../card/card-image.ts';
import { HOME_VERDICT, type IssuerPolicy, type IssuerVerdict, UNLISTED_VERDICT } from '../issuer/issuer-policy.ts';
import { FINAL_BLACKLIST_REASONS } from '../sync/sync-messages.ts';
import type { BlacklistAnswer, DeviceConfig } from './device-config.ts';
import { TAP_RESULT, TAP_RESULT_MESSAGE, type TapResultCode } from './result-codes.ts';

export interface TapInput {
  card: CardView;
  device: DeviceConfig;
  blacklist: BlacklistAnswer;
  fares: FareTables;
  nowMs: number;
  /**
   * What the device's issuer allow-list says about the card's issuer (prefetched, issue 18).
   * Absent: home when the card carries the home issuer id (HOME_ISSUER_ID), else unlisted.
   */
  issuer?: IssuerVerdict;
  /** Internal: the foreign card's policy record while its tap is decided (set by decideTap). */
  policy?: IssuerPolicy | null;
}

export interface ParkPassWrite {
  slot: 0 | 1;
  record: ParkPassRecord;
}

export interface TapDecision {
  resultCode: TapResultCode;
  accepted: boolean;
  /** What the card is debited (fen, ≥ 0; 0 for a zero-amount composite purchase). */
  chargeFen: number;
  /** Undiscounted fare of everything charged (settlement + this journey + overtime). */
  fareFen: number;
  /** fareFen − chargeFen. */
  discountFen: number;
  /** Part of fareFen/chargeFen settling an earlier unfinished journey (undiscounted). */
  settledFen: number;
  /** Refused for funds: how much the charge passes the overdraft floor / minimum balance. */
  shortfallFen: number;
  /** Trip record to commit with the debit (null: none, e.g. park visits and refusals). */
  newTrip: TripRecord | null;
  /** Park-pass record to commit with the debit at a park gate. */
  newParkPass: ParkPassWrite | null;
  /** Lock the card (APPLICATION BLOCK) before refusing. */
  lock: boolean;
  display: string;
}

function refuse(code: TapResultCode, lock = false, fareFen = 0, shortfallFen = 0): TapDecision {
  return {
    resultCode: code,
    accepted: false,
    chargeFen: 0,
    fareFen,
    discountFen: 0,
    settledFen: 0,
    shortfallFen,
    newTrip: null,
    newParkPass: null,
    lock,
    display: TAP_RESULT_MESSAGE[code],
  };
}

function fenText(amountFen: number): string {
  const sign = amountFen < 0 ? '-' : '';
  const abs = Math.abs(amountFen);
  const cents = abs % 100;
  return `${sign}${(abs - cents) / 100}.${cents < 10 ? '0' : ''}${cents}`;
}

function accept(
  code: TapResultCode,
  card: CardView,
  chargeFen: number,
  fareFen: number,
  settledFen: number,
  newTrip: TripRecord | null,
  newParkPass: ParkPassWrite | null,
): TapDecision {
  const after = effectiveBalanceFen(card) - chargeFen;
  return {
    resultCode: code,
    accepted: true,
    chargeFen,
    fareFen,
    discountFen: fareFen - chargeFen,
    settledFen,
    shortfallFen: 0,
    newTrip,
    newParkPass,
    lock: false,
    display: `${TAP_RESULT_MESSAGE[code]} 扣款 ${fenText(chargeFen)} 余额 ${fenText(after)}`,
  };
}

/** Charge beyond what the card can debit (balance + overdraft): the shortfall, else 0. */
function floorShortfall(card: CardView, chargeFen: number): number {
  const room = effectiveBalanceFen(card) + card.overdraftLimitFen;
  return chargeFen > room ? chargeFen - room : 0;
}

const isTransitDevice = (kind: DeviceConfig['kind']): boolean => kind !== 'park-gate';
const isExitDevice = (kind: DeviceConfig['kind']): boolean => kind === 'subway-exit' || kind === 'suburban-exit' || kind === 'pr-exit';

/**
 * True when this bus tap ends the ride the card boarded (same segmented line, inside the ride
 * window): an exit, so an expiry in between does not strand the ride open.
 */
function isBusTapOff(input: TapInput): boolean {
  const { card, device, fares, nowMs } = input;
  if (device.kind !== 'bus' || card.trip.journey !== 'bus' || card.trip.journeyLine !== device.busLine) return false;
  const line = fares.busLineById.get(device.busLine);
  return line !== undefined && line.kind === 'segmented' && nowMs - card.trip.journeyTime * 1000 <= busMaxRideMs(fares.spec.busPolicy);
}

/** An unfinished journey the next entry/boarding settles (undiscounted): amount and whether it was rail spend. */
function settlementOf(trip: TripRecord, fares: FareTables): { fen: number; subway: boolean } {
  switch (trip.journey) {
    case 'bus':
      return { fen: trip.journeyMarkFen, subway: false };
    case 'subway':
      return { fen: isStationCode(fares.subway, trip.journeyPlace) ? fares.subway.maxFareFromFen[trip.journeyPlace] : 0, subway: true };
    case 'suburban':
      return { fen: fares.suburbanMaxFareFromFen.get(trip.journeyPlace) ?? 0, subway: false };
    default:
      return { fen: 0, subway: false };
  }
}

/** Trip record with the journey closed (stable shape: every field copied). */
function closedTrip(trip: TripRecord, nowSec: number, transit: boolean): TripRecord {
  return {
    journey: 'none',
    journeyPlace: 0,
    journeyLine: 0,
    journeyTime: 0,
    journeyMarkFen: 0,
    journeyFareVersion: 0,
    parkingLot: trip.parkingLot,
    parkingEntryTime: trip.parkingEntryTime,
    parkingDay: trip.parkingDay,
    parkingDayChargedFen: trip.parkingDayChargedFen,
    lastTransitTime: transit ? nowSec : trip.lastTransitTime,
    monthKey: trip.monthKey,
    monthRailSpendFen: trip.monthRailSpendFen,
  };
}

/** Adds subway spend to the card's monthly ladder counter (new month restarts it). */
function addRailSpend(trip: TripRecord, month: number, spendFen: number): void {
  if (trip.monthKey !== month) {
    trip.monthKey = month;
    trip.monthRailSpendFen = 0;
  }
  trip.monthRailSpendFen += spendFen;
}

/** The verdict used when the caller prefetched none: the home issuer's own id, else unlisted. */
export function defaultIssuerVerdict(card: Pick<CardView, 'issuerId'>): IssuerVerdict {
  return card.issuerId === HOME_ISSUER_ID ? HOME_VERDICT : UNLISTED_VERDICT;
}

export function decideTap(input: TapInput): TapDecision {
  const { card, device, blacklist, nowMs } = input;
  const verdict = input.issuer ?? defaultIssuerVerdict(card);
  // 0. Another issuer's card whose issuer is not on the allow-list [S C2 step 3].
  if (verdict.kind === 'unlisted') return refuse(TAP_RESULT.ISSUER_NOT_ACCEPTED);
  const policy = verdict.kind === 'foreign' ? verdict.policy : null;
  // 1. Card-level checks, in precedence order. A foreign card is never locked [P].
  if (policy === null && blacklist.listed && FINAL_BLACKLIST_REASONS.has(blacklist.reason)) {
    return card.locked ? refuse(TAP_RESULT.CARD_LOCKED) : refuse(TAP_RESULT.BLACKLISTED_AND_LOCKED, true);
  }
  if (card.locked) return refuse(TAP_RESULT.CARD_LOCKED);
  if (blacklist.listed) return refuse(TAP_RESULT.BLACKLISTED);
  if (card.generation !== 3) return refuse(TAP_RESULT.WRONG_GENERATION);
  if (isTransitDevice(device.kind) && !card.transitOpened) return refuse(TAP_RESULT.TRANSIT_NOT_OPENED);
  if ((device.kind === 'suburban-entry' || device.kind === 'suburban-exit') && !card.suburbanOpened) return refuse(TAP_RESULT.FUNCTION_NOT_OPENED);
  const now = beijingDateTime(nowMs);
  if (now.date > card.expiryDate && !isExitDevice(device.kind) && !isBusTapOff(input)) return refuse(TAP_RESULT.CARD_EXPIRED);
  if (policy === null) return decideForDevice(input, now);

  // A foreign card: its issuer's limits and overdraft (issue 18).
  if (effectiveBalanceFen(card) > policy.maxBalanceFen) return refuse(TAP_RESULT.ISSUER_LIMIT_EXCEEDED);
  const overdraftLimitFen = Math.min(card.overdraftLimitFen, policy.overdraftLimitFen);
  const limited: TapInput = { ...input, card: overdraftLimitFen === card.overdraftLimitFen ? card : { ...card, overdraftLimitFen }, policy };
  const decision = decideForDevice(limited, now);
  if (decision.accepted && decision.chargeFen > policy.maxDebitFen) return refuse(TAP_RESULT.ISSUER_LIMIT_EXCEEDED, false, decision.fareFen);
  return decision;
}

function decideForDevice(input: TapInput, now: { date: number; month: number }): TapDecision {
  switch (input.device.kind) {
    case 'subway-entry':
      return subwayEntry(input, now.month);
    case 'subway-exit':
      return subwayExit(input);
    case 'bus':
      return busTap(input, now.month);
    case 'suburban-entry':
      return suburbanEntry(input, now.month);
    case 'suburban-exit':
      return suburbanExit(input);
    case 'pr-entry':
      return parkAndRideEntry(input);
    case 'pr-exit':
      return parkAndRideExit(input);
    case 'park-gate':
      return parkGate(input, now.date);
    default:
      throw new RangeError(`unknown device kind ${String((input.device as DeviceConfig).kind)}`);
  }
}

/** Beijing's monthly ladder counts this card's rail spend: home cards, and foreign ones whose policy says so. */
function ladderApplies(input: TapInput): boolean {
  return input.policy == null || input.policy.monthlyLadder;
}

/** Balance checks at an entry/boarding after settling `settledFen`; null when the card may go. */
function entryFundsRefusal(card: CardView, settledFen: number, minBalanceFen: number, chargeFen: number): TapDecision | null {
  const effective = effectiveBalanceFen(card);
  if (effective < 0) return refuse(TAP_RESULT.NEGATIVE_BALANCE, false, chargeFen);
  const short = Math.max(minBalanceFen - (effective - settledFen), floorShortfall(card, chargeFen));
  if (short > 0) return refuse(TAP_RESULT.INSUFFICIENT_BALANCE, false, chargeFen, short);
  return null;
}

function subwayEntry(input: TapInput, month: number): TapDecision {
  const { card, device, fares, nowMs } = input;
  if (!isStationCode(fares.subway, device.stationCode)) return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  const trip = card.trip;
  if (trip.journey === 'subway' && nowMs - trip.journeyTime * 1000 < fares.subway.policy.staleEntryMs) return refuse(TAP_RESULT.ALREADY_ENTERED);
  const settle = settlementOf(trip, fares);
  const refusal = entryFundsRefusal(card, settle.fen, fares.subway.policy.minEntryBalanceFen, settle.fen);
  if (refusal) return refusal;
  const nowSec = Math.floor(nowMs / 1000);
  const next = closedTrip(trip, nowSec, true);
  next.journey = 'subway';
  next.journeyPlace = device.stationCode;
  next.journeyTime = nowSec;
  next.journeyFareVersion = fares.version;
  if (settle.subway && settle.fen > 0 && ladderApplies(input)) addRailSpend(next, month, settle.fen);
  return accept(TAP_RESULT.ACCEPTED, card, settle.fen, settle.fen, settle.fen, next, null);
}

function subwayExit(input: TapInput): TapDecision {
  const { card, device, fares, nowMs } = input;
  if (!isStationCode(fares.subway, device.stationCode)) return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  const trip = card.trip;
  if (trip.journey !== 'subway' || !isStationCode(fares.subway, trip.journeyPlace)) return refuse(TAP_RESULT.NO_ENTRY_RECORD);
  const price = priceSubwayTrip(fares.subway, {
    entryCode: trip.journeyPlace,
    exitCode: device.stationCode,
    entryTimeMs: trip.journeyTime * 1000,
    exitTimeMs: nowMs,
    cardMonthKey: trip.monthKey,
    cardMonthSpendFen: trip.monthRailSpendFen,
    monthlyLadder: ladderApplies(input),
    earlyEntry: input.policy == null || input.policy.earlyEntryDiscount,
  });
  const short = floorShortfall(card, price.chargeFen);
  if (short > 0) return refuse(TAP_RESULT.INSUFFICIENT_BALANCE, false, price.fareFen, short);
  const next = closedTrip(trip, Math.floor(nowMs / 1000), true);
  if (ladderApplies(input)) {
    next.monthKey = price.monthKey;
    next.monthRailSpendFen = price.monthSpendAfterFen;
  }
  const code = price.overtimeFen > 0 ? TAP_RESULT.OVERTIME_CHARGED : TAP_RESULT.ACCEPTED;
  return accept(code, card, price.chargeFen, price.fareFen, 0, next, null);
}

function busTap(input: TapInput, month: number): TapDecision {
  const { card, device, fares, nowMs } = input;
  const line = fares.busLineById.get(device.busLine);
  if (!line || (line.kind === 'segmented' && (!Number.isInteger(device.busStop) || device.busStop < 0 || device.busStop >= line.stops.length))) {
    return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  }
  const policy = fares.spec.busPolicy;
  // A foreign card pays the full bus fare unless its issuer's record grants Beijing's card discount.
  const percent = input.policy == null || input.policy.busCardDiscount ? policy.profilePercent[card.profile] : 100;
  const trip = card.trip;
  const nowSec = Math.floor(nowMs / 1000);
  // Tap-off on the segmented line the card boarded, within the ride window. A later tap on the
  // same line is a new boarding: the old ride's mark is settled below, like on any other device.
  const rideAgeMs = nowMs - trip.journeyTime * 1000;
  if (trip.journey === 'bus' && trip.journeyLine === line.lineId && line.kind === 'segmented' && rideAgeMs <= busMaxRideMs(policy)) {
    if (trip.journeyPlace === device.busStop && rideAgeMs < policy.retapGuardMs) return refuse(TAP_RESULT.ALREADY_ENTERED);
    const boarded = Math.min(trip.journeyPlace, line.stops.length - 1);
    const fare = busSegmentFareFen(policy, line, boarded, device.busStop);
    const charge = applyPercentFen(fare, percent);
    const short = floorShortfall(card, charge);
    if (short > 0) return refuse(TAP_RESULT.INSUFFICIENT_BALANCE, false, fare, short);
    return accept(TAP_RESULT.ACCEPTED, card, charge, fare, 0, closedTrip(trip, nowSec, true), null);
  }
  const settle = settlementOf(trip, fares);
  const journeyFare = line.kind === 'flat' ? line.flatFareFen : 0;
  const charge = settle.fen + applyPercentFen(journeyFare, percent);
  const refusal = entryFundsRefusal(card, settle.fen, percent > 0 ? policy.minBoardingBalanceFen : 0, charge);
  if (refusal) return refusal;
  const next = closedTrip(trip, nowSec, true);
  if (settle.subway && settle.fen > 0 && ladderApplies(input)) addRailSpend(next, month, settle.fen);
  if (line.kind === 'segmented') {
    next.journey = 'bus';
    next.journeyPlace = device.busStop;
    next.journeyLine = line.lineId;
    next.journeyTime = nowSec;
    next.journeyMarkFen = busMarkAmountFen(policy, line, device.busStop);
    next.journeyFareVersion = fares.version;
  }
  return accept(TAP_RESULT.ACCEPTED, card, charge, settle.fen + journeyFare, settle.fen, next, null);
}

function suburbanEntry(input: TapInput, month: number): TapDecision {
  const { card, device, fares, nowMs } = input;
  const rail = fares.spec.suburban;
  if (!suburbanStation(rail, device.stationCode)) return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  const trip = card.trip;
  if (trip.journey === 'suburban' && nowMs - trip.journeyTime * 1000 < rail.staleEntryMs) return refuse(TAP_RESULT.ALREADY_ENTERED);
  const settle = settlementOf(trip, fares);
  const refusal = entryFundsRefusal(card, settle.fen, rail.minEntryBalanceFen, settle.fen);
  if (refusal) return refusal;
  const nowSec = Math.floor(nowMs / 1000);
  // Suburban taps are not subway/bus evidence for the P+R rate.
  const next = closedTrip(trip, nowSec, false);
  next.journey = 'suburban';
  next.journeyPlace = device.stationCode;
  next.journeyTime = nowSec;
  next.journeyFareVersion = fares.version;
  if (settle.subway && settle.fen > 0 && ladderApplies(input)) addRailSpend(next, month, settle.fen);
  return accept(TAP_RESULT.ACCEPTED, card, settle.fen, settle.fen, settle.fen, next, null);
}

function suburbanExit(input: TapInput): TapDecision {
  const { card, device, fares, nowMs } = input;
  const rail = fares.spec.suburban;
  if (!suburbanStation(rail, device.stationCode)) return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  const trip = card.trip;
  if (trip.journey !== 'suburban' || !suburbanStation(rail, trip.journeyPlace)) return refuse(TAP_RESULT.NO_ENTRY_RECORD);
  const free = trip.journeyPlace === device.stationCode && nowMs - trip.journeyTime * 1000 <= rail.sameStationFreeExitMs;
  const fare = free ? 0 : suburbanFareFen(rail, trip.journeyPlace, device.stationCode).fareFen;
  const short = floorShortfall(card, fare);
  if (short > 0) return refuse(TAP_RESULT.INSUFFICIENT_BALANCE, false, fare, short);
  return accept(TAP_RESULT.ACCEPTED, card, fare, fare, 0, closedTrip(trip, Math.floor(nowMs / 1000), false), null);
}

function parkAndRideEntry(input: TapInput): TapDecision {
  const { card, device, fares, nowMs } = input;
  if (!fares.lotById.has(device.lotId)) return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  const trip = card.trip;
  if (trip.parkingLot !== 0) return refuse(TAP_RESULT.ALREADY_ENTERED);
  if (effectiveBalanceFen(card) < 0) return refuse(TAP_RESULT.NEGATIVE_BALANCE);
  const next: TripRecord = { ...trip, parkingLot: device.lotId, parkingEntryTime: Math.floor(nowMs / 1000) };
  return accept(TAP_RESULT.ACCEPTED, card, 0, 0, 0, next, null);
}

function parkAndRideExit(input: TapInput): TapDecision {
  const { card, device, fares, nowMs } = input;
  const lot = fares.lotById.get(device.lotId);
  if (!lot) return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  const trip = card.trip;
  if (trip.parkingLot !== device.lotId) return refuse(TAP_RESULT.NO_ENTRY_RECORD);
  const charge = parkingChargeFen(lot, trip.parkingEntryTime * 1000, nowMs, trip.lastTransitTime * 1000, trip.parkingDay, trip.parkingDayChargedFen);
  const short = floorShortfall(card, charge.chargeFen);
  if (short > 0) return refuse(TAP_RESULT.INSUFFICIENT_BALANCE, false, charge.chargeFen, short);
  const next: TripRecord = { ...trip, parkingLot: 0, parkingEntryTime: 0, parkingDay: charge.exitDay, parkingDayChargedFen: charge.exitDayChargedFen };
  return accept(TAP_RESULT.ACCEPTED, card, charge.chargeFen, charge.chargeFen, 0, next, null);
}

function parkGate(input: TapInput, today: number): TapDecision {
  const { card, device, fares, nowMs } = input;
  const park = fares.parkById.get(device.parkId);
  if (!park) return refuse(TAP_RESULT.DEVICE_CONFIG_ERROR);
  const windowMs = fares.spec.parkPolicy.antiPassbackMs;
  for (const pass of card.parkPasses) {
    if (pass.year !== 0 && pass.lastParkId === park.parkId && nowMs - pass.lastEntryTime * 1000 < windowMs && nowMs >= pass.lastEntryTime * 1000) {
      return refuse(TAP_RESULT.ANTI_PASSBACK);
    }
  }
  const slot = validParkPassSlot(card.parkPasses, today);
  if (slot !== -1 && park.coveredByPass) {
    const pass = card.parkPasses[slot];
    const record: ParkPassRecord = { year: pass.year, visits: pass.visits + 1, lastParkId: park.parkId, lastEntryTime: Math.floor(nowMs / 1000) };
    return accept(TAP_RESULT.ACCEPTED, card, 0, 0, 0, null, { slot, record });
  }
  if (park.singleTicketFen !== null) {
    const ticket = park.singleTicketFen;
    const effective = effectiveBalanceFen(card);
    if (effective < 0) return refuse(TAP_RESULT.NEGATIVE_BALANCE, false, ticket);
    if (effective < ticket) return refuse(TAP_RESULT.INSUFFICIENT_BALANCE, false, ticket, ticket - effective);
    // The composite purchase rewrites the trip record unchanged (every card-touching tap is a 09).
    return accept(TAP_RESULT.ACCEPTED, card, ticket, ticket, 0, { ...card.trip }, null);
  }
  return refuse(slot !== -1 ? TAP_RESULT.PASS_NOT_VALID_HERE : TAP_RESULT.NO_VALID_PASS);
}
