/**
 * The on-card state as the rest of the system sees it (the contract between the card
 * codec, the card simulator, the tap engine, the validator and the gateway).
 *
 * A real card keeps this in the files of its transit application; the simulator keeps it
 * as a `CardImage` and the codec (`card-codec.ts`) turns it into versioned bytes and back.
 * Keys are part of the image because the image *is* the secure element's content: only
 * the card simulator ever reads them. What a terminal can read is `CardView` (no keys).
 */
import type { CipherAlgorithm } from '../crypto/algorithm.ts';

export type CardGeneration = 1 | 2 | 3;
export type HolderProfile = 'adult' | 'student' | 'senior';

/** Transaction types on the card (DOMAIN.md section 2). */
export const TRANSACTION_TYPE = {
  load: 0x02,
  purchase: 0x06,
  compositePurchase: 0x09,
} as const;
export type TransactionType = (typeof TRANSACTION_TYPE)[keyof typeof TRANSACTION_TYPE];

export const DEFAULT_OVERDRAFT_LIMIT_FEN = 2_000;

/** Issuer id of the home issuer (Beijing) [S HCE, C2]; issuer-registry.ts holds the rest. */
export const HOME_ISSUER_ID = '01011000FFFFFFFF';

/** Application start date written when none is given: the first Beijing T-Union card, 2015-12-25 [S]. */
export const DEFAULT_APP_START_DATE = 20151225;

/** One entry of the cyclic 10-record log: 23 bytes on the card (DOMAIN.md section 2). */
export interface TransactionLogRecord {
  /** ATC of the transaction (offline ATC for purchases, online ATC for loads), before increment. */
  atc: number;
  /** Overdraft amount (3 bytes), fen. */
  overdraftFen: number;
  /** Transaction amount (4 bytes), fen. */
  amountFen: number;
  type: TransactionType;
  /** 6-byte terminal id as 12 hex digits. */
  terminalId: string;
  /** YYYYMMDD as a decimal number, stored BCD on the card. */
  date: number;
  /** hhmmss as a decimal number, stored BCD on the card. */
  time: number;
}

/** Which journey is open on the card. */
export type JourneyKind = 'none' | 'subway' | 'bus' | 'suburban';

/**
 * The trip record of the composite application (复合应用). Written by UPDATE CAPP DATA CACHE
 * and committed atomically with the debit. Times are Unix epoch seconds (u32).
 */
export interface TripRecord {
  journey: JourneyKind;
  /** Subway/suburban: station code; bus: stop index on `journeyLine`. */
  journeyPlace: number;
  /** Bus line id (0 for rail). */
  journeyLine: number;
  /** Entry or boarding time, epoch seconds (0 when no journey). */
  journeyTime: number;
  /** Bus tap-on "mark amount": undiscounted fare to the far terminus, fen. */
  journeyMarkFen: number;
  /** Fare-table version used at entry/boarding. */
  journeyFareVersion: number;
  /** P+R stay: lot id (0 = not parked) and entry time (epoch seconds). */
  parkingLot: number;
  parkingEntryTime: number;
  /** P+R: day (YYYYMMDD) and fen already charged that day for the daily cap. */
  parkingDay: number;
  parkingDayChargedFen: number;
  /** Last completed subway or bus tap (epoch seconds), evidence for the P+R preferential rate. */
  lastTransitTime: number;
  /** Monthly rail discount ladder: natural month YYYYMM and rail spend so far that month (fen). */
  monthKey: number;
  monthRailSpendFen: number;
}

/** One park annual pass record. The card holds two (previous and current year) for the January overlap. */
export interface ParkPassRecord {
  /** Pass year Y: valid from Y-01-01 to (Y+1)-01-31 inclusive. 0 = empty slot. */
  year: number;
  /** Entries counted at park gates. */
  visits: number;
  /** Park id of the last entry and its time (epoch seconds), for anti-passback. */
  lastParkId: number;
  lastEntryTime: number;
}

export interface CardKeys {
  /** Diversified purchase key (DPK), 16 bytes. */
  purchase: Uint8Array;
  /** Diversified load key (DLK), 16 bytes. */
  load: Uint8Array;
  /** Diversified TAC key (DTK), 16 bytes. */
  tac: Uint8Array;
  /** Diversified application-block key (PSAM and issuer hold its master), 16 bytes. */
  block: Uint8Array;
  /** Diversified issuer maintenance key: unblock and authorised record writes (issuer only), 16 bytes. */
  issuer: Uint8Array;
}

/** Everything a terminal can read from the card (no keys). */
export interface CardView {
  /**
   * 19 digits starting 31 (T-Union) or 16 (the home issuer's legacy range): the 10-byte
   * application serial of file 0x15; its rightmost 8 bytes are the key diversifier (card-number.ts).
   */
  cardNo: string;
  /** The project's 2-byte issuer code, 4 hex digits (kept beside the T-Union issuer id). */
  issuerCode: string;
  /** T-Union issuer id (file 0x15), 16 upper-case hex digits; bytes 2-3 = the issuing city code. */
  issuerId: string;
  /** Application start date YYYYMMDD (file 0x15). */
  startDate: number;
  generation: CardGeneration;
  profile: HolderProfile;
  transitOpened: boolean;
  suburbanOpened: boolean;
  /** Card expiry YYYYMMDD. */
  expiryDate: number;
  /** Purse balance, unsigned on the card, fen. */
  balanceFen: number;
  /** Overdraft used, fen (the T-Union "negative purse"). Effective balance = balance - overdraftUsed. */
  overdraftUsedFen: number;
  overdraftLimitFen: number;
  offlineAtc: number;
  onlineAtc: number;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  /** Most recent first, at most 10. */
  log: TransactionLogRecord[];
  trip: TripRecord;
  /** [previous year, current year]; an empty slot has year 0. */
  parkPasses: [ParkPassRecord, ParkPassRecord];
  /** Application locked by APPLICATION BLOCK. */
  locked: boolean;
}

export interface CardImage extends CardView {
  keys: CardKeys;
}

export function emptyTripRecord(): TripRecord {
  return {
    journey: 'none',
    journeyPlace: 0,
    journeyLine: 0,
    journeyTime: 0,
    journeyMarkFen: 0,
    journeyFareVersion: 0,
    parkingLot: 0,
    parkingEntryTime: 0,
    parkingDay: 0,
    parkingDayChargedFen: 0,
    lastTransitTime: 0,
    monthKey: 0,
    monthRailSpendFen: 0,
  };
}

export function emptyParkPass(): ParkPassRecord {
  return { year: 0, visits: 0, lastParkId: 0, lastEntryTime: 0 };
}

/** Effective balance: balance minus overdraft used (may be negative down to -overdraftLimit). */
export function effectiveBalanceFen(card: Pick<CardView, 'balanceFen' | 'overdraftUsedFen'>): number {
  return card.balanceFen - card.overdraftUsedFen;
}
