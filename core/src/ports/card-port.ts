/**
 * The card as a terminal talks to it: one method per command of DOMAIN.md section 3.
 * Every answer carries an ISO 7816 status word; response data follows the byte layouts
 * of DOMAIN.md exactly (amounts 4 bytes big-endian fen, date 4 bytes BCD, time 3 bytes BCD).
 *
 * The card simulator (core/src/card/card-simulator.ts) implements it; a reader driver for a
 * real card would too. Methods are synchronous: the simulator is in memory, and a real
 * reader driver would be wrapped by the shell before the synchronous decision runs.
 */
export interface CardResponse {
  /** Status word, e.g. 0x9000. */
  sw: number;
  /** Response data without the status word (empty on error). */
  data: Uint8Array;
}

/** Status words the card answers (stable; tests compare against these). */
export const SW = {
  success: 0x9000,
  /** Wrong length / malformed command data. */
  wrongLength: 0x6700,
  /** Conditions of use not satisfied (e.g. DEBIT without INITIALIZE, state lost by a tear). */
  conditionsNotSatisfied: 0x6985,
  /** Security status not satisfied (e.g. command MAC missing). */
  securityNotSatisfied: 0x6982,
  /** Referenced data not found (e.g. GET TRANSACTION PROVE for an unknown ATC). */
  recordNotFound: 0x6a83,
  /** Wrong parameters P1/P2 (e.g. unknown record). */
  wrongParameters: 0x6a86,
  /** Application blocked (locked). */
  applicationBlocked: 0x6a81,
  /** MAC error (MAC1 on purchase, MAC2 on load, command MAC). */
  macError: 0x9302,
  /** Insufficient balance (purchase beyond balance + overdraft). */
  insufficientBalance: 0x9401,
  /** Key index / version not supported. */
  keyIndexUnsupported: 0x9403,
  /** Load would exceed the balance cap. */
  balanceCapExceeded: 0x9402,
} as const;

/** What INITIALIZE FOR (CAPP) PURCHASE answers, parsed. */
export interface PurchaseInit {
  balanceFen: number;
  offlineAtc: number;
  overdraftLimitFen: number;
  keyVersion: number;
  algorithmId: number;
  random: Uint8Array;
}

/** What INITIALIZE FOR LOAD answers, parsed. */
export interface LoadInit {
  balanceFen: number;
  onlineAtc: number;
  keyVersion: number;
  algorithmId: number;
  random: Uint8Array;
  mac1: Uint8Array;
}

/** Which record an issuer-authorised write targets. */
export type CardRecordKind = 'park-pass-previous' | 'park-pass-current' | 'functions';

export interface CardPort {
  /** Public, keyless read of the whole card (what a terminal reads at the start of a tap): an encoded CardView. */
  readCardView(): CardResponse;
  /** GET BALANCE: balance(4). */
  getBalance(): CardResponse;
  /** GET CHALLENGE: 4 random bytes for the next command MAC. */
  getChallenge(): CardResponse;
  /** READ RECORD of the transaction log, index 1 = most recent: 23 bytes. */
  readLogRecord(index: number): CardResponse;
  /**
   * INITIALIZE FOR PURCHASE (composite = false) or FOR CAPP PURCHASE (composite = true).
   * Answers balance(4) offlineATC(2) overdraftLimit(3) keyVersion(1) algorithmId(1) random(4).
   */
  initializeForPurchase(keyIndex: number, amountFen: number, terminalId: Uint8Array, composite: boolean): CardResponse;
  /** UPDATE CAPP DATA CACHE: the encoded trip record (or park-pass visit) to commit with the next debit. */
  updateCappDataCache(record: Uint8Array): CardResponse;
  /**
   * DEBIT FOR PURCHASE(TSN(4), date(4), time(3), MAC1(4)): answers TAC(4) || MAC2(4). The date
   * and time buffers are the terminal's scratch: read them during the call, keep no reference.
   */
  debitForPurchase(tsn: number, date: Uint8Array, time: Uint8Array, mac1: Uint8Array): CardResponse;
  /** GET TRANSACTION PROVE(type, ATC): answers MAC(4) || TAC(4) (reverse order of DEBIT). */
  getTransactionProve(transactionType: number, atc: number): CardResponse;
  /** INITIALIZE FOR LOAD: balance(4) onlineATC(2) keyVersion(1) algorithmId(1) random(4) MAC1(4). */
  initializeForLoad(keyIndex: number, amountFen: number, terminalId: Uint8Array): CardResponse;
  /** CREDIT FOR LOAD(date(4), time(3), MAC2(4)): answers TAC(4). */
  creditForLoad(date: Uint8Array, time: Uint8Array, mac2: Uint8Array): CardResponse;
  /** APPLICATION BLOCK with a command MAC over the command header (retail MAC, IV = challenge). */
  applicationBlock(mac: Uint8Array): CardResponse;
  /** APPLICATION UNBLOCK with a command MAC by the issuer key. */
  applicationUnblock(mac: Uint8Array): CardResponse;
  /** Issuer-authorised record write (park pass, functions opened) with a command MAC by the issuer key. */
  updateRecord(kind: CardRecordKind, record: Uint8Array, mac: Uint8Array): CardResponse;
}
