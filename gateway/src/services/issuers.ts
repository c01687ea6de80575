/**
 * Which issuer a card belongs to, for the gateway (issue 18, DOMAIN.md section 8). The gateway
 * is the home issuer's back office: top-up, refund, loss report, unblock and exchange belong to
 * the card's issuer, so a Beijing counter refuses them for another city's card and says where to
 * go [S]. The registry itself lives in core (core/src/issuer/issuer-registry.ts); this module
 * holds the gateway's choice of it (GatewayPolicies.issuers) and the refusal.
 */
import { DEFAULT_ISSUER_REGISTRY, type Issuer, type IssuerRegistry, isCardNo } from '#core';
import { ApiError } from '../http/problem.ts';

/** The registry the gateway runs with: GatewayPolicies.issuers, else the built-in defaults. */
export function issuerRegistryOf(policies: { issuers?: IssuerRegistry }): IssuerRegistry {
  return policies.issuers ?? DEFAULT_ISSUER_REGISTRY;
}

/** The issuer of a card number, or null for a T-Union number of no known issuer; undefined for a malformed number. */
export function issuerOfCard(policies: { issuers?: IssuerRegistry }, cardNo: string): Issuer | null | undefined {
  if (!isCardNo(cardNo)) return undefined;
  return issuerRegistryOf(policies).issuerOfCardNo(cardNo);
}

/** The problem's `issuer` member: who serves this card. */
export function issuerProblemMember(issuer: Issuer | null, cardNo: string): Record<string, unknown> {
  return issuer === null
    ? { name: null, displayName: null, issuerId: null, cityCode: null, productPrefix: cardNo.slice(0, 8) }
    : { name: issuer.name, displayName: issuer.displayName, issuerId: issuer.issuerId, cityCode: issuer.cityCode, productPrefix: issuer.productPrefix };
}

/**
 * Throws 409 card-of-other-issuer, naming the card's issuer, when the card is not the home
 * issuer's (another T-Union city's, or a T-Union number of no known issuer). `operation` says
 * what was refused ('top-up', 'refund', 'loss report', 'unblock', 'exchange'). Home cards and
 * malformed numbers pass (the schema or the card lookup answers those).
 */
export function refuseOtherIssuerCard(policies: { issuers?: IssuerRegistry }, cardNo: string, operation: string): void {
  const issuer = issuerOfCard(policies, cardNo);
  if (issuer === undefined) return;
  const registry = issuerRegistryOf(policies);
  if (registry.isHome(issuer)) return;
  const who =
    issuer === null
      ? `an unknown T-Union issuer (product prefix ${cardNo.slice(0, 8)})`
      : `${issuer.displayName} (issuer ${issuer.issuerId}, city ${issuer.cityCode})`;
  throw new ApiError(
    'card-of-other-issuer',
    `card ${cardNo.slice(0, 4)}…${cardNo.slice(-4)} is issued by ${who}: its ${operation} is done by that issuer, not in ${registry.home.name}`,
    {
      issuer: issuerProblemMember(issuer, cardNo),
    },
  );
}
