/**
 * The bulk tap generator of the city-scale run: the journal record a validator would write for a
 * tap, made without a card simulator, a PSAM or a device database, so that tens of millions of
 * taps can be generated on one machine.
 *
 * Identical records by construction: the decision is core's own `decideTap` (the same function
 * `executeTap` calls on every device), on a card view rebuilt from a compact per-card state; the
 * record has the fields, order and values `executeTap` gives a composite purchase (0x09) or a
 * refusal; the TAC is the card's own (its TAC key diversified from the issuer's master TAC key,
 * over `purchaseTacData`), so the gateway verifies it like any other. What is skipped is the
 * conversation with a card (SELECT, INITIALIZE, DEBIT, the card's log) and a durable commit per
 * tap. test/demo/city-scale.test.ts checks the identity against the real device code path.
 *
 * Card state: one Int32Array row of STRIDE numbers per card (balance, offline ATC, the trip
 * record's fields, the first park-pass slot), about 80 bytes a card.
 */
import {
  TAP_RESULT,
  TRANSACTION_TYPE,
  beijingDateTime,
  bytesToHex,
  cardSerialFromCardNo,
  decideTap,
  diversifyKey,
  NOT_LISTED,
  purchaseTacData,
  tacSessionKey,
  transactionMac,
  type CardView,
  type DeviceConfig,
  type FareTables,
  type JournalRecord,
  type JourneyKind,
  type TapDecision,
} from '#core';

const JOURNEYS: readonly JourneyKind[] = ['none', 'subway', 'bus', 'suburban'];
const JOURNEY_INDEX = new Map<JourneyKind, number>(JOURNEYS.map((j, i) => [j, i]));

// Column of each field in a card's row.
const BALANCE = 0;
const OFFLINE_ATC = 1;
const JOURNEY = 2;
const JOURNEY_PLACE = 3;
const JOURNEY_LINE = 4;
const JOURNEY_TIME = 5;
const JOURNEY_MARK = 6;
const JOURNEY_FARE_VERSION = 7;
const PARKING_LOT = 8;
const PARKING_ENTRY = 9;
const PARKING_DAY = 10;
const PARKING_CHARGED = 11;
const LAST_TRANSIT = 12;
const MONTH_KEY = 13;
const MONTH_RAIL = 14;
const PASS_YEAR = 15;
const PASS_VISITS = 16;
const PASS_PARK = 17;
const PASS_ENTRY = 18;
export const STRIDE = 19;

/** A bulk device: its core DeviceConfig (busStop moves with the bus), PSAM terminal id and next TSN. */
export interface BulkDevice {
  config: DeviceConfig;
  terminalId: string;
  tsn: number;
}

/** The fields every provisioned card shares (a personalised card's view; number, balance and state vary). */
export type CardTemplate = Omit<CardView, 'cardNo' | 'balanceFen' | 'offlineAtc' | 'trip' | 'parkPasses'>;

/** Every card's compact state, and the record maker. */
export class BulkCards {
  readonly state: Int32Array;
  private readonly view: CardView;
  private readonly masterTac: Uint8Array;

  constructor(
    readonly count: number,
    template: CardTemplate,
    masterTac: Uint8Array,
  ) {
    this.state = new Int32Array(count * STRIDE);
    this.masterTac = masterTac;
    this.view = {
      ...template,
      cardNo: '',
      balanceFen: 0,
      offlineAtc: 0,
      log: [],
      trip: {
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
      },
      parkPasses: [
        { year: 0, visits: 0, lastParkId: 0, lastEntryTime: 0 },
        { year: 0, visits: 0, lastParkId: 0, lastEntryTime: 0 },
      ],
    };
  }

  /** Opening state of card `i`: its balance and, when given, a park annual pass of that year. */
  open(i: number, balanceFen: number, passYear = 0): void {
    const o = i * STRIDE;
    this.state.fill(0, o, o + STRIDE);
    this.state[o + BALANCE] = balanceFen;
    this.state[o + PASS_YEAR] = passYear;
  }

  balanceOf(i: number): number {
    return this.state[i * STRIDE + BALANCE];
  }

  offlineAtcOf(i: number): number {
    return this.state[i * STRIDE + OFFLINE_ATC];
  }

  /** Card `i` as a reader would see it (one scratch view, valid until the next call). */
  viewOf(i: number, cardNo: string): CardView {
    const s = this.state;
    const o = i * STRIDE;
    const v = this.view;
    v.cardNo = cardNo;
    v.balanceFen = s[o + BALANCE];
    v.offlineAtc = s[o + OFFLINE_ATC];
    const t = v.trip;
    t.journey = JOURNEYS[s[o + JOURNEY]];
    t.journeyPlace = s[o + JOURNEY_PLACE];
    t.journeyLine = s[o + JOURNEY_LINE];
    t.journeyTime = s[o + JOURNEY_TIME] >>> 0;
    t.journeyMarkFen = s[o + JOURNEY_MARK];
    t.journeyFareVersion = s[o + JOURNEY_FARE_VERSION];
    t.parkingLot = s[o + PARKING_LOT];
    t.parkingEntryTime = s[o + PARKING_ENTRY] >>> 0;
    t.parkingDay = s[o + PARKING_DAY];
    t.parkingDayChargedFen = s[o + PARKING_CHARGED];
    t.lastTransitTime = s[o + LAST_TRANSIT] >>> 0;
    t.monthKey = s[o + MONTH_KEY];
    t.monthRailSpendFen = s[o + MONTH_RAIL];
    const p = v.parkPasses[0];
    p.year = s[o + PASS_YEAR];
    p.visits = s[o + PASS_VISITS];
    p.lastParkId = s[o + PASS_PARK];
    p.lastEntryTime = s[o + PASS_ENTRY] >>> 0;
    return v;
  }

  private commit(i: number, decision: TapDecision): void {
    const s = this.state;
    const o = i * STRIDE;
    s[o + BALANCE] -= decision.chargeFen;
    s[o + OFFLINE_ATC] += 1;
    const t = decision.newTrip;
    if (t !== null) {
      s[o + JOURNEY] = JOURNEY_INDEX.get(t.journey) ?? 0;
      s[o + JOURNEY_PLACE] = t.journeyPlace;
      s[o + JOURNEY_LINE] = t.journeyLine;
      s[o + JOURNEY_TIME] = t.journeyTime;
      s[o + JOURNEY_MARK] = t.journeyMarkFen;
      s[o + JOURNEY_FARE_VERSION] = t.journeyFareVersion;
      s[o + PARKING_LOT] = t.parkingLot;
      s[o + PARKING_ENTRY] = t.parkingEntryTime;
      s[o + PARKING_DAY] = t.parkingDay;
      s[o + PARKING_CHARGED] = t.parkingDayChargedFen;
      s[o + LAST_TRANSIT] = t.lastTransitTime;
      s[o + MONTH_KEY] = t.monthKey;
      s[o + MONTH_RAIL] = t.monthRailSpendFen;
    }
    const pass = decision.newParkPass;
    if (pass !== null) {
      if (pass.slot !== 0) throw new Error('bulk cards carry their pass in slot 0');
      s[o + PASS_YEAR] = pass.record.year;
      s[o + PASS_VISITS] = pass.record.visits;
      s[o + PASS_PARK] = pass.record.lastParkId;
      s[o + PASS_ENTRY] = pass.record.lastEntryTime;
    }
  }

  /**
   * One tap of card `i` at `device` at `nowMs`: the journal record the device writes (a composite
   * purchase with its TAC, or a refusal that leaves the card untouched), and the card's state moved
   * on. Takes one TSN from the device for a purchase.
   */
  tap(i: number, cardNo: string, device: BulkDevice, fares: FareTables, nowMs: number, deviceSeq: number): JournalRecord {
    const view = this.viewOf(i, cardNo);
    const decision = decideTap({ card: view, device: device.config, blacklist: NOT_LISTED, fares, nowMs });
    const now = beijingDateTime(nowMs);
    const config = device.config;
    const isBus = config.kind === 'bus';
    const place =
      config.kind === 'pr-entry' || config.kind === 'pr-exit'
        ? config.lotId
        : config.kind === 'park-gate'
          ? config.parkId
          : isBus
            ? config.busStop
            : config.stationCode;
    const effective = view.balanceFen - view.overdraftUsedFen;
    const debit = decision.accepted && !decision.lock;
    // The same fields in the same order as executeTap's journal record.
    const record: JournalRecord = {
      deviceId: config.deviceId,
      deviceSeq,
      deviceKind: config.kind,
      operator: config.operator,
      resultCode: decision.resultCode,
      cardNo,
      cardAction: debit ? 'debit' : 'none',
      transactionType: debit ? TRANSACTION_TYPE.compositePurchase : 0,
      amountFen: debit ? decision.chargeFen : 0,
      balanceBeforeFen: effective,
      balanceAfterFen: debit ? effective - decision.chargeFen : effective,
      offlineAtc: view.offlineAtc,
      onlineAtc: view.onlineAtc,
      terminalId: device.terminalId,
      tsn: debit ? device.tsn : 0,
      date: now.date,
      time: now.time,
      tac: '',
      keyVersion: view.keyVersion,
      algorithm: view.algorithm,
      fareTableVersion: fares.version,
      place,
      line: isBus ? config.busLine : 0,
      occurredAtMs: nowMs,
      recovered: false,
      // What the revenue split needs of a subway exit's debit (executeTap's exitTripFields).
      journeyEntryPlace: debit && config.kind === 'subway-exit' && view.trip.journey === 'subway' ? view.trip.journeyPlace : 0,
      overtimeFen:
        debit && config.kind === 'subway-exit' && view.trip.journey === 'subway' && decision.resultCode === TAP_RESULT.OVERTIME_CHARGED
          ? fares.subway.policy.overtimeFen
          : 0,
    };
    if (decision.lock) throw new Error(`bulk card ${cardNo} would be locked: bulk cards are never blacklisted`);
    if (debit) {
      device.tsn++;
      const key = tacSessionKey(diversifyKey(this.masterTac, cardSerialFromCardNo(cardNo), view.algorithm), view.algorithm);
      record.tac = bytesToHex(transactionMac(key, purchaseTacData(record), view.algorithm));
      this.commit(i, decision);
    }
    return record;
  }
}

/** True when a record is an accepted tap (what the clearing counts as a debit). */
export function isAcceptedDebit(record: JournalRecord): boolean {
  return record.cardAction === 'debit' && record.resultCode !== TAP_RESULT.MAC_FAILURE;
}
