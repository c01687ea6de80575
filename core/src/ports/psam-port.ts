/**
 * The terminal's security module (PSAM) as core sees it (ARCHITECTURE habit 7: keys stay in
 * their box). It holds the purchase and block master keys and the terminal identity; it
 * never exposes a key, and it cannot compute TACs or load MAC2s (DOMAIN.md section 3, [P]).
 * The software PSAM lives in validator-firmware-sim/.
 */
import type { CipherAlgorithm } from '../crypto/algorithm.ts';

export interface PurchaseMacRequest {
  /** 8-byte key diversifier of the card (the application serial's rightmost 8 bytes). */
  cardSerial: Uint8Array;
  /**
   * The card's issuer (first 4 bytes of its issuer id as a u32): whose purchase keys to use.
   * Absent: the home issuer. A PSAM holds a foreign issuer's keys only after a key-loading step.
   */
  issuerKey?: number;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  cardRandom: Uint8Array;
  offlineAtc: number;
  amountFen: number;
  transactionType: number;
  /** BCD date (4 bytes) and time (3 bytes) of the transaction. */
  date: Uint8Array;
  time: Uint8Array;
}

export interface PurchaseMacResult {
  /** The terminal serial number (TSN) the PSAM assigned to this purchase. */
  tsn: number;
  mac1: Uint8Array;
}

export interface PsamPort {
  /** 6-byte terminal id. */
  readonly terminalId: Uint8Array;
  /**
   * The same terminal id as upper-case hex (bytesToHex), when the PSAM keeps it: the tap's
   * journal records it, and a PSAM that has it saves a copy of the id and a conversion per tap.
   */
  readonly terminalIdHex?: string;
  /**
   * Starts a purchase: takes the next TSN, derives SESPK from the card's DPK, computes MAC1,
   * and keeps the session key for verifyMac2. One purchase session at a time.
   */
  beginPurchase(request: PurchaseMacRequest): PurchaseMacResult;
  /**
   * Verifies the card's MAC2 for the open purchase session (over amount(4)); closes the session.
   * `mac2` (and beginPurchase's date and time) may be the caller's scratch: keep no reference.
   */
  verifyMac2(mac2: Uint8Array): boolean;
  /**
   * Verifies a MAC from GET TRANSACTION PROVE for an interrupted purchase: re-derives the
   * session key from the interrupted transaction's random/ATC/TSN (which the terminal kept).
   */
  verifyRecoveredMac2(request: PurchaseMacRequest & { tsn: number }, mac2: Uint8Array): boolean;
  /** Command MAC for APPLICATION BLOCK over the command header, IV = challenge. */
  blockCommandMac(cardSerial: Uint8Array, keyVersion: number, algorithm: CipherAlgorithm, challenge: Uint8Array): Uint8Array;
}
