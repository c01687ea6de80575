/**
 * What is asked of the issuer's keys (DOMAIN.md section 3): personalise a card, authorise a
 * load (check MAC1, give MAC2), check a TAC. Plain data shared by the gateway's port
 * (gateway/src/keys/issuer-keys-port.ts) and the software key service that answers it
 * (issuer/src/issuer-key-service.ts), so neither has to import the other.
 */
import type { CipherAlgorithm } from '../crypto/algorithm.ts';

export interface PersonalizeRequest {
  cardNo: string;
  issuerCode: string;
  /** T-Union issuer id (16 hex digits) for file 0x15; default the home issuer's (HOME_ISSUER_ID). */
  issuerId?: string;
  /** Application start date YYYYMMDD for file 0x15; default DEFAULT_APP_START_DATE. */
  startDate?: number;
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
