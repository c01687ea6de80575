/**
 * Contract of the terminal side of the purchase protocol (DOMAIN.md section 3), implemented
 * in purchase.ts and called by the tap engine. Synchronous: card and PSAM are ports.
 */
import type { CipherAlgorithm } from '../crypto/algorithm.ts';

export interface PurchaseRequest {
  /** 8-byte key diversifier (the application serial's rightmost 8 bytes), key version and algorithm as read from the card. */
  cardSerial: Uint8Array;
  /**
   * The card's issuer as its allow-list key (first 4 bytes of the issuer id, u32): the PSAM picks
   * that issuer's purchase keys (issue 18). Absent: the home issuer.
   */
  issuerKey?: number;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  amountFen: number;
  /** 0x09 composite (CAPP) purchase, with `cappRecord` committed atomically; 0x06 plain purchase. */
  transactionType: number;
  /** Encoded record for UPDATE CAPP DATA CACHE (composite only). */
  cappRecord: Uint8Array | null;
  /** Beijing local date YYYYMMDD and time hhmmss of the transaction. */
  date: number;
  time: number;
}

/** What the terminal keeps about a purchase in flight, so a torn one can be recovered later. */
export interface PendingPurchase {
  cardSerial: Uint8Array;
  /** As in PurchaseRequest; absent (records kept by older firmware): the home issuer. */
  issuerKey?: number;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  amountFen: number;
  transactionType: number;
  /** The offline ATC INITIALIZE returned (before the debit). */
  offlineAtc: number;
  /** Effective balance before, as INITIALIZE reported it. */
  balanceBeforeFen: number;
  cardRandom: Uint8Array;
  tsn: number;
  date: number;
  time: number;
  cappRecord: Uint8Array | null;
}

export type PurchaseOutcome =
  | {
      status: 'debited';
      pending: PendingPurchase;
      tac: Uint8Array;
      /** MAC2 verified by the PSAM. */
      balanceAfterFen: number;
    }
  | { status: 'refused'; sw: number; reason: 'insufficient-balance' | 'blocked' | 'mac-error' | 'key-unsupported' | 'card-error' }
  /** The card went away after INITIALIZE: it may or may not have debited. Keep `pending`. */
  | { status: 'torn'; pending: PendingPurchase }
  /**
   * The card answered a MAC2 that the PSAM rejects: the card is probably not genuine. The
   * card may still have debited itself, so the TAC it answered is kept: the journal records
   * the debit and the back office decides by the TAC (a bad TAC is quarantined, a good one
   * is cleared), so no money moves without a record.
   */
  | { status: 'mac2-invalid'; pending: PendingPurchase; tac: Uint8Array; balanceAfterFen: number };

export type RecoveryOutcome =
  /** The card's ATC moved past the pending one: the debit happened; proof fetched and MAC verified. */
  | { status: 'debited'; tac: Uint8Array }
  /** The card's ATC did not move: nothing was debited; the purchase can be redone. */
  | { status: 'not-debited' }
  /** The proof could not be obtained or did not verify. */
  | { status: 'failed'; sw: number };
