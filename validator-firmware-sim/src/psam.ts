/**
 * The software PSAM: the validator's security module (DOMAIN.md section 3, ARCHITECTURE habit 7).
 * It holds the purchase and block (maintenance) master keys per key version and the terminal
 * identity, computes MAC1, verifies MAC2 and MACs APPLICATION BLOCK. Keys live in private
 * fields and never leave: no getter, and toJSON / util.inspect show no key material.
 *
 * By design it has no load key and no TAC key, so it cannot create money (load MAC2) nor forge
 * a card's proof of debit (TAC) — there is no method for either.
 *
 * Other issuers (issue 18): a T-Union PSAM also holds the purchase master keys of every issuer on
 * the device's allow-list, keyed on the first 4 bytes of the issuer id. They arrive by a
 * key-loading step (`installIssuerPurchaseKeys`, in production a secure-room or SAM-vendor
 * operation), never through sync. It never holds another issuer's block key: foreign cards are
 * refused, never locked.
 *
 * TSN: `tsn` is the serial the next beginPurchase will use; persist it and pass it back as
 * `tsnStart` after a restart so serials never repeat. It wraps at 2^32.
 */
import {
  ALGORITHM_ID,
  HOME_ISSUER_ID,
  allowKeyOfIssuerId,
  KeyUnavailableError,
  APPLICATION_BLOCK_HEADER,
  MAC_BYTES,
  ScheduleCache,
  amountBytesInto,
  bytesToHex,
  commandMacIv,
  constantTimeEqual,
  diversifyKey,
  diversifyKeyInto,
  purchaseMac1DataInto,
  purchaseSessionKeyInto,
  retailMac,
  transactionMacInto,
  type CipherAlgorithm,
  type PsamPort,
  type PurchaseMacRequest,
  type PurchaseMacResult,
} from '#core';

export interface SoftwarePsamOptions {
  /** 6-byte terminal id. */
  terminalId: Uint8Array;
  /** Purchase master keys (16 bytes) by key version. */
  purchaseMasterKeys: ReadonlyMap<number, Uint8Array>;
  /** Application-block master keys (16 bytes) by key version. */
  blockMasterKeys: ReadonlyMap<number, Uint8Array>;
  /** First TSN to use (the persisted `tsn` of the previous run). */
  tsnStart: number;
  /** Diversified purchase keys kept per card (LRU); default 64. */
  dpkCacheSize?: number;
  /** The home issuer, whose keys are the ones above (default HOME_ISSUER_ID, Beijing). */
  homeIssuerId?: string;
}

function copyKeys(keys: ReadonlyMap<number, Uint8Array>, name: string): Map<number, Uint8Array> {
  if (!(keys instanceof Map)) throw new TypeError(`${name} must be a Map of key version to 16-byte key`);
  const out = new Map<number, Uint8Array>();
  for (const [version, key] of keys) {
    if (!Number.isInteger(version) || version < 0 || version > 0xff) throw new RangeError(`${name}: key version must be 0..255, got ${version}`);
    if (!(key instanceof Uint8Array) || key.length !== 16) throw new RangeError(`${name}: key version ${version} must be 16 bytes`);
    out.set(version, new Uint8Array(key));
  }
  return out;
}

export class SoftwarePsam implements PsamPort {
  readonly #terminalId: Uint8Array;
  readonly #purchaseMasterKeys: Map<number, Uint8Array>;
  readonly #blockMasterKeys: Map<number, Uint8Array>;
  /** The home issuer's allow-list key (first 4 bytes of its id). */
  readonly #homeIssuerKey: number;
  /** Other issuers' purchase master keys by allow-list key, then key version (key loading). */
  readonly #foreignPurchaseKeys = new Map<number, Map<number, Uint8Array>>();
  /**
   * Diversified purchase keys per (key version, algorithm, card serial), bounded LRU: a card
   * tapping again (tearing recovery, the next journey) skips re-diversifying. Keyed by bytes,
   * and a full cache rediversifies into the evicted key's buffer: no garbage per tap.
   */
  readonly #dpkCache: ScheduleCache<Uint8Array>;
  #tsn: number;

  // The open purchase session, kept in fields (no session object per tap). The session key
  // lives in a reused buffer; #sessionKey is its view of the algorithm's length.
  #sessionOpen = false;
  #sessionAmountFen = 0;
  #sessionAlgorithm: CipherAlgorithm = '3des';
  #sessionKey: Uint8Array;
  readonly #sessionKey8: Uint8Array;
  readonly #sessionKey16: Uint8Array;

  // Scratch buffers of the tap path, private to this PSAM and never handed out.
  /** (issuer key, keyVersion, algorithm id, card diversifier): the DPK cache key. */
  readonly #dpkId = new Uint8Array(14);
  readonly #mac1Data = new Uint8Array(18);
  readonly #amount = new Uint8Array(4);
  readonly #mac = new Uint8Array(MAC_BYTES);
  /** The key version and algorithm of the DPK the cache is building (set just before get). */
  #dpkMaster: Uint8Array | null = null;
  #dpkAlgorithm: CipherAlgorithm = '3des';
  #dpkSerial: Uint8Array = new Uint8Array(8);

  constructor(options: SoftwarePsamOptions) {
    if (!(options.terminalId instanceof Uint8Array) || options.terminalId.length !== 6) throw new RangeError('terminalId must be 6 bytes');
    if (!Number.isInteger(options.tsnStart) || options.tsnStart < 0 || options.tsnStart > 0xffffffff) {
      throw new RangeError(`tsnStart must be a u32, got ${options.tsnStart}`);
    }
    const cacheSize = options.dpkCacheSize ?? 64;
    if (!Number.isInteger(cacheSize) || cacheSize < 1 || cacheSize > 100_000) throw new RangeError('dpkCacheSize must be 1..100000');
    this.#terminalId = new Uint8Array(options.terminalId);
    this.terminalIdHex = bytesToHex(this.#terminalId);
    this.#purchaseMasterKeys = copyKeys(options.purchaseMasterKeys, 'purchaseMasterKeys');
    this.#blockMasterKeys = copyKeys(options.blockMasterKeys, 'blockMasterKeys');
    this.#homeIssuerKey = allowKeyOfIssuerId(options.homeIssuerId ?? HOME_ISSUER_ID);
    this.#tsn = options.tsnStart;
    const sessionKey = new Uint8Array(16);
    this.#sessionKey16 = sessionKey;
    this.#sessionKey8 = sessionKey.subarray(0, 8);
    this.#sessionKey = this.#sessionKey8;
    this.#dpkCache = new ScheduleCache<Uint8Array>(
      cacheSize,
      () => diversifyKeyInto(this.#dpkMaster!, this.#dpkSerial, this.#dpkAlgorithm, new Uint8Array(16)),
      (_id, recycled) => diversifyKeyInto(this.#dpkMaster!, this.#dpkSerial, this.#dpkAlgorithm, recycled),
    );
  }

  /** A copy: callers cannot change the PSAM's identity. */
  get terminalId(): Uint8Array {
    return new Uint8Array(this.#terminalId);
  }

  /** The terminal id as upper-case hex (no key material), for the journal; computed once. */
  readonly terminalIdHex: string;

  /** The TSN the next purchase will use (persist it; pass it back as tsnStart). */
  get tsn(): number {
    return this.#tsn;
  }

  /** Key versions this PSAM can serve (purchase keys). */
  keyVersions(): number[] {
    return [...this.#purchaseMasterKeys.keys()].sort((a, b) => a - b);
  }

  /**
   * The key-loading step for another issuer (issue 18): that issuer's purchase master keys by key
   * version, replacing any loaded before. Its cards can be charged once its issuer is also on the
   * device's allow-list (the two are independent: lists come by sync, keys never do).
   */
  installIssuerPurchaseKeys(issuerId: string, purchaseMasterKeys: ReadonlyMap<number, Uint8Array>): void {
    const key = allowKeyOfIssuerId(issuerId);
    if (key === this.#homeIssuerKey) throw new RangeError("the home issuer's keys are the PSAM's own; key loading is for other issuers");
    this.#foreignPurchaseKeys.set(key, copyKeys(purchaseMasterKeys, `purchase keys of issuer ${issuerId}`));
  }

  /** Other issuers whose purchase keys are loaded, as allow-list keys (8 hex digits). */
  installedIssuers(): string[] {
    return [...this.#foreignPurchaseKeys.keys()].map((k) => k.toString(16).toUpperCase().padStart(8, '0')).sort();
  }

  beginPurchase(request: PurchaseMacRequest): PurchaseMacResult {
    this.#sessionOpen = false;
    const algorithm = request.algorithm;
    const dpk = this.#dpk(request.cardSerial, request.keyVersion, algorithm, request.issuerKey);
    const tsn = this.#tsn;
    this.#tsn = (this.#tsn + 1) >>> 0;
    const sessionKey = algorithm === 'sm4' ? this.#sessionKey16 : this.#sessionKey8;
    purchaseSessionKeyInto(dpk, request.cardRandom, request.offlineAtc, tsn, algorithm, sessionKey);
    const data = purchaseMac1DataInto(request.amountFen, request.transactionType, this.#terminalId, request.date, request.time, this.#mac1Data);
    // MAC1 goes to the card and stays the caller's: the one allocation here.
    const mac1 = transactionMacInto(sessionKey, data, algorithm, new Uint8Array(MAC_BYTES), 0);
    this.#sessionKey = sessionKey;
    this.#sessionAmountFen = request.amountFen;
    this.#sessionAlgorithm = algorithm;
    this.#sessionOpen = true;
    return { tsn, mac1 };
  }

  verifyMac2(mac2: Uint8Array): boolean {
    const open = this.#sessionOpen;
    this.#sessionOpen = false;
    if (!open || !(mac2 instanceof Uint8Array) || mac2.length !== 4) return false;
    const expected = transactionMacInto(this.#sessionKey, amountBytesInto(this.#sessionAmountFen, this.#amount), this.#sessionAlgorithm, this.#mac, 0);
    // The session is over: its key does not linger in the buffer.
    this.#sessionKey16.fill(0);
    return constantTimeEqual(expected, mac2);
  }

  verifyRecoveredMac2(request: PurchaseMacRequest & { tsn: number }, mac2: Uint8Array): boolean {
    if (!(mac2 instanceof Uint8Array) || mac2.length !== 4) return false;
    const algorithm = request.algorithm;
    const dpk = this.#dpk(request.cardSerial, request.keyVersion, algorithm, request.issuerKey);
    // Its own key buffer: an open purchase session keeps its key.
    const sessionKey = purchaseSessionKeyInto(
      dpk,
      request.cardRandom,
      request.offlineAtc,
      request.tsn,
      algorithm,
      new Uint8Array(algorithm === 'sm4' ? 16 : 8),
    );
    const expected = transactionMacInto(sessionKey, amountBytesInto(request.amountFen, this.#amount), algorithm, this.#mac, 0);
    return constantTimeEqual(expected, mac2);
  }

  blockCommandMac(cardSerial: Uint8Array, keyVersion: number, algorithm: CipherAlgorithm, challenge: Uint8Array): Uint8Array {
    const master = this.#blockMasterKeys.get(keyVersion);
    if (master === undefined) throw new KeyUnavailableError(`PSAM holds no block key version ${keyVersion}`);
    const key = diversifyKey(master, cardSerial, algorithm);
    return retailMac(key, commandMacIv(challenge, algorithm), APPLICATION_BLOCK_HEADER, algorithm);
  }

  toJSON(): unknown {
    return {
      terminalId: bytesToHex(this.#terminalId),
      tsn: this.#tsn,
      keyVersions: this.keyVersions(),
      installedIssuers: this.installedIssuers(),
      keys: '[redacted]',
    };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SoftwarePsam { terminalId: '${bytesToHex(this.#terminalId)}', tsn: ${this.#tsn}, keys: [redacted] }`;
  }

  /**
   * Diversified purchase key for a card, from the bounded cache. The returned buffer belongs to
   * the cache (it may be rediversified for another card later): use it at once.
   */
  #dpk(cardSerial: Uint8Array, keyVersion: number, algorithm: CipherAlgorithm, issuerKey: number | null | undefined): Uint8Array {
    if (!(cardSerial instanceof Uint8Array) || cardSerial.length !== 8) throw new RangeError('cardSerial must be 8 bytes');
    if (algorithm !== '3des' && algorithm !== 'sm4') throw new TypeError(`algorithm must be '3des' or 'sm4', got ${String(algorithm)}`);
    // No issuer (older callers, pending purchases kept by older firmware) means the home issuer.
    const issuer = issuerKey == null ? this.#homeIssuerKey : issuerKey >>> 0;
    let master: Uint8Array | undefined;
    if (issuer === this.#homeIssuerKey) {
      master = this.#purchaseMasterKeys.get(keyVersion);
      if (master === undefined) throw new KeyUnavailableError(`PSAM holds no purchase key version ${keyVersion}`);
    } else {
      const keys = this.#foreignPurchaseKeys.get(issuer);
      if (keys === undefined) throw new KeyUnavailableError(`PSAM holds no purchase keys of issuer ${issuer.toString(16).padStart(8, '0')} (not loaded)`);
      master = keys.get(keyVersion);
      if (master === undefined)
        throw new KeyUnavailableError(`PSAM holds no purchase key version ${keyVersion} of issuer ${issuer.toString(16).padStart(8, '0')}`);
    }
    const id = this.#dpkId;
    id[0] = issuer >>> 24;
    id[1] = (issuer >>> 16) & 0xff;
    id[2] = (issuer >>> 8) & 0xff;
    id[3] = issuer & 0xff;
    id[4] = keyVersion;
    id[5] = ALGORITHM_ID[algorithm];
    id.set(cardSerial, 6);
    this.#dpkMaster = master;
    this.#dpkAlgorithm = algorithm;
    this.#dpkSerial = cardSerial;
    return this.#dpkCache.get(id);
  }
}
