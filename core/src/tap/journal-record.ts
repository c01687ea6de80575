/**
 * The journal record: what every validator tap leaves behind, what sync uploads (msgpack),
 * and what the gateway verifies and clears. This is the contract between core, the
 * validator and the gateway; add fields only at the end, never renumber or repurpose.
 *
 * Every accepted tap that touches the card is a composite purchase (type 09), even at zero
 * amount (subway entry, bus tap-off of a free senior, park visit): it increments the offline
 * ATC and yields a TAC, so the back office sees an unbroken ATC chain per card and can prove
 * every trip-record write came from the card itself.
 */
export type DeviceKind = 'subway-entry' | 'subway-exit' | 'bus' | 'suburban-entry' | 'suburban-exit' | 'pr-entry' | 'pr-exit' | 'park-gate';

/** Clearing operator a debit's revenue belongs to. */
export type Operator = 'subway' | 'bus' | 'pr' | 'park' | 'suburban';

export interface JournalRecord {
  /** Device that made the record and its strictly increasing sequence: the idempotency key. */
  deviceId: string;
  deviceSeq: number;
  deviceKind: DeviceKind;
  operator: Operator;
  /** Stable tap result code (core/src/tap/result-codes.ts). */
  resultCode: number;
  /** Card number (16 digits). */
  cardNo: string;
  /**
   * What happened on the card: 'debit' (a composite purchase was made, TAC present),
   * 'block' (the card was locked), 'none' (refused without touching the card).
   */
  cardAction: 'debit' | 'block' | 'none';
  /** Transaction type on the card (0x09 composite purchase, 0x06 purchase); 0 when no debit. */
  transactionType: number;
  /** Amount debited, fen (may be 0). */
  amountFen: number;
  /** Effective balance (balance - overdraft used) before and after, fen. */
  balanceBeforeFen: number;
  balanceAfterFen: number;
  /** Offline ATC used by the purchase (the value INITIALIZE returned, before increment). */
  offlineAtc: number;
  /** Online ATC as read from the card (lets the back office settle pending loads). */
  onlineAtc: number;
  /** 6-byte terminal id (12 hex digits) and the PSAM's terminal serial number. */
  terminalId: string;
  tsn: number;
  /** Transaction date YYYYMMDD and time hhmmss (Beijing time), as used in MAC1/TAC. */
  date: number;
  time: number;
  /** TAC as 8 hex digits ('' when no debit). */
  tac: string;
  /** Card key version and algorithm, so the issuer derives the right TAC key. */
  keyVersion: number;
  algorithm: '3des' | 'sm4';
  fareTableVersion: number;
  /** Where: station code, bus line/stop, lot id or park id, as the device kind implies. */
  place: number;
  line: number;
  /**
   * When the transaction happened, epoch milliseconds (device clock): the tap, or for a recovered
   * record the torn purchase's own date and time (what the DEBIT carried, the card's log holds
   * and the TAC covers), not the later tap that recovered it.
   */
  occurredAtMs: number;
  /** True when this record completes a purchase that tore on an earlier tap (proof fetched). */
  recovered: boolean;
  /**
   * Only on a recovered record: the device clock when the later tap recovered it, epoch ms.
   * Optional in the sync protocol (older firmware sends none and dated the record at the
   * recovering tap; the gateway then reads the original time from date and time).
   */
  recoveredAtMs?: number;
  /**
   * A subway exit's debit: the trip's entry station code (the start of its fare path, what the
   * revenue split divides the fare over); 0 on every other record. Optional in the sync protocol
   * (older firmware sends none; the gateway then credits the exit station's line).
   */
  journeyEntryPlace?: number;
  /** A subway exit's debit: the overtime fare included in amountFen (it goes to the exit line's operator); 0 otherwise. Optional likewise. */
  overtimeFen?: number;
}
