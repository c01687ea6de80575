/**
 * The gateway reaches keys only through this port (ARCHITECTURE habit 7). The software
 * implementation (issuer/src/issuer-key-service.ts, which answers it structurally: issuer/ never
 * imports the gateway) holds the master keys; an HSM adapter would too.
 * No method returns a master key or a diversified card key except `personalizeCard`, which
 * is how a card's secure element is loaded at issuance (the card image goes to the card).
 */
import type { CardImage, CardView, LoadAuthorizationRequest, PersonalizeRequest, TacCheck } from '#core';

export type { LoadAuthorizationRequest, PersonalizeRequest, TacCheck } from '#core';

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
