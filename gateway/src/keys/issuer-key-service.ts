/**
 * The issuer's key service (software HSM): holds the master keys of every key version and
 * answers only with MACs, verdicts and — at issuance — a personalised card image
 * (IssuerKeysPort). Cards carry their key version, so rotation is: add a version, make it
 * current for new cards, keep the old ones for cards already in the field.
 */
import {
  APPLICATION_UNBLOCK_HEADER,
  KeyUnavailableError,
  LIMITS,
  assertCardNo,
  cardSerialFromCardNo,
  commandMacIv,
  constantTimeEqual,
  diversifyKey,
  emptyParkPass,
  emptyTripRecord,
  isCardRecordKind,
  loadMac1Data,
  loadMac2Data,
  loadSessionKey,
  retailMac,
  tacSessionKey,
  transactionDateBytes,
  transactionMac,
  transactionTimeBytes,
  updateRecordMacData,
  validateCardImage,
  type CardImage,
  type CardView,
  type CipherAlgorithm,
} from '../../../core/src/index.ts';
import type { IssuerKeysPort, LoadAuthorizationRequest, PersonalizeRequest, TacCheck } from './issuer-keys-port.ts';

/** The five master keys of one key version (16 bytes each). */
export interface MasterKeySet {
  purchase: Uint8Array;
  load: Uint8Array;
  tac: Uint8Array;
  block: Uint8Array;
  issuer: Uint8Array;
}

export const MASTER_KEY_NAMES: ReadonlyArray<keyof MasterKeySet> = ['purchase', 'load', 'tac', 'block', 'issuer'];

/** What a PSAM is personalised with: purchase and block master keys only (never load or TAC). */
export interface PsamKeyMaterial {
  purchaseMasterKeys: Map<number, Uint8Array>;
  blockMasterKeys: Map<number, Uint8Array>;
}

type CardKeyRef = Pick<CardView, 'cardNo' | 'keyVersion' | 'algorithm'>;

function copyKeySet(version: number, set: MasterKeySet): MasterKeySet {
  if (!Number.isInteger(version) || version < 0 || version > 0xff) throw new RangeError(`key version must be 0..255, got ${version}`);
  const out = {} as MasterKeySet;
  for (const name of MASTER_KEY_NAMES) {
    const key = set[name];
    if (!(key instanceof Uint8Array) || key.length !== 16) throw new RangeError(`key version ${version}: ${name} master key must be 16 bytes`);
    out[name] = new Uint8Array(key);
  }
  return out;
}

export class IssuerKeyService implements IssuerKeysPort {
  readonly currentKeyVersion: number;
  readonly #keySets: Map<number, MasterKeySet>;

  private constructor(keySets: Map<number, MasterKeySet>, currentKeyVersion: number) {
    this.#keySets = keySets;
    this.currentKeyVersion = currentKeyVersion;
  }

  /** Copies the key sets in; `currentKeyVersion` (default: the highest) is used for new cards. */
  static fromKeySets(keySets: ReadonlyMap<number, MasterKeySet>, currentKeyVersion?: number): IssuerKeyService {
    if (!(keySets instanceof Map) || keySets.size === 0) throw new RangeError('at least one master key set is required');
    const copy = new Map<number, MasterKeySet>();
    for (const [version, set] of keySets) copy.set(version, copyKeySet(version, set));
    const current = currentKeyVersion ?? Math.max(...copy.keys());
    if (!copy.has(current)) throw new RangeError(`current key version ${current} has no key set`);
    return new IssuerKeyService(copy, current);
  }

  keyVersions(): number[] {
    return [...this.#keySets.keys()].sort((a, b) => a - b);
  }

  /**
   * The purchase and block master keys of every version, for loading into a PSAM. In production
   * this is the PSAM personalisation step done in a secure room, never an API call; the software
   * validator gets them this way in development and tests only.
   */
  psamKeyMaterial(): PsamKeyMaterial {
    const purchaseMasterKeys = new Map<number, Uint8Array>();
    const blockMasterKeys = new Map<number, Uint8Array>();
    for (const [version, set] of this.#keySets) {
      purchaseMasterKeys.set(version, new Uint8Array(set.purchase));
      blockMasterKeys.set(version, new Uint8Array(set.block));
    }
    return { purchaseMasterKeys, blockMasterKeys };
  }

  personalizeCard(request: PersonalizeRequest): CardImage {
    assertCardNo(request.cardNo);
    const keyVersion = this.currentKeyVersion;
    const set = this.#set(keyVersion);
    const serial = cardSerialFromCardNo(request.cardNo);
    const algorithm = request.algorithm;
    if (!Number.isInteger(request.overdraftLimitFen) || request.overdraftLimitFen < 0 || request.overdraftLimitFen > 0xffffff) {
      throw new RangeError(`overdraftLimitFen must be 0..16777215, got ${request.overdraftLimitFen}`);
    }
    const image: CardImage = {
      cardNo: request.cardNo,
      issuerCode: request.issuerCode.toUpperCase(),
      generation: request.generation,
      profile: request.profile,
      transitOpened: request.transitOpened,
      suburbanOpened: request.suburbanOpened,
      expiryDate: request.expiryDate,
      balanceFen: 0,
      overdraftUsedFen: 0,
      overdraftLimitFen: request.overdraftLimitFen,
      offlineAtc: 0,
      onlineAtc: 0,
      keyVersion,
      algorithm,
      log: [],
      trip: emptyTripRecord(),
      parkPasses: [emptyParkPass(), emptyParkPass()],
      locked: false,
      keys: {
        purchase: diversifyKey(set.purchase, serial, algorithm),
        load: diversifyKey(set.load, serial, algorithm),
        tac: diversifyKey(set.tac, serial, algorithm),
        block: diversifyKey(set.block, serial, algorithm),
        issuer: diversifyKey(set.issuer, serial, algorithm),
      },
    };
    validateCardImage(image); // assertion before the image leaves for the card
    return image;
  }

  authorizeLoad(request: LoadAuthorizationRequest): Uint8Array | null {
    const set = this.#keySets.get(request.keyVersion);
    if (set === undefined) return null;
    if (!Number.isInteger(request.amountFen) || request.amountFen <= 0 || request.amountFen > LIMITS.maxLoadFen) return null;
    const dlk = diversifyKey(set.load, cardSerialFromCardNo(request.cardNo), request.algorithm);
    const sessionKey = loadSessionKey(dlk, request.cardRandom, request.onlineAtc, request.algorithm);
    const expected = transactionMac(sessionKey, loadMac1Data(request.balanceBeforeFen, request.amountFen, request.terminalId), request.algorithm);
    if (!(request.mac1 instanceof Uint8Array) || !constantTimeEqual(expected, request.mac1)) return null;
    return transactionMac(
      sessionKey,
      loadMac2Data(request.amountFen, request.terminalId, transactionDateBytes(request.date), transactionTimeBytes(request.time)),
      request.algorithm,
    );
  }

  verifyTac(check: TacCheck): boolean {
    const set = this.#keySets.get(check.keyVersion);
    if (set === undefined) return false;
    if (!(check.tac instanceof Uint8Array) || check.tac.length !== 4) return false;
    const dtk = diversifyKey(set.tac, cardSerialFromCardNo(check.cardNo), check.algorithm);
    return constantTimeEqual(transactionMac(tacSessionKey(dtk, check.algorithm), check.data, check.algorithm), check.tac);
  }

  unblockCommandMac(card: CardKeyRef, challenge: Uint8Array): Uint8Array {
    return this.#commandMac(card, challenge, APPLICATION_UNBLOCK_HEADER);
  }

  recordWriteMac(card: CardKeyRef, challenge: Uint8Array, kind: string, record: Uint8Array): Uint8Array {
    if (!isCardRecordKind(kind)) throw new RangeError(`unknown record kind ${kind}`);
    return this.#commandMac(card, challenge, updateRecordMacData(kind, record));
  }

  toJSON(): unknown {
    return { currentKeyVersion: this.currentKeyVersion, keyVersions: this.keyVersions(), keys: '[redacted]' };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `IssuerKeyService { currentKeyVersion: ${this.currentKeyVersion}, keyVersions: [${this.keyVersions().join(', ')}], keys: [redacted] }`;
  }

  #commandMac(card: CardKeyRef, challenge: Uint8Array, data: Uint8Array): Uint8Array {
    const set = this.#set(card.keyVersion);
    const algorithm: CipherAlgorithm = card.algorithm;
    const key = diversifyKey(set.issuer, cardSerialFromCardNo(card.cardNo), algorithm);
    return retailMac(key, commandMacIv(challenge, algorithm), data, algorithm);
  }

  #set(version: number): MasterKeySet {
    const set = this.#keySets.get(version);
    if (set === undefined) throw new KeyUnavailableError(`no master keys for key version ${version}`);
    return set;
  }
}
