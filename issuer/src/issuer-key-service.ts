/**
 * The issuer's key service (software HSM): holds the master keys of every key version and
 * answers only with MACs, verdicts and — at issuance — a personalised card image. It satisfies
 * the gateway's IssuerKeysPort (gateway/src/keys/issuer-keys-port.ts) structurally: issuer/
 * does not import the gateway (test/architecture/folder-boundaries.test.ts). Cards carry their
 * key version, so rotation is: add a version, make it current for new cards, keep the old ones
 * for cards already in the field.
 */
import {
  APPLICATION_UNBLOCK_HEADER,
  DEFAULT_APP_START_DATE,
  HOME_ISSUER_ID,
  KeyUnavailableError,
  LIMITS,
  assertCardNo,
  cardSerialFromCardNo,
  commandMacIv,
  constantTimeEqual,
  diversifyKey,
  diversifyKeyInto,
  emptyParkPass,
  emptyTripRecord,
  isCardRecordKind,
  loadMac1Data,
  loadMac2Data,
  loadSessionKey,
  prepareTransactionMacKey,
  retailMac,
  sessionKeyBytes,
  tacSessionKey,
  tacSessionKeyInto,
  transactionDateBytes,
  transactionMac,
  transactionMacWithKeyInto,
  transactionTimeBytes,
  updateRecordMacData,
  validateCardImage,
  type CardImage,
  type CardView,
  type CipherAlgorithm,
  type LoadAuthorizationRequest,
  type PersonalizeRequest,
  type TacCheck,
  type TransactionMacKey,
} from '#core';

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

export interface IssuerKeyServiceOptions {
  /**
   * The T-Union issuer these keys belong to (16 hex digits; default the home issuer, Beijing).
   * A key service personalises only its own issuer's cards: another city's cards are made by
   * that city's key service (issue 18: each issuer has its own simulated key set).
   */
  issuerId?: string;
  /**
   * Cards whose TAC key (diversified from the TAC master key, ready to MAC) is kept for the next
   * TAC of the same card, least recently used out. Default DEFAULT_TAC_KEY_CACHE_CARDS; 0 keeps
   * none (every TAC derives its card's key again).
   */
  tacKeyCacheCards?: number;
}

/** About 14 MB of TAC keys (measured: 9.4 MB heap + 4.2 MB array buffers for 32,768 cards). */
export const DEFAULT_TAC_KEY_CACHE_CARDS = 32_768;

/** One card's TAC key, for the key version and algorithm it was derived under. */
interface TacKeyEntry {
  keyVersion: number;
  algorithm: CipherAlgorithm;
  key: TransactionMacKey;
}

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

export class IssuerKeyService {
  readonly currentKeyVersion: number;
  /** The issuer whose keys these are (16 upper-case hex digits). */
  readonly issuerId: string;
  readonly #keySets: Map<number, MasterKeySet>;
  /**
   * Per-card TAC keys by card number (sync ingest verifies every debit's TAC, and a card taps
   * again and again: deriving its key costs two 3DES blocks and a key schedule). An entry is
   * used only for the key version and algorithm it was derived under; another version or
   * algorithm for the card derives afresh and replaces it. Map order = recency (a hit moves the
   * entry to the end); when full, the oldest entry's schedule is rebuilt for the new card. The
   * keys stay in here: nothing returns them. Null when disabled.
   */
  readonly #tacKeys: Map<string, TacKeyEntry> | null;
  readonly #tacKeyCapacity: number;
  /** Scratch for a derivation (never escapes a call; zeroed after use). */
  readonly #dtk = new Uint8Array(16);
  readonly #sessionKey8 = new Uint8Array(8);
  readonly #sessionKey16 = new Uint8Array(16);
  readonly #mac = new Uint8Array(4);
  /** Counters for tests and benches. */
  readonly tacKeyCacheStats = { hits: 0, misses: 0 };

  private constructor(keySets: Map<number, MasterKeySet>, currentKeyVersion: number, tacKeyCacheCards: number, issuerId: string) {
    this.#keySets = keySets;
    this.issuerId = issuerId;
    this.currentKeyVersion = currentKeyVersion;
    this.#tacKeyCapacity = tacKeyCacheCards;
    this.#tacKeys = tacKeyCacheCards > 0 ? new Map() : null;
  }

  /** Copies the key sets in; `currentKeyVersion` (default: the highest) is used for new cards. */
  static fromKeySets(keySets: ReadonlyMap<number, MasterKeySet>, currentKeyVersion?: number, options: IssuerKeyServiceOptions = {}): IssuerKeyService {
    if (!(keySets instanceof Map) || keySets.size === 0) throw new RangeError('at least one master key set is required');
    const cacheCards = options.tacKeyCacheCards ?? DEFAULT_TAC_KEY_CACHE_CARDS;
    if (!Number.isSafeInteger(cacheCards) || cacheCards < 0) throw new RangeError(`tacKeyCacheCards must be a non-negative integer, got ${cacheCards}`);
    const copy = new Map<number, MasterKeySet>();
    for (const [version, set] of keySets) copy.set(version, copyKeySet(version, set));
    const current = currentKeyVersion ?? Math.max(...copy.keys());
    if (!copy.has(current)) throw new RangeError(`current key version ${current} has no key set`);
    const issuerId = (options.issuerId ?? HOME_ISSUER_ID).toUpperCase();
    if (!/^[0-9A-F]{16}$/.test(issuerId)) throw new RangeError(`issuerId must be 16 hex digits, got ${JSON.stringify(options.issuerId)}`);
    return new IssuerKeyService(copy, current, cacheCards, issuerId);
  }

  /** Cards whose TAC key is cached now (at most the configured capacity). */
  get tacKeyCacheSize(): number {
    return this.#tacKeys?.size ?? 0;
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
    if (request.issuerId !== undefined && request.issuerId.toUpperCase() !== this.issuerId) {
      throw new RangeError(`these keys belong to issuer ${this.issuerId}, not ${request.issuerId}: each issuer personalises its own cards`);
    }
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
      issuerId: this.issuerId,
      startDate: request.startDate ?? Math.min(DEFAULT_APP_START_DATE, request.expiryDate),
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
    if (this.#tacKeys === null) {
      const dtk = diversifyKey(set.tac, cardSerialFromCardNo(check.cardNo), check.algorithm);
      return constantTimeEqual(transactionMac(tacSessionKey(dtk, check.algorithm), check.data, check.algorithm), check.tac);
    }
    const key = this.#cachedTacKey(this.#tacKeys, set, check.cardNo, check.keyVersion, check.algorithm);
    return constantTimeEqual(transactionMacWithKeyInto(key, check.data, this.#mac, 0), check.tac);
  }

  unblockCommandMac(card: CardKeyRef, challenge: Uint8Array): Uint8Array {
    return this.#commandMac(card, challenge, APPLICATION_UNBLOCK_HEADER);
  }

  recordWriteMac(card: CardKeyRef, challenge: Uint8Array, kind: string, record: Uint8Array): Uint8Array {
    if (!isCardRecordKind(kind)) throw new RangeError(`unknown record kind ${kind}`);
    return this.#commandMac(card, challenge, updateRecordMacData(kind, record));
  }

  toJSON(): unknown {
    return { issuerId: this.issuerId, currentKeyVersion: this.currentKeyVersion, keyVersions: this.keyVersions(), keys: '[redacted]' };
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

  /** The card's TAC key for (keyVersion, algorithm), from the cache or derived (and cached). */
  #cachedTacKey(cache: Map<string, TacKeyEntry>, set: MasterKeySet, cardNo: string, keyVersion: number, algorithm: CipherAlgorithm): TransactionMacKey {
    const found = cache.get(cardNo);
    if (found !== undefined && found.keyVersion === keyVersion && found.algorithm === algorithm) {
      this.tacKeyCacheStats.hits++;
      cache.delete(cardNo);
      cache.set(cardNo, found);
      return found.key;
    }
    this.tacKeyCacheStats.misses++;
    // Derived (and every input checked) before the cache is touched: a throw leaves it as it was.
    const sessionKey = sessionKeyBytes(algorithm) === 8 ? this.#sessionKey8 : this.#sessionKey16;
    try {
      diversifyKeyInto(set.tac, cardSerialFromCardNo(cardNo), algorithm, this.#dtk);
      tacSessionKeyInto(this.#dtk, algorithm, sessionKey);
      // The same card under another version or algorithm gives up its entry; else, when full,
      // the least recently used entry is recycled.
      let recycled: TacKeyEntry | undefined = found;
      if (recycled !== undefined) {
        cache.delete(cardNo);
      } else if (cache.size >= this.#tacKeyCapacity) {
        const oldest = cache.keys().next().value as string;
        recycled = cache.get(oldest);
        cache.delete(oldest);
      }
      const key = prepareTransactionMacKey(sessionKey, algorithm, recycled?.key);
      const entry: TacKeyEntry = recycled ?? { keyVersion, algorithm, key };
      entry.keyVersion = keyVersion;
      entry.algorithm = algorithm;
      entry.key = key;
      cache.set(cardNo, entry);
      return key;
    } finally {
      this.#dtk.fill(0);
      sessionKey.fill(0);
    }
  }

  #set(version: number): MasterKeySet {
    const set = this.#keySets.get(version);
    if (set === undefined) throw new KeyUnavailableError(`no master keys for key version ${version}`);
    return set;
  }
}
