/**
 * Deterministic keys, cards, PSAMs and issuers for purse tests (exported for other helpers'
 * tests too). Nothing here is random: the card's randomness is a seeded generator.
 */
import { CardSimulator, cardSerialFromCardNo, diversifyKey, tacSessionKey, transactionMac, type CardImage, type CipherAlgorithm } from '#core';
import { IssuerKeyService, type MasterKeySet } from '#issuer/issuer-key-service';
import { SoftwarePsam } from '#validator/psam';

export const ALGORITHMS: readonly CipherAlgorithm[] = ['3des', 'sm4'];
export const TERMINAL_ID = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66);
export const OTHER_TERMINAL_ID = Uint8Array.of(0x99, 0x88, 0x77, 0x66, 0x55, 0x44);
export const LOAD_TERMINAL_ID = Uint8Array.of(0x00, 0x00, 0x00, 0x00, 0x01, 0x01);
export const TEST_CARD_NO = '1000754300000015';

function patternKey(seed: number): Uint8Array {
  const key = new Uint8Array(16);
  for (let i = 0; i < 16; i++) key[i] = (seed * 31 + i * 17 + 7) & 0xff;
  return key;
}

/** Master key sets for versions 1 and 2, fixed bytes (never use outside tests). */
export function testKeySets(): Map<number, MasterKeySet> {
  const sets = new Map<number, MasterKeySet>();
  for (const version of [1, 2]) {
    const base = version * 10;
    sets.set(version, {
      purchase: patternKey(base + 1),
      load: patternKey(base + 2),
      tac: patternKey(base + 3),
      block: patternKey(base + 4),
      issuer: patternKey(base + 5),
    });
  }
  return sets;
}

/**
 * A card's genuine TAC over `data`, derived here from the master TAC key with core only
 * (diversify, TAC session key, MAC): the reference the issuer key service's verdicts are checked
 * against.
 */
export function genuineTacFromMaster(
  keySets: Map<number, MasterKeySet>,
  cardNo: string,
  keyVersion: number,
  algorithm: CipherAlgorithm,
  data: Uint8Array,
): Uint8Array {
  const dtk = diversifyKey(keySets.get(keyVersion)!.tac, cardSerialFromCardNo(cardNo), algorithm);
  return transactionMac(tacSessionKey(dtk, algorithm), data, algorithm);
}

export function makeIssuer(currentKeyVersion = 1): IssuerKeyService {
  return IssuerKeyService.fromKeySets(testKeySets(), currentKeyVersion);
}

/** Another city's issuer (issue 18): its own master keys (different bytes from the home ones) and issuer id. */
export function makeForeignIssuer(issuerId: string, seed = 7): IssuerKeyService {
  const sets = new Map<number, MasterKeySet>();
  const base = 100 + seed * 10;
  sets.set(1, {
    purchase: patternKey(base + 1),
    load: patternKey(base + 2),
    tac: patternKey(base + 3),
    block: patternKey(base + 4),
    issuer: patternKey(base + 5),
  });
  return IssuerKeyService.fromKeySets(sets, 1, { issuerId });
}

export function makePsam(issuer: IssuerKeyService, terminalId: Uint8Array = TERMINAL_ID, tsnStart = 1): SoftwarePsam {
  return new SoftwarePsam({ terminalId, tsnStart, ...issuer.psamKeyMaterial() });
}

/** xorshift32: 4 deterministic bytes per call. */
export function seededRandom(seed = 0x1234567): () => Uint8Array {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return Uint8Array.of(state >>> 24, (state >>> 16) & 0xff, (state >>> 8) & 0xff, state & 0xff);
  };
}

export interface TestCardOptions {
  algorithm?: CipherAlgorithm;
  /** City code for the card's issuer code (default 1000: Beijing). */
  issuerCode?: string;
  cardNo?: string;
  /** Effective balance to start with (negative = overdraft used). */
  effectiveBalanceFen?: number;
  overdraftLimitFen?: number;
  seed?: number;
  locked?: boolean;
}

export function makeCardImage(issuer: IssuerKeyService, options: TestCardOptions = {}): CardImage {
  const image = issuer.personalizeCard({
    cardNo: options.cardNo ?? TEST_CARD_NO,
    issuerCode: options.issuerCode ?? '1000',
    generation: 3,
    profile: 'adult',
    algorithm: options.algorithm ?? '3des',
    expiryDate: 20361231,
    overdraftLimitFen: options.overdraftLimitFen ?? 2_000,
    transitOpened: true,
    suburbanOpened: false,
  });
  const effective = options.effectiveBalanceFen ?? 0;
  image.balanceFen = Math.max(effective, 0);
  image.overdraftUsedFen = Math.max(-effective, 0);
  image.locked = options.locked ?? false;
  return image;
}

export function makeCard(issuer: IssuerKeyService, options: TestCardOptions = {}): CardSimulator {
  return new CardSimulator(makeCardImage(issuer, options), seededRandom(options.seed));
}

export function effective(card: CardSimulator): number {
  const image = card.image();
  return image.balanceFen - image.overdraftUsedFen;
}
