/**
 * What every route module reaches through `app.gateway` (decorated in app.ts), and the route
 * config every route declares. Route modules of other helpers import the types from here.
 *
 *   app.post('/v1/x', { config: { roles: ['counter', 'app'] }, schema: {...} }, async (request) => {
 *     const { store, clock, keys } = app.gateway;
 *     const who = request.principal!;   // set by the auth hook before validation
 *   });
 */
import type { IssuerRegistry } from '#core';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import type { Store } from '../store/store-port.ts';
import type { ClearingSigner } from '../services/clearing-key.ts';
import type { KdfParams } from '../auth/passwords.ts';
import type { Principal, Role } from '../auth/principal.ts';
import type { ChannelPolicies, Operation } from '../services/channel-rules.ts';
import type { PhoneOutbox } from '../services/holder-accounts.ts';

export interface GatewayPolicies {
  /** Temporary loss reports expire by themselves (seed q. 17): default 15 days. */
  temporaryLossMs: number;
  /** Devices not synced within this window are listed as stale (alerting). */
  deviceStaleWindowMs: number;
  /**
   * Devices whose clock was more than this off (either way) at their latest sync are listed by
   * GET /v1/ops/devices/clock-skew (alerting). Default 2 minutes.
   */
  deviceClockSkewAlertMs: number;
  /** App session lifetime. */
  appSessionTtlMs: number;
  /** Consecutive failed app logins before the lockout, and its length. */
  appLoginMaxFailures: number;
  appLockoutMs: number;
  /** scrypt cost for service passwords. */
  passwordKdf: KdfParams;
  /** Park annual pass price (DOMAIN.md section 4): 100 yuan. */
  parkPassPriceFen: number;
  /** How often the background job expires temporary losses (0 = no timer). */
  lossExpiryIntervalMs: number;
  /** Issuer code written on new cards (4 hex digits). */
  issuerCode: string;
  /** Leading digits of generated card numbers (makeCardNo): always one of the issuer's own ranges. */
  cardNoPrefix: string;
  /**
   * The issuer's own card-number ranges besides cardNoPrefix (prefixes, e.g. an older range).
   * Numbers in its own ranges carry a Luhn check digit: an explicit number there with a wrong
   * digit is refused (400 card-number-check-digit). Default none.
   */
  ownCardNoPrefixes?: readonly string[];
  /**
   * Ranges the issuer personalises without numbering them (assigned elsewhere, no check digit):
   * an explicit number is accepted when it is 16 digits with one of these prefixes. A number in
   * no own or other range is refused (400 card-number-out-of-range). Default none.
   */
  otherCardNoPrefixes?: readonly string[];
  /**
   * The card issuers this gateway knows (issue 18, core IssuerRegistry): the home issuer (its
   * own cards; default Beijing) and other T-Union issuers, whose cards it refuses to top up,
   * refund, report lost, unblock or exchange (409 card-of-other-issuer naming the issuer).
   * Default DEFAULT_ISSUER_REGISTRY.
   */
  issuers?: IssuerRegistry;
  /**
   * The issuing bank of a new card whose request names none (older clients; issue 16): one of
   * the 15 partner banks (services/partner-banks.ts). Default 'icbc', the bank migration 006
   * gave the cards issued before the bank was recorded.
   */
  defaultIssuingBank?: string;
  /**
   * The conditional cells of the channel matrix (services/channel-rules.ts): the mass exchange
   * period (default 2024-10-30..2025-12-31, q3) and the banks whose cards may be replaced or
   * exchanged online (default none, q8 and q22 do not say which [U]).
   */
  channels?: Partial<ChannelPolicies>;
  /**
   * A formally lost card never replaced: its balance moves to the forfeited lost-card balances
   * account this long after the formal report (issue 16, GATEWAY_LOST_BALANCE_FORFEIT_DAYS). Default 30 days.
   */
  lostCardForfeitMs: number;
  /** Branches (counter branch ids) that make cards at once (即时制卡, seed q. 12, q. 29). Default none. */
  instantCardBranches?: readonly string[];
  /** Day close (services/day-close.ts): the business day's cut-off, minutes after 00:00 Beijing time (GATEWAY_DAY_CLOSE_CUTOFF, default 04:00). */
  dayCloseCutoffMinutes?: number;
  /** Day close: a day closes by itself this long after its end even if a device has not synced since (GATEWAY_DAY_CLOSE_GRACE_HOURS, default 36 h). */
  dayCloseGraceMs?: number;
  /** Settlement lag in days: a closed day's transfers are due on its value day, the day + this (GATEWAY_SETTLEMENT_LAG_DAYS, default 1: T+1). */
  settlementLagDays?: number;
}

export interface GatewayContext {
  store: Store;
  keys: IssuerKeysPort;
  /** Epoch ms; tests inject a fake clock. Never call Date.now() in services. */
  clock: () => number;
  policies: GatewayPolicies;
  /**
   * Key of the HMAC that finds a holder from the ID number (services/holders.ts): from the
   * secrets folder (secrets.ts holder-id-key), never stored in the database or logged.
   */
  holderIdKey: Buffer;
  /** The clearing centre's signing key (services/clearing-key.ts): closed days and clearing files. */
  clearingSigner: ClearingSigner;
  /** Clearing between issuers: each counterparty's certificate (PEM) by issuer name; inbound files are verified against it. */
  clearingCertificates: ReadonlyMap<string, string>;
  /**
   * The simulated SMS sender of holder accounts' phone codes (services/holder-accounts.ts): kept
   * in memory, never logged; the sandbox and the tests read the codes from it.
   */
  phoneOutbox: PhoneOutbox;
  /** Subway network CSV path for the fare quote route. */
  subwayNetworkCsvPath: string;
  /**
   * The process's lifecycle, set by its owner (main.ts): `shuttingDown` turns true on the first
   * SIGTERM/SIGINT, so readiness answers 503 while in-flight requests finish.
   */
  lifecycle: { shuttingDown: boolean };
}

export interface GatewayRouteConfig {
  /** Roles allowed besides operators (operators may call every route). Absent = operators only. */
  roles?: readonly Role[];
  /** No authentication at all (health, OpenAPI, docs, app login). */
  public?: boolean;
  /** App sessions still on the initial password may call this route (the password change). */
  allowPasswordChangePending?: boolean;
  /**
   * The cardholder operation of the channel matrix this route is (services/channel-rules.ts):
   * the auth hook checks the caller's channel before the body is read; the handler checks the
   * "issuing bank only" cells again with the card. Every route counters, app or holder sessions
   * may call names one, or says in `noChannelOperation` why it is none.
   */
  operation?: Operation;
  /** Why a route counters or sessions may call is not a cardholder operation (reference data, own reports). */
  noChannelOperation?: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    gateway: GatewayContext;
    /** Every route registered (method, url, hidden from OpenAPI, its roles, public). */
    gatewayRoutes: ReadonlyArray<{
      method: string;
      url: string;
      hidden: boolean;
      roles?: readonly Role[];
      public?: boolean;
      operation?: Operation;
      noChannelOperation?: string;
    }>;
  }
  interface FastifyRequest {
    /** Set by the auth hook for every authenticated route; null on public routes. */
    principal: Principal | null;
  }
  interface FastifyContextConfig extends GatewayRouteConfig {}
}
