/** Fixed sample records for the hex vectors (test/vectors/card-records.json). */
import { emptyParkPass, emptyTripRecord, type CardImage, type TransactionLogRecord, type TripRecord } from '#core/card/card-image';

export const SAMPLE_LOG_RECORD: TransactionLogRecord = {
  atc: 0x0102,
  overdraftFen: 500,
  amountFen: 300,
  type: 0x09,
  terminalId: '112233445566',
  date: 20260115,
  time: 73045,
};

export const SAMPLE_TRIP: TripRecord = {
  ...emptyTripRecord(),
  journey: 'subway',
  journeyPlace: 1001,
  journeyLine: 0,
  journeyTime: 1_768_433_445,
  journeyFareVersion: 20260101,
  lastTransitTime: 1_768_433_445,
  monthKey: 202601,
  monthRailSpendFen: 12_300,
};

function key(fill: number): Uint8Array {
  return new Uint8Array(16).fill(fill);
}

export const SAMPLE_IMAGE: CardImage = {
  cardNo: '1000754300000018',
  issuerCode: '1000',
  issuerId: '01011000FFFFFFFF',
  startDate: 20151225,
  generation: 3,
  profile: 'adult',
  transitOpened: true,
  suburbanOpened: false,
  expiryDate: 20361231,
  balanceFen: 4_700,
  overdraftUsedFen: 0,
  overdraftLimitFen: 2_000,
  offlineAtc: 0x0103,
  onlineAtc: 2,
  keyVersion: 1,
  algorithm: 'sm4',
  log: [SAMPLE_LOG_RECORD],
  trip: SAMPLE_TRIP,
  parkPasses: [emptyParkPass(), { year: 2026, visits: 3, lastParkId: 7, lastEntryTime: 1_768_400_000 }],
  locked: false,
  keys: { purchase: key(0x11), load: key(0x22), tac: key(0x33), block: key(0x44), issuer: key(0x55) },
};
