/**
 * What a validator accepts from other issuers (issue 18, DOMAIN.md section 8): the issuer
 * allow-list, keyed on the first 4 bytes of the issuer id as real firmware does [S C2 cpucard.c
 * steps 2-3], and one policy record per listed issuer, modelled on C2's 26-byte remote-card rate
 * record (FileM5_R: overdraft, maximum balance, maximum debit, discounts) [S C2 cpucard.h].
 * Both are versioned and downloaded at sync like the blacklist; purchase keys never travel
 * with them (a PSAM gets foreign keys by a key-loading step).
 *
 * Discounts stay local [S Beijing-Tianjin 2021 rule]: a foreign card pays Beijing fares and no
 * Beijing discount applies unless its issuer's record says so. Defaults: none, overdraft 0.
 */
import { LIMITS } from '../limits.ts';
import { CardFormatError } from '../card/card-format-error.ts';
import { allowKeyOfIssuerId, allowKeyOfIssuerIdText } from '../card/tunion-files.ts';

export interface IssuerPolicy {
  /** The issuer's 8-byte id (16 upper-case hex digits); its first 4 bytes are the allow-list key. */
  issuerId: string;
  /** Stable short name (issuer registry), for displays and journals. */
  issuerName: string;
  /** Overdraft a validator lets the card use, fen (the smaller of this and the card's own limit). Default 0. */
  overdraftLimitFen: number;
  /** A card holding more than this is refused (C2: 最大余额限制), fen. Default the balance cap. */
  maxBalanceFen: number;
  /** A single charge above this is refused (C2: 最大扣款额度), fen. */
  maxDebitFen: number;
  /** Beijing's monthly rail ladder applies. Default false [S]. */
  monthlyLadder: boolean;
  /** Beijing's card discount on buses (profile percent of the bus policy) applies. Default false [U]. */
  busCardDiscount: boolean;
  /** Beijing's weekday early-entry discount applies. Default false [U]. */
  earlyEntryDiscount: boolean;
}

/** The policy record an issuer gets when it is allowed with no fields given. */
export function defaultIssuerPolicy(issuerId: string, issuerName: string): IssuerPolicy {
  return {
    issuerId,
    issuerName,
    overdraftLimitFen: 0,
    maxBalanceFen: LIMITS.balanceCapFen,
    maxDebitFen: 0xffff,
    monthlyLadder: false,
    busCardDiscount: false,
    earlyEntryDiscount: false,
  };
}

/** Checks a policy record; throws a CardFormatError naming the field. */
export function validateIssuerPolicy(policy: IssuerPolicy): void {
  if (policy === null || typeof policy !== 'object') throw new CardFormatError('issuer policy must be an object');
  if (typeof policy.issuerId !== 'string' || !/^[0-9A-F]{16}$/.test(policy.issuerId))
    throw new CardFormatError('issuer policy: issuerId must be 16 upper-case hex digits');
  if (typeof policy.issuerName !== 'string' || policy.issuerName.length === 0 || policy.issuerName.length > 32)
    throw new CardFormatError('issuer policy: issuerName must be 1..32 characters');
  const fen = (value: unknown, max: number, name: string): void => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max)
      throw new CardFormatError(`issuer policy ${policy.issuerId}: ${name} must be an integer 0..${max}`);
  };
  // Field widths of C2's record: overdraft 2 bytes, maximum balance 4, maximum debit 2.
  fen(policy.overdraftLimitFen, 0xffff, 'overdraftLimitFen');
  fen(policy.maxBalanceFen, 0xffffffff, 'maxBalanceFen');
  fen(policy.maxDebitFen, 0xffff, 'maxDebitFen');
  for (const flag of ['monthlyLadder', 'busCardDiscount', 'earlyEntryDiscount'] as const) {
    if (typeof policy[flag] !== 'boolean') throw new CardFormatError(`issuer policy ${policy.issuerId}: ${flag} must be a boolean`);
  }
}

/** What the allow-list says about a card's issuer (prefetched per tap; shared frozen objects, no allocation). */
export type IssuerVerdict = { readonly kind: 'home' } | { readonly kind: 'foreign'; readonly policy: IssuerPolicy } | { readonly kind: 'unlisted' };

export const HOME_VERDICT: IssuerVerdict = Object.freeze({ kind: 'home' });
export const UNLISTED_VERDICT: IssuerVerdict = Object.freeze({ kind: 'unlisted' });

/**
 * The device's allow-list: home issuer id plus listed foreign issuers keyed on the first 4 bytes
 * of their ids. `verdictFor` is the tap's lookup: a string comparison and a Map get on a
 * number, no allocation.
 */
export class IssuerAllowList {
  readonly version: number;
  readonly homeIssuerId: string;
  readonly #byKey = new Map<number, IssuerVerdict>();

  constructor(homeIssuerId: string, version: number, policies: readonly IssuerPolicy[]) {
    if (typeof homeIssuerId !== 'string' || !/^[0-9A-F]{16}$/.test(homeIssuerId)) throw new CardFormatError('home issuer id must be 16 upper-case hex digits');
    if (!Number.isSafeInteger(version) || version < 0) throw new CardFormatError(`allow-list version must be a non-negative integer, got ${version}`);
    this.homeIssuerId = homeIssuerId;
    this.version = version;
    const homeKey = allowKeyOfIssuerId(homeIssuerId);
    for (const policy of policies) {
      validateIssuerPolicy(policy);
      const key = allowKeyOfIssuerId(policy.issuerId);
      if (key === homeKey) throw new CardFormatError(`issuer ${policy.issuerId} shares the home issuer's allow-list key`);
      if (this.#byKey.has(key)) throw new CardFormatError(`allow-list key ${policy.issuerId.slice(0, 8)} is listed twice`);
      this.#byKey.set(key, Object.freeze({ kind: 'foreign', policy: Object.freeze({ ...policy }) }));
    }
  }

  get size(): number {
    return this.#byKey.size;
  }

  policies(): IssuerPolicy[] {
    return [...this.#byKey.values()].map((v) => (v as { policy: IssuerPolicy }).policy);
  }

  /**
   * The tap's lookup [S C2 step 2-3]: the home issuer's own id → home; else the first 4 bytes
   * must be listed. `issuerId` comes from a parsed card (canonical hex).
   */
  verdictFor(issuerId: string): IssuerVerdict {
    if (issuerId === this.homeIssuerId) return HOME_VERDICT;
    const key = allowKeyOfIssuerIdText(issuerId);
    if (key < 0) return UNLISTED_VERDICT;
    return this.#byKey.get(key) ?? UNLISTED_VERDICT;
  }
}

/** An allow-list that lists no foreign issuer (version 0): every foreign card is refused. */
export function homeOnlyAllowList(homeIssuerId: string): IssuerAllowList {
  return new IssuerAllowList(homeIssuerId, 0, []);
}
