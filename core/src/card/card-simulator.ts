/**
 * The card's secure element in software (DOMAIN.md section 3). It answers the CardPort commands
 * with real status words, holds only its own diversified keys, and takes its randomness from an
 * injected source so core stays pure and tests are deterministic.
 *
 * Decisions (documented because a real COS differs between vendors):
 * - Insufficient balance (9401) is refused at INITIALIZE FOR PURCHASE, before any PSAM work:
 *   nothing between INITIALIZE and DEBIT can change the purse. The check: the effective balance
 *   after the purchase would go below -overdraftLimit.
 * - Balances in INITIALIZE, GET BALANCE and the load MAC/TAC are the effective balance
 *   (balance - overdraft used) as a signed 32-bit value.
 * - A challenge is valid for the very next command only, whatever that command is.
 * - A purchase/load session lives from its INITIALIZE to the next DEBIT/CREDIT attempt (success
 *   or not), a new INITIALIZE, a MAC-protected write, or a tear. Reads do not end it.
 * - Any command out of order answers 6985 and changes nothing. Malformed data answers 6700.
 * - Tearing: `tearAt({ command, moment })` makes the next call of that command lose power.
 *   'before-write': nothing changes; 'after-write': the new state is committed. Either way the
 *   terminal gets no answer: the response has sw = SW_NO_RESPONSE (0x0000) and no data (we answer
 *   data, not an exception, because a lost answer is a normal outcome the purse code decides on).
 *   The card then forgets the session and the challenge; proofs of committed transactions stay
 *   available through GET TRANSACTION PROVE.
 * - The log record's overdraft field holds the overdraft used after the transaction.
 * - A CAPP DATA CACHE payload is a tagged trip record or park-pass record (card-records.ts); a
 *   park pass goes to the slot whose year matches (6A83 if none).
 * - Proofs of the last LIMITS.cardLogRecords transactions are kept (in memory, plus `proofs()` /
 *   the constructor option so a shell can persist them next to the image).
 */
import type { CipherAlgorithm } from '../crypto/algorithm.ts';
import { ALGORITHM_ID } from '../crypto/algorithm.ts';
import { constantTimeEqual } from '../crypto/bytes.ts';
import { retailMac, transactionMac } from '../crypto/mac.ts';
import { loadSessionKey, purchaseSessionKey, tacSessionKey } from '../crypto/session-keys.ts';
import { LIMITS } from '../limits.ts';
import { SW, type CardPort, type CardRecordKind, type CardResponse } from '../ports/card-port.ts';
import { encodeLoadInit, encodePurchaseInit } from '../purse/init-answers.ts';
import {
  amountBytes,
  loadMac1Data,
  loadMac2Data,
  loadTacDataBytes,
  parseTransactionDate,
  parseTransactionTime,
  purchaseMac1Data,
  purchaseTacDataBytes,
} from '../purse/purse-data.ts';
import { TRANSACTION_TYPE, type CardImage, type ParkPassRecord, type TransactionLogRecord, type TripRecord } from './card-image.ts';
import { cloneCardImage, encodeCardView, validateCardImage } from './card-codec.ts';
import { APPLICATION_BLOCK_HEADER, APPLICATION_UNBLOCK_HEADER, commandMacIv, isCardRecordKind, updateRecordMacData } from './card-commands.ts';
import { CardFormatError } from './card-format-error.ts';
import { LOG_RECORD_BYTES, encodeLogRecord } from './log-record-codec.ts';
import { RECORD_TAG, parseFunctions, parseParkPass, parseTripRecord, recordTagOf } from './card-records.ts';
import { readHex } from './card-fields.ts';

/** The status word of a response that never came (the card lost power). */
export const SW_NO_RESPONSE = 0x0000;

export type TearableCommand =
  | 'initializeForPurchase'
  | 'updateCappDataCache'
  | 'debitForPurchase'
  | 'initializeForLoad'
  | 'creditForLoad'
  | 'applicationBlock'
  | 'applicationUnblock'
  | 'updateRecord';
export type TearMoment = 'before-write' | 'after-write';
export interface TearPoint {
  command: TearableCommand;
  moment: TearMoment;
}

/** What GET TRANSACTION PROVE answers for a committed transaction. */
export interface TransactionProof {
  transactionType: number;
  /** ATC the transaction used (before the increment). */
  atc: number;
  /** Purchase: the card's MAC2; load: the issuer's MAC2 that the card accepted. */
  mac: Uint8Array;
  tac: Uint8Array;
}

export interface CardSimulatorOptions {
  /** Proofs kept from an earlier run (see `proofs()`), most recent last. */
  proofs?: readonly TransactionProof[];
}

type CappPending = { kind: 'trip'; trip: TripRecord } | { kind: 'park-pass'; slot: 0 | 1; pass: ParkPassRecord };

interface PurchaseSession {
  kind: 'purchase';
  composite: boolean;
  amountFen: number;
  terminalId: Uint8Array;
  random: Uint8Array;
  offlineAtc: number;
  capp: CappPending | null;
}

interface LoadSession {
  kind: 'load';
  amountFen: number;
  terminalId: Uint8Array;
  onlineAtc: number;
  sessionKey: Uint8Array;
  balanceBeforeFen: number;
}

const EMPTY = new Uint8Array(0);
const MAX_PROOFS = LIMITS.cardLogRecords;

function answer(sw: number, data: Uint8Array = EMPTY): CardResponse {
  return { sw, data };
}

function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

export class CardSimulator implements CardPort {
  #image: CardImage;
  readonly #random: () => Uint8Array;
  #session: PurchaseSession | LoadSession | null = null;
  #challenge: Uint8Array | null = null;
  #proofs: TransactionProof[] = [];
  #tear: TearPoint | null = null;

  constructor(image: CardImage, random: () => Uint8Array, options: CardSimulatorOptions = {}) {
    validateCardImage(image);
    if (typeof random !== 'function') throw new TypeError('random must be a function returning 4 bytes');
    this.#image = cloneCardImage(image);
    this.#random = random;
    for (const proof of options.proofs ?? []) this.#rememberProof({ ...proof, mac: new Uint8Array(proof.mac), tac: new Uint8Array(proof.tac) });
  }

  /** A deep copy of the current state (persistence and tests). */
  image(): CardImage {
    return cloneCardImage(this.#image);
  }

  /** Copies of the kept transaction proofs, oldest first (persist them next to the image). */
  proofs(): TransactionProof[] {
    return this.#proofs.map((p) => ({ ...p, mac: new Uint8Array(p.mac), tac: new Uint8Array(p.tac) }));
  }

  /** Arms a tear for the next call of `point.command`. One tear at a time; `null` disarms. */
  tearAt(point: TearPoint | null): void {
    this.#tear = point === null ? null : { ...point };
  }

  /** The card was taken away and presented again: volatile state (session, challenge) is gone. */
  reset(): void {
    this.#session = null;
    this.#challenge = null;
  }

  toJSON(): unknown {
    return { cardNo: this.#image.cardNo, note: 'card simulator (keys not shown)' };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `CardSimulator { cardNo: '${this.#image.cardNo}' }`;
  }

  // ---- reads ----------------------------------------------------------------------------

  readCardView(): CardResponse {
    this.#challenge = null;
    return answer(SW.success, encodeCardView(this.#image));
  }

  getBalance(): CardResponse {
    this.#challenge = null;
    const out = new Uint8Array(4);
    new DataView(out.buffer).setInt32(0, this.#effective());
    return answer(SW.success, out);
  }

  getChallenge(): CardResponse {
    const challenge = this.#nextRandom();
    this.#challenge = challenge;
    return answer(SW.success, new Uint8Array(challenge));
  }

  readLogRecord(index: number): CardResponse {
    this.#challenge = null;
    if (!Number.isInteger(index) || index < 1 || index > LIMITS.cardLogRecords) return answer(SW.wrongParameters);
    const record = this.#image.log[index - 1];
    if (record === undefined) return answer(SW.recordNotFound);
    const bytes = encodeLogRecord(record);
    if (bytes.length !== LOG_RECORD_BYTES) throw new Error('log record length');
    return answer(SW.success, bytes);
  }

  getTransactionProve(transactionType: number, atc: number): CardResponse {
    this.#challenge = null;
    for (let i = this.#proofs.length - 1; i >= 0; i--) {
      const p = this.#proofs[i];
      if (p.transactionType === transactionType && p.atc === atc) {
        const out = new Uint8Array(8);
        out.set(p.mac, 0);
        out.set(p.tac, 4);
        return answer(SW.success, out);
      }
    }
    return answer(SW.recordNotFound);
  }

  // ---- purchase -------------------------------------------------------------------------

  initializeForPurchase(keyIndex: number, amountFen: number, terminalId: Uint8Array, composite: boolean): CardResponse {
    this.#challenge = null;
    this.#session = null;
    if (!isU32(amountFen) || !isBytes(terminalId, 6) || typeof composite !== 'boolean') return answer(SW.wrongLength);
    if (keyIndex !== 1) return answer(SW.keyIndexUnsupported);
    const card = this.#image;
    if (card.locked) return answer(SW.applicationBlocked);
    if (card.offlineAtc >= 0xffff) return answer(SW.conditionsNotSatisfied);
    if (this.#effective() - amountFen < -card.overdraftLimitFen) return answer(SW.insufficientBalance);
    const tear = this.#takeTear('initializeForPurchase');
    const random = this.#nextRandom();
    const session: PurchaseSession = {
      kind: 'purchase',
      composite,
      amountFen,
      terminalId: new Uint8Array(terminalId),
      random,
      offlineAtc: card.offlineAtc,
      capp: null,
    };
    if (tear !== null) return this.#lost();
    this.#session = session;
    return answer(
      SW.success,
      encodePurchaseInit({
        balanceFen: this.#effective(),
        offlineAtc: card.offlineAtc,
        overdraftLimitFen: card.overdraftLimitFen,
        keyVersion: card.keyVersion,
        algorithmId: ALGORITHM_ID[card.algorithm],
        random: new Uint8Array(random),
      }),
    );
  }

  updateCappDataCache(record: Uint8Array): CardResponse {
    this.#challenge = null;
    const session = this.#session;
    if (session === null || session.kind !== 'purchase' || !session.composite || session.capp !== null) {
      return answer(SW.conditionsNotSatisfied);
    }
    if (!(record instanceof Uint8Array)) return answer(SW.wrongLength);
    let pending: CappPending;
    try {
      const tag = recordTagOf(record);
      if (tag === RECORD_TAG.trip) {
        pending = { kind: 'trip', trip: parseTripRecord(record) };
      } else if (tag === RECORD_TAG.parkPass) {
        const pass = parseParkPass(record);
        const slot = pass.year === 0 ? -1 : this.#image.parkPasses.findIndex((p) => p.year === pass.year);
        if (slot < 0) return answer(SW.recordNotFound);
        pending = { kind: 'park-pass', slot: slot as 0 | 1, pass };
      } else {
        return answer(SW.wrongParameters);
      }
    } catch (error) {
      if (error instanceof CardFormatError) return answer(SW.wrongLength);
      throw error;
    }
    const tear = this.#takeTear('updateCappDataCache');
    if (tear !== null) return this.#lost();
    session.capp = pending;
    return answer(SW.success);
  }

  debitForPurchase(tsn: number, date: Uint8Array, time: Uint8Array, mac1: Uint8Array): CardResponse {
    this.#challenge = null;
    const session = this.#session;
    if (session === null || session.kind !== 'purchase') return answer(SW.conditionsNotSatisfied);
    // Any DEBIT attempt ends the session: a failed MAC cannot be retried without a new INITIALIZE.
    this.#session = null;
    const dateValue = parseTransactionDate(date);
    const timeValue = parseTransactionTime(time);
    if (!isU32(tsn) || dateValue === null || timeValue === null || !isBytes(mac1, 4)) return answer(SW.wrongLength);
    const tear = this.#takeTear('debitForPurchase');
    if (tear === 'before-write') return this.#lost();

    const card = this.#image;
    const algorithm = card.algorithm;
    const type = session.composite ? TRANSACTION_TYPE.compositePurchase : TRANSACTION_TYPE.purchase;
    const sessionKey = purchaseSessionKey(card.keys.purchase, session.random, session.offlineAtc, tsn, algorithm);
    const expected = transactionMac(sessionKey, purchaseMac1Data(session.amountFen, type, session.terminalId, date, time), algorithm);
    if (!constantTimeEqual(expected, mac1)) {
      if (tear === 'after-write') return this.#lost();
      return answer(SW.macError);
    }

    // Compute the whole new state first, then commit it in one step (atomic: balance, ATC, log,
    // CAPP record and proof change together or not at all).
    const amount = session.amountFen;
    let balanceFen = card.balanceFen;
    let overdraftUsedFen = card.overdraftUsedFen;
    if (balanceFen >= amount) {
      balanceFen -= amount;
    } else {
      overdraftUsedFen += amount - balanceFen;
      balanceFen = 0;
    }
    const tac = transactionMac(tacSessionKey(card.keys.tac, algorithm), purchaseTacDataBytes(amount, type, session.terminalId, tsn, date, time), algorithm);
    const mac2 = transactionMac(sessionKey, amountBytes(amount), algorithm);
    const logRecord: TransactionLogRecord = {
      atc: session.offlineAtc,
      overdraftFen: overdraftUsedFen,
      amountFen: amount,
      type,
      terminalId: readHex(session.terminalId, 0, 6),
      date: dateValue,
      time: timeValue,
    };
    this.#assertPurse(balanceFen, overdraftUsedFen);

    card.balanceFen = balanceFen;
    card.overdraftUsedFen = overdraftUsedFen;
    card.offlineAtc = session.offlineAtc + 1;
    this.#appendLog(logRecord);
    const capp = session.capp;
    if (capp !== null) {
      if (capp.kind === 'trip') card.trip = { ...capp.trip };
      else card.parkPasses[capp.slot] = { ...capp.pass };
    }
    this.#rememberProof({ transactionType: type, atc: session.offlineAtc, mac: mac2, tac });

    if (tear === 'after-write') return this.#lost();
    const out = new Uint8Array(8);
    out.set(tac, 0);
    out.set(mac2, 4);
    return answer(SW.success, out);
  }

  // ---- load -----------------------------------------------------------------------------

  initializeForLoad(keyIndex: number, amountFen: number, terminalId: Uint8Array): CardResponse {
    this.#challenge = null;
    this.#session = null;
    if (!isU32(amountFen) || amountFen === 0 || !isBytes(terminalId, 6)) return answer(SW.wrongLength);
    if (keyIndex !== 1) return answer(SW.keyIndexUnsupported);
    const card = this.#image;
    if (card.locked) return answer(SW.applicationBlocked);
    if (card.onlineAtc >= 0xffff) return answer(SW.conditionsNotSatisfied);
    const balanceBeforeFen = this.#effective();
    // The load repays overdraft first, so the cap applies to the effective balance after it.
    if (balanceBeforeFen + amountFen > LIMITS.balanceCapFen) return answer(SW.balanceCapExceeded);
    const tear = this.#takeTear('initializeForLoad');
    const random = this.#nextRandom();
    const algorithm = card.algorithm;
    const sessionKey = loadSessionKey(card.keys.load, random, card.onlineAtc, algorithm);
    const mac1 = transactionMac(sessionKey, loadMac1Data(balanceBeforeFen, amountFen, terminalId), algorithm);
    if (tear !== null) return this.#lost();
    this.#session = {
      kind: 'load',
      amountFen,
      terminalId: new Uint8Array(terminalId),
      onlineAtc: card.onlineAtc,
      sessionKey,
      balanceBeforeFen,
    };
    return answer(
      SW.success,
      encodeLoadInit({
        balanceFen: balanceBeforeFen,
        onlineAtc: card.onlineAtc,
        keyVersion: card.keyVersion,
        algorithmId: ALGORITHM_ID[algorithm],
        random,
        mac1,
      }),
    );
  }

  creditForLoad(date: Uint8Array, time: Uint8Array, mac2: Uint8Array): CardResponse {
    this.#challenge = null;
    const session = this.#session;
    if (session === null || session.kind !== 'load') return answer(SW.conditionsNotSatisfied);
    this.#session = null;
    const dateValue = parseTransactionDate(date);
    const timeValue = parseTransactionTime(time);
    if (dateValue === null || timeValue === null || !isBytes(mac2, 4)) return answer(SW.wrongLength);
    const tear = this.#takeTear('creditForLoad');
    if (tear === 'before-write') return this.#lost();

    const card = this.#image;
    const algorithm = card.algorithm;
    const expected = transactionMac(session.sessionKey, loadMac2Data(session.amountFen, session.terminalId, date, time), algorithm);
    if (!constantTimeEqual(expected, mac2)) {
      if (tear === 'after-write') return this.#lost();
      return answer(SW.macError);
    }

    const amount = session.amountFen;
    let balanceFen = card.balanceFen;
    let overdraftUsedFen = card.overdraftUsedFen;
    const repay = Math.min(overdraftUsedFen, amount);
    overdraftUsedFen -= repay;
    balanceFen += amount - repay;
    this.#assertPurse(balanceFen, overdraftUsedFen);
    const balanceAfterFen = balanceFen - overdraftUsedFen;
    const tac = transactionMac(
      tacSessionKey(card.keys.tac, algorithm),
      loadTacDataBytes(balanceAfterFen, session.onlineAtc, amount, session.terminalId, date, time),
      algorithm,
    );
    const logRecord: TransactionLogRecord = {
      atc: session.onlineAtc,
      overdraftFen: overdraftUsedFen,
      amountFen: amount,
      type: TRANSACTION_TYPE.load,
      terminalId: readHex(session.terminalId, 0, 6),
      date: dateValue,
      time: timeValue,
    };

    card.balanceFen = balanceFen;
    card.overdraftUsedFen = overdraftUsedFen;
    card.onlineAtc = session.onlineAtc + 1;
    this.#appendLog(logRecord);
    this.#rememberProof({ transactionType: TRANSACTION_TYPE.load, atc: session.onlineAtc, mac: new Uint8Array(mac2), tac });

    if (tear === 'after-write') return this.#lost();
    return answer(SW.success, tac);
  }

  // ---- MAC-protected writes ---------------------------------------------------------------

  applicationBlock(mac: Uint8Array): CardResponse {
    const challenge = this.#takeChallenge();
    if (challenge === null) return answer(SW.conditionsNotSatisfied);
    return this.#macWrite('applicationBlock', challenge, mac, this.#image.keys.block, APPLICATION_BLOCK_HEADER, () => {
      this.#image.locked = true;
    });
  }

  applicationUnblock(mac: Uint8Array): CardResponse {
    const challenge = this.#takeChallenge();
    if (challenge === null) return answer(SW.conditionsNotSatisfied);
    return this.#macWrite('applicationUnblock', challenge, mac, this.#image.keys.issuer, APPLICATION_UNBLOCK_HEADER, () => {
      this.#image.locked = false;
    });
  }

  updateRecord(kind: CardRecordKind, record: Uint8Array, mac: Uint8Array): CardResponse {
    const challenge = this.#takeChallenge();
    if (challenge === null) return answer(SW.conditionsNotSatisfied);
    if (!isCardRecordKind(kind)) return answer(SW.wrongParameters);
    if (this.#image.locked) return answer(SW.applicationBlocked);
    let apply: () => void;
    try {
      if (!(record instanceof Uint8Array)) throw new CardFormatError('record must be bytes');
      if (kind === 'functions') {
        const functions = parseFunctions(record);
        apply = () => {
          this.#image.transitOpened = functions.transitOpened;
          this.#image.suburbanOpened = functions.suburbanOpened;
        };
      } else {
        const pass = parseParkPass(record);
        const slot = kind === 'park-pass-previous' ? 0 : 1;
        apply = () => {
          this.#image.parkPasses[slot] = pass;
        };
      }
    } catch (error) {
      if (error instanceof CardFormatError) return answer(SW.wrongLength);
      throw error;
    }
    return this.#macWrite('updateRecord', challenge, mac, this.#image.keys.issuer, updateRecordMacData(kind, record), apply);
  }

  #macWrite(command: TearableCommand, challenge: Uint8Array, mac: Uint8Array, key: Uint8Array, macData: Uint8Array, apply: () => void): CardResponse {
    if (!isBytes(mac, 4)) return answer(SW.wrongLength);
    const tear = this.#takeTear(command);
    if (tear === 'before-write') return this.#lost();
    const algorithm: CipherAlgorithm = this.#image.algorithm;
    const expected = retailMac(key, commandMacIv(challenge, algorithm), macData, algorithm);
    if (!constantTimeEqual(expected, mac)) {
      if (tear === 'after-write') return this.#lost();
      return answer(SW.macError);
    }
    apply();
    if (tear === 'after-write') return this.#lost();
    return answer(SW.success);
  }

  /** Consumes the challenge (single use) and ends any session; null when there was none. */
  #takeChallenge(): Uint8Array | null {
    const challenge = this.#challenge;
    this.#challenge = null;
    this.#session = null;
    return challenge;
  }

  // ---- internals --------------------------------------------------------------------------

  #effective(): number {
    return this.#image.balanceFen - this.#image.overdraftUsedFen;
  }

  #nextRandom(): Uint8Array {
    const random = this.#random();
    if (!(random instanceof Uint8Array) || random.length !== 4) throw new TypeError('the random source must return 4 bytes');
    return new Uint8Array(random);
  }

  #takeTear(command: TearableCommand): TearMoment | null {
    const tear = this.#tear;
    if (tear === null || tear.command !== command) return null;
    this.#tear = null;
    return tear.moment;
  }

  /** Power lost: no answer, volatile state gone. */
  #lost(): CardResponse {
    this.#session = null;
    this.#challenge = null;
    return answer(SW_NO_RESPONSE);
  }

  #appendLog(record: TransactionLogRecord): void {
    const log = this.#image.log;
    log.unshift(record);
    if (log.length > LIMITS.cardLogRecords) log.length = LIMITS.cardLogRecords;
  }

  #rememberProof(proof: TransactionProof): void {
    this.#proofs.push(proof);
    if (this.#proofs.length > MAX_PROOFS) this.#proofs.shift();
  }

  /** The purse invariants (assertion before the write; the codec checks them again on read). */
  #assertPurse(balanceFen: number, overdraftUsedFen: number): void {
    const card = this.#image;
    if (balanceFen < 0 || overdraftUsedFen < 0) throw new Error('card simulator: negative purse component');
    if (balanceFen > LIMITS.balanceCapFen) throw new Error('card simulator: balance over the cap');
    if (overdraftUsedFen > card.overdraftLimitFen) throw new Error('card simulator: overdraft over the limit');
    if (balanceFen !== 0 && overdraftUsedFen !== 0) throw new Error('card simulator: balance and overdraft both non-zero');
  }
}
