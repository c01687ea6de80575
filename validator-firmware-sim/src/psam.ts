/**
 * The software PSAM: the validator's security module (DOMAIN.md section 3, ARCHITECTURE habit 7).
 * It holds the purchase and block (maintenance) master keys per key version and the terminal
 * identity, computes MAC1, verifies MAC2 and MACs APPLICATION BLOCK. Keys live in private
 * fields and never leave: no getter, and toJSON / util.inspect show no key material.
 *
 * By design it has no load key and no TAC key, so it cannot create money (load MAC2) nor forge
 * a card's proof of debit (TAC) — there is no method for either.
 *
 * TSN: `tsn` is the serial the next beginPurchase will use; persist it and pass it back as
 * `tsnStart` after a restart so serials never repeat. It wraps at 2^32.
 */
import {
  KeyUnavailableError,
  APPLICATION_BLOCK_HEADER,
  amountBytes,
  bytesToHex,
  commandMacIv,
  constantTimeEqual,
  diversifyKey,
  purchaseMac1Data,
  purchaseSessionKey,
  retailMac,
  transactionMac,
  type CipherAlgorithm,
  type PsamPort,
  type PurchaseMacRequest,
  type PurchaseMacResult,
} from '../../core/src/index.ts';

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
}

interface OpenSession {
  sessionKey: Uint8Array;
  amountFen: number;
  algorithm: CipherAlgorithm;
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
  readonly #dpkCache = new Map<string, Uint8Array>();
  readonly #dpkCacheSize: number;
  #tsn: number;
  #session: OpenSession | null = null;

  constructor(options: SoftwarePsamOptions) {
    if (!(options.terminalId instanceof Uint8Array) || options.terminalId.length !== 6) throw new RangeError('terminalId must be 6 bytes');
    if (!Number.isInteger(options.tsnStart) || options.tsnStart < 0 || options.tsnStart > 0xffffffff) {
      throw new RangeError(`tsnStart must be a u32, got ${options.tsnStart}`);
    }
    const cacheSize = options.dpkCacheSize ?? 64;
    if (!Number.isInteger(cacheSize) || cacheSize < 1 || cacheSize > 100_000) throw new RangeError('dpkCacheSize must be 1..100000');
    this.#terminalId = new Uint8Array(options.terminalId);
    this.#purchaseMasterKeys = copyKeys(options.purchaseMasterKeys, 'purchaseMasterKeys');
    this.#blockMasterKeys = copyKeys(options.blockMasterKeys, 'blockMasterKeys');
    this.#tsn = options.tsnStart;
    this.#dpkCacheSize = cacheSize;
  }

  /** A copy: callers cannot change the PSAM's identity. */
  get terminalId(): Uint8Array {
    return new Uint8Array(this.#terminalId);
  }

  /** The TSN the next purchase will use (persist it; pass it back as tsnStart). */
  get tsn(): number {
    return this.#tsn;
  }

  /** Key versions this PSAM can serve (purchase keys). */
  keyVersions(): number[] {
    return [...this.#purchaseMasterKeys.keys()].sort((a, b) => a - b);
  }

  beginPurchase(request: PurchaseMacRequest): PurchaseMacResult {
    this.#session = null;
    const dpk = this.#dpk(request.cardSerial, request.keyVersion, request.algorithm);
    const tsn = this.#tsn;
    this.#tsn = (this.#tsn + 1) >>> 0;
    const sessionKey = purchaseSessionKey(dpk, request.cardRandom, request.offlineAtc, tsn, request.algorithm);
    const mac1 = transactionMac(
      sessionKey,
      purchaseMac1Data(request.amountFen, request.transactionType, this.#terminalId, request.date, request.time),
      request.algorithm,
    );
    this.#session = { sessionKey, amountFen: request.amountFen, algorithm: request.algorithm };
    return { tsn, mac1 };
  }

  verifyMac2(mac2: Uint8Array): boolean {
    const session = this.#session;
    this.#session = null;
    if (session === null || !(mac2 instanceof Uint8Array) || mac2.length !== 4) return false;
    return constantTimeEqual(transactionMac(session.sessionKey, amountBytes(session.amountFen), session.algorithm), mac2);
  }

  verifyRecoveredMac2(request: PurchaseMacRequest & { tsn: number }, mac2: Uint8Array): boolean {
    if (!(mac2 instanceof Uint8Array) || mac2.length !== 4) return false;
    const dpk = this.#dpk(request.cardSerial, request.keyVersion, request.algorithm);
    const sessionKey = purchaseSessionKey(dpk, request.cardRandom, request.offlineAtc, request.tsn, request.algorithm);
    return constantTimeEqual(transactionMac(sessionKey, amountBytes(request.amountFen), request.algorithm), mac2);
  }

  blockCommandMac(cardSerial: Uint8Array, keyVersion: number, algorithm: CipherAlgorithm, challenge: Uint8Array): Uint8Array {
    const master = this.#blockMasterKeys.get(keyVersion);
    if (master === undefined) throw new KeyUnavailableError(`PSAM holds no block key version ${keyVersion}`);
    const key = diversifyKey(master, cardSerial, algorithm);
    return retailMac(key, commandMacIv(challenge, algorithm), APPLICATION_BLOCK_HEADER, algorithm);
  }

  toJSON(): unknown {
    return { terminalId: bytesToHex(this.#terminalId), tsn: this.#tsn, keyVersions: this.keyVersions(), keys: '[redacted]' };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SoftwarePsam { terminalId: '${bytesToHex(this.#terminalId)}', tsn: ${this.#tsn}, keys: [redacted] }`;
  }

  /** Diversified purchase key for a card, cached (bounded LRU) so the tap path skips re-diversifying. */
  #dpk(cardSerial: Uint8Array, keyVersion: number, algorithm: CipherAlgorithm): Uint8Array {
    if (!(cardSerial instanceof Uint8Array) || cardSerial.length !== 8) throw new RangeError('cardSerial must be 8 bytes');
    const cacheKey = `${keyVersion}/${algorithm}/${bytesToHex(cardSerial)}`;
    const cached = this.#dpkCache.get(cacheKey);
    if (cached !== undefined) {
      this.#dpkCache.delete(cacheKey);
      this.#dpkCache.set(cacheKey, cached);
      return cached;
    }
    const master = this.#purchaseMasterKeys.get(keyVersion);
    if (master === undefined) throw new KeyUnavailableError(`PSAM holds no purchase key version ${keyVersion}`);
    const dpk = diversifyKey(master, cardSerial, algorithm);
    this.#dpkCache.set(cacheKey, dpk);
    if (this.#dpkCache.size > this.#dpkCacheSize) {
      const oldest = this.#dpkCache.keys().next().value as string;
      this.#dpkCache.delete(oldest);
    }
    return dpk;
  }
}
