/**
 * The gateway reaches keys only through this port (ARCHITECTURE habit 7). The software
 * implementation (issuer-key-service.ts) holds the master keys; an HSM adapter would too.
 * No method returns a master key or a diversified card key except `personalizeCard`, which
 * is how a card's secure element is loaded at issuance (the card image goes to the card).
 */
import type { CardImage, CardView, CipherAlgorithm } from '#core';

export interface PersonalizeRequest {
  cardNo: string;
  issuerCode: string;
  generation: 1 | 2 | 3;
  profile: 'adult' | 'student' | 'senior';
  algorithm: CipherAlgorithm;
  expiryDate: number;
  overdraftLimitFen: number;
  transitOpened: boolean;
  suburbanOpened: boolean;
}

export interface LoadAuthorizationRequest {
  cardNo: string;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  cardRandom: Uint8Array;
  onlineAtc: number;
  balanceBeforeFen: number;
  amountFen: number;
  terminalId: Uint8Array;
  mac1: Uint8Array;
  date: number;
  time: number;
}

export interface TacCheck {
  cardNo: string;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  /** The exact bytes the TAC covers (purchase or load layout of DOMAIN.md section 3). */
  data: Uint8Array;
  tac: Uint8Array;
}

export interface IssuerKeysPort {
  /** Current master-key version used for new cards. */
  readonly currentKeyVersion: number;
  /** Builds a fresh card image with keys diversified from the current master keys. */
  personalizeCard(request: PersonalizeRequest): CardImage;
  /** Verifies the card's load MAC1; on success returns MAC2 for CREDIT FOR LOAD, else null. */
  authorizeLoad(request: LoadAuthorizationRequest): Uint8Array | null;
  /** True when the TAC is the card's own. */
  verifyTac(check: TacCheck): boolean;
  /** Command MAC for APPLICATION UNBLOCK (IV = card challenge). */
  unblockCommandMac(card: Pick<CardView, 'cardNo' | 'keyVersion' | 'algorithm'>, challenge: Uint8Array): Uint8Array;
  /** Command MAC for an issuer-authorised record write (park pass, functions). */
  recordWriteMac(card: Pick<CardView, 'cardNo' | 'keyVersion' | 'algorithm'>, challenge: Uint8Array, kind: string, record: Uint8Array): Uint8Array;
}
