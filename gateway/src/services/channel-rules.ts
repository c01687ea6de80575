/**
 * The channel × operation matrix (issue 16; DOMAIN.md section 7), as data, in this one module.
 * Every route that does something for a cardholder names its operation and calls
 * `assertChannelMay` (the auth hook does the card-independent part from the route's
 * `config.operation`; the handler calls it again with the card for the "issuing bank only"
 * cells). Other helpers' routes (application, exchange, bank change, ...) call it the same way.
 *
 * Where the cells come from (the seed manual, ../shared/seed/, question numbers):
 * - q4, q10: apply online, at district/street service points and at partner-bank branches;
 *   offline new applications are paused during the mass exchange (q3: 2024-10-30..2025-12-31).
 * - q6: what district/street service points do: apply, enable, temporary loss, social-security
 *   formal loss/lift/cancellation, service password change and reset, status query, non-key data.
 * - q7, q9(1): partner-bank branches do everything (incl. transit top-up, refunds, park pass).
 * - q8: online: apply, enable, temporary loss, replacement (only some banks), password change and
 *   reset, status query, non-key data (address, job, phone).
 * - q9(2): service points do nothing that rests on the card's financial or transit functions
 *   (no transit top-up, no park pass, no replacement, no financial loss/lift/cancellation).
 * - q17: temporary loss also by the 96066 hotline. q18, q19, q21, q22, q23, q25: lifting a loss,
 *   formal loss and replacement, exchange, name/ID change and bank change at the ISSUING bank.
 * - q33: cancellation at service points (social-security function only) or bank branches; the
 *   transit balance refund needs the issuing bank (q46). q36: status/progress also by hotline.
 * - q44, q45: top-up at bank branches, 一卡通 self-operated and top-up outlets and the app;
 *   paid from the card's own account only at the issuing bank, elsewhere cash or that bank's
 *   card; suburban rail opened at bank branches and 一卡通 self-operated outlets.
 * - q15, q47: the park pass at bank branches; online as before (q9(3)).
 * - q37: agents may enable, report a temporary loss, change the service password and query
 *   status (and cancel with the documents of q33); minors act through a guardian (q24, q37).
 *
 * A refusal is a problem with a stable code (below) and a `rule` member naming the cell
 * (`<operation>@<channel>`), in plain words: "street service points do not handle transit top-ups".
 * Seed question numbers stay here and in docs/gateway-api.md, never in an answer.
 */
import { ApiError, registerErrorCodes } from '../http/problem.ts';

/** The kinds of organisation a counter (or a session) belongs to. Wire values: never renamed. */
export const CHANNEL_KINDS = ['bank-branch', 'service-point', 'ykt-outlet', 'ykt-top-up-outlet', 'online', 'hotline'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export const CHANNEL_NAMES: Record<ChannelKind, { plural: string; name: string }> = {
  'bank-branch': { name: 'partner-bank branch', plural: 'partner-bank branches' },
  'service-point': { name: 'district/street service point', plural: 'street service points' },
  'ykt-outlet': { name: '一卡通 self-operated outlet', plural: '一卡通 self-operated outlets' },
  'ykt-top-up-outlet': { name: '一卡通 top-up outlet', plural: '一卡通 top-up outlets' },
  online: { name: 'online channel (app, mini-program)', plural: 'the online channels' },
  hotline: { name: '96066 hotline', plural: 'the 96066 hotline' },
};

/** Staff roles of counter credentials: supervisors also approve write-offs (issue 16). */
export const STAFF_ROLES = ['teller', 'supervisor'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

/**
 * A cell of the matrix.
 * - allowed / refused
 * - issuing-bank: only at a branch of the card's issuing bank (**I** in DOMAIN.md)
 * - outside-mass-exchange: allowed except during the mass exchange period (policy, q3, q4)
 * - bank-supports-online: online, only when the card's issuing bank offers it (policy, q8, q22)
 */
export type Cell = 'allowed' | 'refused' | 'issuing-bank' | 'outside-mass-exchange' | 'bank-supports-online';

export interface OperationRule {
  /** What it is, in words that fit "… do not handle <words>". */
  words: string;
  /** Seed question numbers the row rests on. */
  seed: string;
  cells: Record<ChannelKind, Cell>;
  /** Moves or takes money: the operator token (no channel) may not do it (see assertChannelMay). */
  money: boolean;
  /** An agent with a written authorisation may do it for the holder (q37; cancel with q33's documents). */
  agentMay: boolean;
  /** Card business a minor does through a guardian with proof (q24, q37). */
  guardianForMinors: boolean;
}

const A: Cell = 'allowed';
const X: Cell = 'refused';
const I: Cell = 'issuing-bank';

/** Column order: bank branch, service point, 一卡通 self-operated outlet, top-up outlet, online, hotline. */
function row(bank: Cell, servicePoint: Cell, yktOutlet: Cell, topUpOutlet: Cell, online: Cell, hotline: Cell): Record<ChannelKind, Cell> {
  return { 'bank-branch': bank, 'service-point': servicePoint, 'ykt-outlet': yktOutlet, 'ykt-top-up-outlet': topUpOutlet, online, hotline };
}

/** The matrix. Keys are the operation ids (wire values, never renamed). */
export const CHANNEL_MATRIX = {
  // q4, q10 (q3: mass exchange pauses offline new applications)
  apply: {
    words: 'card applications',
    seed: 'q3, q4, q10',
    cells: row(A, 'outside-mass-exchange', X, X, A, X),
    money: false,
    agentMay: false,
    guardianForMinors: true,
  },
  // q14 (enabling is the social-security function; transit follows the transit function)
  enable: { words: 'enabling cards', seed: 'q6, q7, q8, q14, q37', cells: row(A, A, X, X, A, X), money: false, agentMay: true, guardianForMinors: true },
  // q6-8, q17
  'loss-temporary': {
    words: 'temporary loss reports',
    seed: 'q6, q7, q8, q17, q37',
    cells: row(A, A, X, X, A, A),
    money: false,
    agentMay: true,
    guardianForMinors: true,
  },
  // q18
  'loss-lift': {
    words: 'lifting a loss report early',
    seed: 'q18, q20, q21',
    cells: row(I, X, X, X, X, X),
    money: false,
    agentMay: false,
    guardianForMinors: true,
  },
  // APPLICATION UNBLOCK of a card a validator locked: card present, at the issuing bank (q18, q21)
  unblock: { words: 'unblocking cards', seed: 'q18, q21', cells: row(I, X, X, X, X, X), money: false, agentMay: false, guardianForMinors: true },
  // q19 (q9: not at service points); online only as part of a replacement the bank supports (q8)
  'loss-formal': {
    words: 'formal loss reports',
    seed: 'q8, q9, q19, q20',
    cells: row(I, X, X, X, 'bank-supports-online', X),
    money: false,
    agentMay: false,
    guardianForMinors: true,
  },
  // q19, q8 (online where the bank supports it), q46 (no refund of a lost card's balance)
  replacement: {
    words: 'card replacements',
    seed: 'q8, q9, q19, q46',
    cells: row(I, X, X, X, 'bank-supports-online', X),
    money: true,
    agentMay: false,
    guardianForMinors: true,
  },
  // q22, q46: broken-card exchange and the balance refund
  exchange: {
    words: 'broken-card exchanges and balance refunds',
    seed: 'q22, q24, q46',
    cells: row(I, X, X, X, 'bank-supports-online', X),
    money: true,
    agentMay: false,
    guardianForMinors: true,
  },
  // q23
  'name-change': { words: 'name or ID number changes', seed: 'q23', cells: row(I, X, X, X, X, X), money: true, agentMay: false, guardianForMinors: true },
  // q25-26: cancelled and collected at the old (issuing) bank
  'bank-change': { words: 'changes of partner bank', seed: 'q25, q26', cells: row(I, X, X, X, X, X), money: true, agentMay: false, guardianForMinors: true },
  // q33: the social-security function; service points do only this
  cancel: { words: 'cancellations', seed: 'q6, q33, q34, q35, q37', cells: row(A, A, X, X, X, X), money: false, agentMay: true, guardianForMinors: true },
  // q33, q46: the transit balance refund of a cancellation, at the issuing bank only
  'cancel-transit-refund': {
    words: 'transit balance refunds on cancellation',
    seed: 'q9, q33, q46',
    cells: row(I, X, X, X, X, X),
    money: true,
    agentMay: true,
    guardianForMinors: true,
  },
  // q6-8, q16, q37
  'password-change': {
    words: 'service password changes',
    seed: 'q6, q7, q8, q16, q37',
    cells: row(A, A, X, X, A, X),
    money: false,
    agentMay: true,
    guardianForMinors: true,
  },
  // q6-8, q16
  'password-reset': {
    words: 'service password resets',
    seed: 'q6, q7, q8, q16',
    cells: row(A, A, X, X, A, X),
    money: false,
    agentMay: false,
    guardianForMinors: true,
  },
  // q36 (also 96066 and the banks' phone services)
  'status-query': {
    words: 'status and progress queries',
    seed: 'q6, q7, q8, q36, q37',
    cells: row(A, A, A, X, A, A),
    money: false,
    agentMay: true,
    guardianForMinors: false,
  },
  // q31 (address, job, phone; the financial account's phone only at the issuing bank, q31, q32)
  'personal-data-edit': {
    words: 'changes of address, job or phone',
    seed: 'q6, q8, q31',
    cells: row(A, A, X, X, A, X),
    money: false,
    agentMay: false,
    guardianForMinors: true,
  },
  // q44-45 (payment from the card's own account only at the issuing bank: paymentSourceRule)
  'top-up': { words: 'transit top-ups', seed: 'q9, q44, q45', cells: row(A, X, A, A, A, X), money: true, agentMay: false, guardianForMinors: false },
  // q44
  'suburban-opening': { words: 'opening suburban rail', seed: 'q44', cells: row(A, X, A, X, X, X), money: false, agentMay: false, guardianForMinors: false },
  // q15 (the transit function is opened through the issuing bank's one-stop service; [P] like suburban rail)
  'transit-opening': {
    words: 'opening the transit function',
    seed: 'q15, q44',
    cells: row(A, X, A, X, X, X),
    money: false,
    agentMay: false,
    guardianForMinors: false,
  },
  // q15, q47, q9(3) (online as before)
  'park-pass': { words: 'park annual passes', seed: 'q9, q15, q47', cells: row(A, X, X, X, A, X), money: true, agentMay: false, guardianForMinors: false },
} as const satisfies Record<string, OperationRule>;

export type Operation = keyof typeof CHANNEL_MATRIX;
export const OPERATIONS = Object.keys(CHANNEL_MATRIX) as Operation[];

export function isOperation(value: string): value is Operation {
  return Object.hasOwn(CHANNEL_MATRIX, value);
}

export function operationRule(operation: Operation): OperationRule {
  return CHANNEL_MATRIX[operation];
}

/** The problem codes of a refusal (stable; the `rule` member names the cell). */
registerErrorCodes({
  'channel-not-allowed': { status: 403, title: 'This channel does not handle this operation' },
  'issuing-bank-only': { status: 403, title: "Only a branch of the card's issuing bank handles this operation" },
  'mass-exchange-paused': { status: 403, title: 'New applications at offline service points are paused during the mass exchange' },
  'bank-not-online': { status: 403, title: "The card's issuing bank does not offer this operation online" },
  'operator-not-a-channel': { status: 403, title: 'Money operations are done at a counter or online, not with an operator credential' },
  'own-account-issuing-bank-only': { status: 403, title: "Only the card's issuing bank takes a top-up from the card's own account" },
  'counter-without-organisation': { status: 403, title: 'The counter credential belongs to no organisation' },
});

/** The refusals every route with an operation may answer (403), for its OpenAPI problems list. */
export const CHANNEL_PROBLEMS = ['channel-not-allowed', 'operator-not-a-channel', 'counter-without-organisation'] as const;

/** The organisation a principal acts for (auth/principal.ts). */
export interface ChannelOrganisation {
  id: string;
  channelKind: ChannelKind;
  /** Partner bank of a bank branch (services/partner-banks.ts ids); null for other kinds. */
  bankId: string | null;
  branchId: string | null;
}

/** What this module needs of a principal (structural, so services and tests build it freely). */
export interface ChannelCaller {
  role: string;
  organisation: ChannelOrganisation | null;
}

/** What the "issuing bank only" cells need of a card. */
export interface ChannelCard {
  cardNo: string;
  issuingBank: string;
}

/** Policies the conditional cells read (GatewayPolicies carries them; defaults below). */
export interface ChannelPolicies {
  /**
   * The mass exchange of third-generation cards (q3: 2024-10-30 to 2025-12-31, Beijing dates,
   * inclusive): offline service points take no new applications then. null: no such period.
   */
  massExchange: { fromDate: number; toDate: number } | null;
  /** Banks whose cards may be replaced or exchanged online (q8, q22: "only some banks"; unknown which: none by default [U]). */
  onlineReplacementBanks: readonly string[];
}

export const DEFAULT_CHANNEL_POLICIES: ChannelPolicies = {
  massExchange: { fromDate: 20241030, toDate: 20251231 },
  onlineReplacementBanks: [],
};

export interface ChannelContext {
  /** Now, epoch ms (for the mass exchange period). */
  nowMs?: number;
  policies?: Partial<ChannelPolicies>;
  /** A top-up's payment source (bank-account | cash | other-bank-card | app). */
  paymentSource?: string;
  /** Only reads (GET): the operator may look at money operations it may not do. */
  readOnly?: boolean;
}

/** The channel a principal acts through: its organisation's kind; app and holder sessions are online. */
export function channelOf(caller: ChannelCaller): ChannelKind | null {
  if (caller.organisation) return caller.organisation.channelKind;
  if (caller.role === 'app' || caller.role === 'holder') return 'online';
  return null;
}

function beijingDate(ms: number): number {
  const d = new Date(ms + 8 * 3_600_000);
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

function refuse(code: string, operation: Operation, channel: ChannelKind | 'operator', detail: string, extra: Record<string, unknown> = {}): never {
  throw new ApiError(code, detail, { rule: `${operation}@${channel}`, operation, channel, ...extra });
}

/**
 * Throws unless the principal's channel may do `operation` (for `card`, when given).
 *
 * - Operators (no organisation) may do what is not money (`money: false`): they are the
 *   issuer's back office. Money operations need a counter or an online session: the admin
 *   token does not bypass the matrix (`403 operator-not-a-channel`).
 * - Devices never do cardholder operations.
 * - Without `card`, an "issuing bank only" cell passes for any bank branch: call again with the
 *   card once it is read (the routes do, inside their transaction).
 */
export function assertChannelMay(caller: ChannelCaller, operation: Operation, card?: ChannelCard, context: ChannelContext = {}): void {
  const rule = CHANNEL_MATRIX[operation] as OperationRule;
  const channel = channelOf(caller);
  if (channel === null) {
    if (caller.role === 'operator') {
      if (rule.money && context.readOnly !== true) {
        refuse(
          'operator-not-a-channel',
          operation,
          'operator',
          `${rule.words} move money: they are done at a counter or online, not with an operator credential`,
        );
      }
      return;
    }
    if (caller.role === 'counter') {
      throw new ApiError('counter-without-organisation', 'this counter credential belongs to no organisation; issue a new one for an organisation', {
        rule: `${operation}@none`,
        operation,
      });
    }
    throw new ApiError('forbidden', `a ${caller.role} does not do ${rule.words}`);
  }
  const cell = rule.cells[channel];
  const names = CHANNEL_NAMES[channel];
  const policies = { ...DEFAULT_CHANNEL_POLICIES, ...(context.policies ?? {}) };
  switch (cell) {
    case 'allowed':
      break;
    case 'refused':
      refuse('channel-not-allowed', operation, channel, `${names.plural} do not handle ${rule.words}`);
      break;
    case 'issuing-bank': {
      if (channel !== 'bank-branch') refuse('channel-not-allowed', operation, channel, `${names.plural} do not handle ${rule.words}`);
      if (card !== undefined && card.issuingBank !== caller.organisation?.bankId) {
        refuse(
          'issuing-bank-only',
          operation,
          channel,
          `${rule.words} for card ${card.cardNo} are handled only at a branch of its issuing bank (${card.issuingBank}), not at ${caller.organisation?.bankId ?? 'this bank'}`,
          { issuingBank: card.issuingBank },
        );
      }
      break;
    }
    case 'outside-mass-exchange': {
      const period = policies.massExchange;
      const today = beijingDate(context.nowMs ?? Date.now());
      if (period !== null && today >= period.fromDate && today <= period.toDate) {
        refuse(
          'mass-exchange-paused',
          operation,
          channel,
          `${names.plural} take no ${rule.words} during the mass exchange (${period.fromDate}..${period.toDate}); apply online or at a partner-bank branch`,
        );
      }
      break;
    }
    case 'bank-supports-online': {
      if (card !== undefined && !policies.onlineReplacementBanks.includes(card.issuingBank)) {
        refuse(
          'bank-not-online',
          operation,
          channel,
          `the card's issuing bank (${card.issuingBank}) does not offer ${rule.words} online; go to one of its branches`,
          {
            issuingBank: card.issuingBank,
          },
        );
      }
      break;
    }
  }
  if ((operation === 'top-up' || operation === 'park-pass') && context.paymentSource !== undefined) {
    assertPaymentSource(caller, operation, channel, card, context.paymentSource);
  }
}

/**
 * q45: a top-up paid from the card's own (financial) account is taken only at a branch of the
 * card's issuing bank; elsewhere cash or that bank's own card. 一卡通 outlets never debit the
 * card's bank account. The park pass follows the same rule (q15: the issuing bank's one-stop
 * service) [P].
 */
function assertPaymentSource(
  caller: ChannelCaller,
  operation: 'top-up' | 'park-pass',
  channel: ChannelKind,
  card: ChannelCard | undefined,
  paymentSource: string,
): void {
  if (paymentSource !== 'bank-account') return;
  if (channel !== 'bank-branch') {
    refuse('own-account-issuing-bank-only', operation, channel, `${CHANNEL_NAMES[channel].plural} take cash or a bank card, not the card's own account`);
  }
  if (card !== undefined && card.issuingBank !== caller.organisation?.bankId) {
    refuse(
      'own-account-issuing-bank-only',
      operation,
      channel,
      `only a branch of the card's issuing bank (${card.issuingBank}) takes payment from the card's own account; here pay cash or with this bank's card`,
      { issuingBank: card.issuingBank },
    );
  }
}

/** True when the cell lets the channel do the operation at all (for some card); for listings and docs. */
export function channelMayEver(channel: ChannelKind, operation: Operation): boolean {
  return (CHANNEL_MATRIX[operation] as OperationRule).cells[channel] !== 'refused';
}

/** Operations an agent may do for a holder (q37; cancellation with q33's documents). */
export const AGENT_OPERATIONS: readonly Operation[] = OPERATIONS.filter((op) => (CHANNEL_MATRIX[op] as OperationRule).agentMay);

registerErrorCodes({
  'agent-not-allowed': { status: 403, title: 'An agent may not do this for the holder' },
  'guardian-required': { status: 403, title: 'A minor acts through a guardian with proof of guardianship' },
});

/** Under 18 on `nowMs` (Beijing date) for a birth date YYYYMMDD; unknown birth dates count as adults. */
export function isMinor(birthDate: number | null, nowMs: number): boolean {
  if (birthDate === null) return false;
  return beijingDate(nowMs) < birthDate + 18 * 10_000;
}

export type ActingAs = 'holder' | 'agent' | 'guardian';

/**
 * q37, q24: an agent only does the agent operations; a minor's card business needs a guardian
 * (a guardian acts for a minor only; an adult's affairs go through an agent).
 */
export function assertActorMay(operation: Operation, actingAs: ActingAs, holderBirthDate: number | null, nowMs: number): void {
  const rule = CHANNEL_MATRIX[operation] as OperationRule;
  const minor = isMinor(holderBirthDate, nowMs);
  if (actingAs === 'agent' && !rule.agentMay) {
    throw new ApiError(
      'agent-not-allowed',
      `an agent may not do ${rule.words} for the holder (an agent may enable, report a temporary loss, change the service password, query status and cancel)`,
      {
        rule: `${operation}@agent`,
        operation,
      },
    );
  }
  if (minor && rule.guardianForMinors && actingAs !== 'guardian') {
    throw new ApiError('guardian-required', `the holder is under 18: ${rule.words} are done by a guardian with proof of guardianship`, {
      rule: `${operation}@minor`,
      operation,
    });
  }
  if (!minor && actingAs === 'guardian') {
    throw new ApiError(
      'agent-not-allowed',
      'the holder is an adult: a guardian acts only for a minor; an adult is represented by an agent with a written authorisation',
      {
        rule: `${operation}@guardian`,
        operation,
      },
    );
  }
}
