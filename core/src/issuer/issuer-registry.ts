/**
 * Card issuers (issue 18, DOMAIN.md section 8): the home issuer (Beijing) and any number of
 * other T-Union issuers. Pure data and lookups, shared by the card simulator's personalisation,
 * the validator's allow-list, the gateway's refusals and the clearing files between issuers.
 *
 * An issuer is known by its 8-byte issuer id (file 0x15), whose bytes 2-3 are its city code
 * (BCD) and whose first 4 bytes are the allow-list key real terminals use [S C2]; and by the
 * 8-digit product prefix its 19-digit card numbers start with [S TUM card_name.txt].
 * The home issuer also owns the legacy 16-digit range (numbers issued before T-Union numbers).
 *
 * The real issuer ids of other cities are not public here [U]: the defaults follow Beijing's
 * pattern `01 01 <city> FF FF FF FF` [P]; operators configure the real ones.
 */
import { CardFormatError } from '../card/card-format-error.ts';
import { TUNION_CARD_NO_DIGITS, assertCardNo } from '../card/card-number.ts';
import { allowKeyOfIssuerId, cityCodeOfIssuerId } from '../card/tunion-files.ts';

export interface Issuer {
  /** 8-byte issuer id, 16 upper-case hex digits (file 0x15 offset 0). */
  issuerId: string;
  /** Short stable name used in problems, files and reports ('beijing', 'shanghai'). */
  name: string;
  /** Display name. */
  displayName: string;
  /** GB/T 13497 city code, 4 digits (= issuer id bytes 2-3). */
  cityCode: string;
  /** First 8 digits of its 19-digit card numbers. */
  productPrefix: string;
}

/** The home issuer: Beijing, issuer id 01 01 10 00 FF FF FF FF [S HCE, C2], city 1000, product 31051700 [S TUM]. */
export const HOME_ISSUER: Issuer = Object.freeze({
  issuerId: '01011000FFFFFFFF',
  name: 'beijing',
  displayName: '北京 Beijing (北京市政交通一卡通)',
  cityCode: '1000',
  productPrefix: '31051700',
});

/**
 * Other T-Union issuers known by default (city codes and product prefixes [S TUM]; issuer ids
 * [P], see the header). Any number may be configured.
 */
export const DEFAULT_FOREIGN_ISSUERS: readonly Issuer[] = Object.freeze([
  Object.freeze({ issuerId: '01012900FFFFFFFF', name: 'shanghai', displayName: '上海 Shanghai (上海公共交通卡)', cityCode: '2900', productPrefix: '31047700' }),
  Object.freeze({ issuerId: '01015840FFFFFFFF', name: 'shenzhen', displayName: '深圳 Shenzhen (深圳通)', cityCode: '5840', productPrefix: '31048704' }),
  Object.freeze({ issuerId: '01011121FFFFFFFF', name: 'tianjin', displayName: '天津 Tianjin (天津城市卡)', cityCode: '1121', productPrefix: '31049102' }),
]);

/** Checks one issuer record; throws a CardFormatError naming the field. */
export function validateIssuer(issuer: Issuer): void {
  if (issuer === null || typeof issuer !== 'object') throw new CardFormatError('issuer must be an object');
  if (typeof issuer.issuerId !== 'string' || !/^[0-9A-F]{16}$/.test(issuer.issuerId)) {
    throw new CardFormatError(`issuer id must be 16 upper-case hex digits, got ${JSON.stringify(issuer.issuerId)}`);
  }
  if (cityCodeOfIssuerId(issuer.issuerId) !== issuer.cityCode)
    throw new CardFormatError(`issuer ${issuer.name}: city code ${issuer.cityCode} is not issuer id bytes 2-3`);
  if (typeof issuer.name !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(issuer.name))
    throw new CardFormatError(`issuer name must be a short lower-case word, got ${JSON.stringify(issuer.name)}`);
  if (typeof issuer.displayName !== 'string' || issuer.displayName.length === 0 || issuer.displayName.length > 100)
    throw new CardFormatError('issuer displayName must be 1..100 characters');
  if (typeof issuer.productPrefix !== 'string' || !/^31[0-9]{6}$/.test(issuer.productPrefix)) {
    throw new CardFormatError(`issuer ${issuer.name}: product prefix must be 8 digits starting 31, got ${JSON.stringify(issuer.productPrefix)}`);
  }
}

/**
 * The issuers one system knows: the home issuer plus others. Lookups by issuer id, allow-list
 * key (first 4 bytes), name and card number. Immutable once built.
 */
export class IssuerRegistry {
  readonly home: Issuer;
  readonly #all: readonly Issuer[];
  readonly #byId = new Map<string, Issuer>();
  readonly #byName = new Map<string, Issuer>();
  readonly #byPrefix = new Map<string, Issuer>();
  readonly #byAllowKey = new Map<number, Issuer>();

  constructor(home: Issuer = HOME_ISSUER, others: readonly Issuer[] = DEFAULT_FOREIGN_ISSUERS) {
    const all = [home, ...others].map((issuer) => {
      validateIssuer(issuer);
      return Object.freeze({ ...issuer });
    });
    for (const issuer of all) {
      const key = allowKeyOfIssuerId(issuer.issuerId);
      if (this.#byId.has(issuer.issuerId)) throw new CardFormatError(`issuer id ${issuer.issuerId} is configured twice`);
      if (this.#byName.has(issuer.name)) throw new CardFormatError(`issuer name ${issuer.name} is configured twice`);
      if (this.#byPrefix.has(issuer.productPrefix)) throw new CardFormatError(`product prefix ${issuer.productPrefix} is configured twice`);
      if (this.#byAllowKey.has(key))
        throw new CardFormatError(`issuers ${this.#byAllowKey.get(key)?.name} and ${issuer.name} share the allow-list key (issuer id bytes 0-3)`);
      this.#byId.set(issuer.issuerId, issuer);
      this.#byName.set(issuer.name, issuer);
      this.#byPrefix.set(issuer.productPrefix, issuer);
      this.#byAllowKey.set(key, issuer);
    }
    this.#all = Object.freeze(all);
    this.home = all[0];
  }

  /** Every issuer, home first. */
  all(): readonly Issuer[] {
    return this.#all;
  }

  /** Issuers other than home. */
  foreign(): readonly Issuer[] {
    return this.#all.slice(1);
  }

  byIssuerId(issuerId: string): Issuer | null {
    return this.#byId.get(issuerId.toUpperCase()) ?? null;
  }

  byName(name: string): Issuer | null {
    return this.#byName.get(name) ?? null;
  }

  byAllowKey(key: number): Issuer | null {
    return this.#byAllowKey.get(key) ?? null;
  }

  byProductPrefix(prefix: string): Issuer | null {
    return this.#byPrefix.get(prefix) ?? null;
  }

  /**
   * The issuer of a card number: the home issuer for a legacy 16-digit number, else the one
   * whose product prefix starts the 19 digits; null for a T-Union number of no known issuer.
   * Throws a CardFormatError for something that is not a card number.
   */
  issuerOfCardNo(cardNo: string): Issuer | null {
    assertCardNo(cardNo);
    if (cardNo.length !== TUNION_CARD_NO_DIGITS) return this.home;
    return this.#byPrefix.get(cardNo.slice(0, 8)) ?? null;
  }

  isHome(issuer: Issuer | null): boolean {
    return issuer !== null && issuer.issuerId === this.home.issuerId;
  }

  /** True when the card number belongs to the home issuer (legacy range or its product prefix). */
  isHomeCardNo(cardNo: string): boolean {
    return this.isHome(this.issuerOfCardNo(cardNo));
  }
}

/** The registry with the built-in defaults (home + DEFAULT_FOREIGN_ISSUERS). */
export const DEFAULT_ISSUER_REGISTRY = new IssuerRegistry();
