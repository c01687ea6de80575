/**
 * Cards: issuance (personalisation), status and the back office's balance, transactions,
 * function opening, replacement after a formal loss, cancellation and the counter unblock.
 * Each shape is written once in TypeBox (card-schemas.ts, http/wire.ts).
 */
import { LIMITS } from '#core';
import { hashPassword, initialServicePassword } from '../auth/passwords.ts';
import { assertChannelFor } from '../auth/channel.ts';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { ApiError } from '../http/problem.ts';
import { hexToBytes, queryInt } from '../http/schemas.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  CardNoParams,
  type GatewayApp,
  Hex,
  IntegerEnum,
  isoBeijing,
  money,
  Nullable,
  nullableMoney,
  nullableTimestamp,
  problems,
  QueryInt,
  type Static,
  StringEnum,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
  withIso,
  Yuan,
  yuanAndFen,
  nullableYuanAndFen,
} from '../http/wire.ts';
import { parseWireYuan } from '../http/yuan-wire.ts';
import type { Tx } from '../store/store-port.ts';
import { blacklistListing, lockBlacklist } from '../services/blacklist.ts';
import { actForHolder } from '../services/agents.ts';
import {
  authoriseUnblock,
  enableCard,
  findCardAccount,
  highestOfflineAtcSeen,
  issueCard,
  openFunctions,
  replaceCard,
  requireCard,
  type CardRow,
} from '../services/cards.ts';
import { decodeHistoryCursor, encodeHistoryCursor, listCardTransactions } from '../services/card-history.ts';
import { requireCalendarDate, requireIssuableCardNo, requireUnexpired } from '../services/card-rules.ts';
import { birthDateFromIdNumber, findOrCreateHolder, holderIdHmac } from '../services/holders.ts';
import { currentLossReport } from '../services/loss-reports.ts';
import { cancelCardAtCounter } from '../services/card-exchange.ts';
import { actedAt, AgentBody, DebtBody, debtSettlement, EXAMPLE_AGENT, lifecycleActor, RefundDestinationProps, SSN_PATTERN } from './lifecycle-schemas.ts';
import { DEFAULT_ISSUING_BANK, isPartnerBankId, partnerBank } from '../services/partner-banks.ts';
import {
  AuthorisedWriteSchema,
  CardSchema,
  type CardWire,
  EXAMPLE_CARD,
  EXAMPLE_CARD_NO,
  EXAMPLE_LOSS_REPORT,
  EXAMPLE_MS,
  EXAMPLE_WRITE,
  IssuingBank,
  lossReportToWire,
} from './card-schemas.ts';
import { refuseOtherIssuerCard } from '../services/issuers.ts';

export { SSN_PATTERN } from './lifecycle-schemas.ts';
const EXAMPLE_IMAGE = '031000000000000000160000';

/** Card as the API shows it: the row, its account, blacklist listing and open loss report. */
export async function presentCard(tx: Tx, card: CardRow): Promise<CardWire> {
  const account = await findCardAccount(tx, card.cardNo);
  const lastOfflineAtc = await highestOfflineAtcSeen(tx, card.cardNo);
  const listing = await blacklistListing(tx, card.cardNo);
  const report = await currentLossReport(tx, card.cardNo);
  const balanceFen = account?.shadowBalanceFen ?? 0;
  return {
    cardNo: card.cardNo,
    issuerCode: card.issuerCode,
    generation: card.generation,
    profile: card.profile,
    algorithm: card.algorithm,
    keyVersion: card.keyVersion,
    expiryDate: card.expiryDate,
    ...yuanAndFen('overdraftLimit', card.overdraftLimitFen),
    transitOpened: card.transitOpened,
    suburbanOpened: card.suburbanOpened,
    holderName: card.holderName,
    issuingBank: card.issuingBank as CardWire['issuingBank'],
    issuingBankName: partnerBank(card.issuingBank).name,
    status: card.status,
    replaces: card.replaces,
    replacedBy: card.replacedBy,
    issuedMs: card.issuedMs,
    issuedAt: isoBeijing(card.issuedMs),
    ...yuanAndFen('balance', balanceFen),
    lastOfflineAtc,
    lastOnlineAtc: account?.lastOnlineAtc ?? -1,
    blacklist: listing ? { reason: listing.reason, version: listing.version, sinceMs: listing.sinceMs, sinceAt: isoBeijing(listing.sinceMs) } : null,
    lossReport: report ? lossReportToWire(report) : null,
    socialSecurity: {
      enabledMs: card.enabledMs,
      enabledAt: card.enabledMs === null ? null : isoBeijing(card.enabledMs),
      cancelledMs: card.socialSecurityCancelledMs,
      cancelledAt: card.socialSecurityCancelledMs === null ? null : isoBeijing(card.socialSecurityCancelledMs),
    },
  };
}

/** Default card expiry: ten years after issuance, YYYYMMDD (Beijing date). */
function defaultExpiryDate(nowMs: number): number {
  const d = new Date(nowMs + 8 * 3_600_000);
  return (d.getUTCFullYear() + 10) * 10_000 + (d.getUTCMonth() + 1) * 100 + Math.min(d.getUTCDate(), 28);
}

const Algorithm = (description: string) => StringEnum(['3des', 'sm4'], { description });
const ExpiryDate = (description: string) => Type.Integer({ minimum: 20000101, maximum: 29991231, description, examples: [20351220] });
const Challenge = Hex(4, "The card's GET CHALLENGE answer (4 bytes)", '9F3A12C4');

export const IssueCardBody = Type.Object(
  {
    cardNo: Type.Optional(
      CardNo(
        "Optional explicit card number; generated when absent. In the issuer's own ranges the last digit must be the Luhn check digit; other numbers must start with a configured prefix",
      ),
    ),
    holderName: Type.String({ minLength: 1, maxLength: 64, description: "the holder's name", examples: ['张三'] }),
    socialSecurityNo: Type.String({
      pattern: SSN_PATTERN,
      description:
        "The holder's ID number: finds (or creates) the holder record through a keyed hash, and gives the initial service password (its last 6 characters); the number itself is never stored, logged or returned",
      examples: ['11010119900307123X'],
    }),
    birthDate: Type.Optional(
      Type.Integer({
        minimum: 19000101,
        maximum: 29991231,
        description: "YYYYMMDD, the holder's birth date for a new holder record; default: the date the ID number carries (characters 7-14), if any",
        examples: [19900307],
      }),
    ),
    issuingBank: Type.Optional(IssuingBank('The partner bank issuing the card, fixed for the life of the card; default `icbc` (configurable)')),
    profile: StringEnum(['adult', 'student', 'senior'], { description: 'holder profile (fare discounts)' }),
    generation: Type.Optional(IntegerEnum([1, 2, 3], { default: 3, description: 'card generation (default 3)' })),
    algorithm: Type.Optional(StringEnum(['3des', 'sm4'], { default: 'sm4', description: 'purse cipher (default sm4)' })),
    expiryDate: Type.Optional(ExpiryDate('YYYYMMDD, a calendar date not before today (Beijing); default ten years')),
    overdraftLimit: Type.Optional(Yuan('Overdraft limit, yuan (default 20.00, at most 1000.00)', '20.00')),
    transitOpened: Type.Optional(Type.Boolean({ default: true, description: 'open the transit function (default true on generation 3)' })),
    suburbanOpened: Type.Optional(Type.Boolean({ default: false, description: 'open the suburban-rail function (default false)' })),
    agent: Type.Optional(AgentBody),
  },
  { additionalProperties: false },
);
export type IssueCardBody = Static<typeof IssueCardBody>;

const CardImage = Type.String({ description: 'encodeCardImage bytes, hex: load into the card simulator', examples: [EXAMPLE_IMAGE] });
const IssuedCard = Type.Object({ card: CardSchema, cardImage: CardImage });

export const TransactionSchema = Type.Object({
  id: Type.String({ description: 'unique and stable: tap:<deviceId>:<deviceSeq> or load:<id>', examples: ['tap:GATE-01:42'] }),
  kind: StringEnum(['purchase', 'refused-tap', 'load'], {
    description: 'purchase: the card was debited (amount may be 0); refused-tap: a tap that debited nothing; load: a top-up',
  }),
  result: StringEnum(['accepted', 'refused', 'written-off', 'quarantined', 'pending', 'voided'], {
    description:
      'purchase: accepted, written-off (the refund was already paid) or quarantined (TAC does not verify); refused-tap: refused; load: accepted, pending or voided',
  }),
  resultCode: Nullable(Type.Integer({ description: "the validator's tap result code (null for loads)" })),
  resultName: Nullable(Type.String({ description: 'its name, e.g. ACCEPTED, ALREADY_ENTERED, BLACKLISTED' })),
  ...timestamp('atMs', 'when it happened (a recovered torn debit: the original transaction)', EXAMPLE_MS),
  ...money('amount', 'amount debited or loaded', 400),
  status: Type.String({ description: "the record's state in the back office (a tap: verified, quarantined, …; a load: pending, confirmed, voided)" }),
  atc: Type.Integer({ description: "the card's transaction counter for this record (offline ATC for taps, online ATC for loads)" }),
  ...nullableMoney('balanceAfter', 'purse balance after the record, as the card reported it', 4200),
  operator: Nullable(Type.String({ description: 'operator the tap belongs to (subway, bus, pr, park, suburban); null for loads' })),
  deviceId: Nullable(Type.String({ description: 'validator that uploaded the record; null for loads' })),
  ...nullableTimestamp('recoveredAtMs', 'a torn debit recovered at a later tap: when it was recovered (atMs is the original transaction)', EXAMPLE_MS),
});

export const TransactionsQuery = Type.Object(
  {
    limit: Type.Optional(QueryInt('page size: 1..500, default 100', '100')),
    before: Type.Optional(QueryInt('only records that happened before this epoch ms (where the first page starts)', String(EXAMPLE_MS))),
    cursor: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_-]{1,400}$',
        description: "the previous answer's nextCursor: the next page",
        examples: ['WzE3NzMxMDgwMDAwMDAsMCwiIiwxMl0'],
      }),
    ),
  },
  { additionalProperties: false },
);

export const TransactionsPage = Type.Object({
  cardNo: CardNo(),
  transactions: Type.Array(TransactionSchema, { description: 'newest first' }),
  more: Type.Boolean({ description: 'more records follow this page' }),
  nextCursor: Nullable(Type.String({ description: 'pass as cursor for the next page; null on the last page' })),
});

const FunctionsBody = Type.Object(
  {
    challenge: Challenge,
    transit: Type.Optional(Type.Boolean({ description: 'open the transit function' })),
    suburban: Type.Optional(Type.Boolean({ description: 'open the suburban-rail function (needs transit)' })),
  },
  { additionalProperties: false },
);

const ReplacementBody = Type.Object(
  {
    algorithm: Type.Optional(Algorithm('purse cipher of the new card (default: as the old card)')),
    expiryDate: Type.Optional(ExpiryDate('YYYYMMDD of the new card, a calendar date not before today (Beijing); default ten years')),
  },
  { additionalProperties: false },
);

const CancellationBody = Type.Object(
  {
    scope: Type.Optional(
      StringEnum(['card', 'social-security'], {
        description: 'card (default): cancel the card and its transit purse; social-security: only the social-security function (a service point)',
      }),
    ),
    destinationAccount: Type.Optional(RefundDestinationProps.destinationAccount),
    destinationName: Type.Optional(RefundDestinationProps.destinationName),
    debt: Type.Optional(DebtBody),
    agent: Type.Optional(AgentBody),
  },
  { additionalProperties: false },
);

const EnablementBody = Type.Object({ agent: Type.Optional(AgentBody) }, { additionalProperties: false });

const UnblockBody = Type.Object({ challenge: Challenge }, { additionalProperties: false });
const UnblockAnswer = Type.Object({
  cardNo: CardNo(),
  mac: Hex(4, 'APPLICATION UNBLOCK command MAC, hex', '5E6F7A8B'),
});

const CARD_404 = 'card-not-found';

/** Example answers and bodies (the walker validates each one against its schema). */
const issuedExample = { card: EXAMPLE_CARD, cardImage: EXAMPLE_IMAGE };
const lostCard: CardWire = {
  ...EXAMPLE_CARD,
  status: 'formal-loss',
  blacklist: { reason: 'formal-loss', version: 12, sinceMs: EXAMPLE_MS, sinceAt: isoBeijing(EXAMPLE_MS) },
  lossReport: { ...EXAMPLE_LOSS_REPORT, kind: 'formal', expiresMs: null, expiresAt: null },
};

export async function cardsRoutes(app: GatewayApp): Promise<void> {
  const { store, keys, clock, policies } = app.gateway;
  if (policies.defaultIssuingBank !== undefined && !isPartnerBankId(policies.defaultIssuingBank)) {
    throw new Error(`policy defaultIssuingBank ${policies.defaultIssuingBank} is not one of the 15 partner banks`);
  }

  app.post(
    '/v1/cards',
    {
      config: { roles: ['counter'], operation: 'apply' },
      schema: {
        tags: ['cards'],
        summary: 'Issue (personalise) a card',
        description:
          'Personalises a card for a holder and answers the card with its image (hex) for the card simulator. Without `cardNo` the gateway numbers the card ' +
          '(prefix, sequence, Luhn check digit). The initial service password of the app is the last 6 characters of the social security number. ' +
          'An impossible `expiryDate` is `400 invalid-date`, one before today `400 card-already-expired`. ' +
          'A holder under 18 (by the birth date) gets a card through a guardian with proof of guardianship (`agent` with `actingAs: guardian`, recorded), else `403 guardian-required`; an agent may not apply for the holder (`403 agent-not-allowed`).',
        security: BEARER,
        body: withExamples(IssueCardBody, {
          minor: {
            summary: "A minor's card, applied for by a guardian with the household register",
            value: {
              holderName: '小明',
              socialSecurityNo: '110101201203071236',
              profile: 'student',
              agent: { actingAs: 'guardian', idNumber: '110105198512240018', name: '李四', document: { kind: 'household-register', reference: 'HK-9' } },
            },
          },
          adult: { summary: 'An adult card, numbered by the gateway', value: { holderName: '张三', socialSecurityNo: '11010119900307123X', profile: 'adult' } },
          explicit: {
            summary: 'An explicit number, a 3DES card without transit',
            value: {
              cardNo: EXAMPLE_CARD_NO,
              holderName: '李四',
              socialSecurityNo: '110101200001011234',
              profile: 'student',
              algorithm: '3des',
              expiryDate: 20301231,
              overdraftLimit: '10.00',
              transitOpened: false,
            },
          },
        }),
        response: {
          201: withExamples(IssuedCard, { issued: { summary: 'The issued card and its image', value: issuedExample } }, 'The issued card'),
          ...problems(
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'mass-exchange-paused',
            'issuing-bank-only',
            'invalid-amount',
            'invalid-date',
            'card-already-expired',
            'card-number-check-digit',
            'card-number-out-of-range',
            'card-exists',
            'generation-not-supported',
            'agent-not-allowed',
            'guardian-required',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const body = request.body;
      if (body.cardNo !== undefined) requireIssuableCardNo(body.cardNo, policies);
      if (body.expiryDate !== undefined) requireUnexpired(body.expiryDate, 'expiryDate', clock());
      const overdraftLimitFen = body.overdraftLimit === undefined ? LIMITS.overdraftLimitFen : parseWireYuan(body.overdraftLimit, 'overdraftLimit', 100_000);
      // The slow KDF runs before the transaction so it never holds the store's write lock.
      const passwordHash = await hashPassword(initialServicePassword(body.socialSecurityNo), policies.passwordKdf);
      if (body.birthDate !== undefined) requireCalendarDate(body.birthDate, 'birthDate');
      // A partner-bank branch issues its own bank's cards (q5, q7): the bank is the branch's by default, another is refused.
      const branchBank = principal.organisation?.channelKind === 'bank-branch' ? principal.organisation.bankId : null;
      const issuingBank = body.issuingBank ?? branchBank ?? policies.defaultIssuingBank ?? DEFAULT_ISSUING_BANK;
      if (branchBank !== null && issuingBank !== branchBank) {
        throw new ApiError(
          'issuing-bank-only',
          `a ${branchBank} branch issues ${branchBank} cards, not ${issuingBank} cards: apply at a ${issuingBank} branch`,
          {
            rule: 'apply@bank-branch',
            operation: 'apply',
            channel: 'bank-branch',
            issuingBank,
          },
        );
      }
      // The ID number becomes its keyed hash here; only the hash reaches the store.
      const idHmac = holderIdHmac(app.gateway.holderIdKey, body.socialSecurityNo);
      const birthDate = body.birthDate ?? birthDateFromIdNumber(body.socialSecurityNo);
      const nowMs = clock();
      const generation = body.generation ?? 3;
      const result = await store.transaction(async (tx) => {
        const holder = await findOrCreateHolder(tx, { idHmac, name: body.holderName, birthDate }, actorOf(principal), nowMs);
        // q24, q37: a minor's card through a guardian with proof (the act recorded); never an agent.
        const act = await actForHolder(
          tx,
          app.gateway.holderIdKey,
          { operation: 'apply', agent: body.agent, holderId: holder.id, cardNo: null, birthDate: holder.birthDate },
          actedAt(principal),
          nowMs,
        );
        const issued = await issueCard(
          tx,
          keys,
          {
            cardNo: body.cardNo,
            holderName: body.holderName,
            profile: body.profile,
            generation,
            algorithm: body.algorithm ?? 'sm4',
            expiryDate: body.expiryDate ?? defaultExpiryDate(nowMs),
            overdraftLimitFen,
            transitOpened: generation === 3 ? (body.transitOpened ?? true) : (body.transitOpened ?? false),
            suburbanOpened: body.suburbanOpened ?? false,
            initialPasswordHash: passwordHash,
            holderId: holder.id,
            issuingBank,
          },
          { subject: actorOf(principal), branchId: principal.branchId },
          nowMs,
          policies.issuerCode,
          policies.cardNoPrefix,
        );
        if (act.actId !== null) await tx.run('UPDATE agent_acts SET card_no = ? WHERE id = ?', [issued.card.cardNo, act.actId]);
        return { card: await presentCard(tx, issued.card), cardImage: issued.imageHex };
      });
      return reply.code(201).send(result);
    },
  );

  app.get(
    '/v1/cards/:cardNo',
    {
      config: { roles: ['counter', 'app'], operation: 'status-query' },
      schema: {
        tags: ['cards'],
        summary: "Card status and the back office's (shadow) balance",
        description:
          "The card as the back office knows it: status, functions, blacklist listing, open loss report and the shadow balance (loads and uploaded purchases; validators upload late, so the card's own balance may be lower). " +
          'An app session sees only its own card: another card is `404 card-not-found`, as for a card that does not exist.',
        security: BEARER,
        params: CardNoParams,
        response: {
          200: withExamples(
            CardSchema,
            { active: { summary: 'An active card', value: EXAMPLE_CARD }, lost: { summary: 'A formally lost card, blacklisted', value: lostCard } },
            'The card',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, CARD_404),
        },
      },
    },
    async (request) => {
      const nowMs = clock();
      return store.transaction(async (tx) => presentCard(tx, await requireCard(tx, request.params.cardNo, nowMs)));
    },
  );

  app.get(
    '/v1/cards/:cardNo/transactions',
    {
      config: { roles: ['counter', 'app'], operation: 'status-query' },
      schema: {
        tags: ['cards'],
        summary: "The card's history: uploaded taps with their results, and loads, newest first",
        description:
          "Newest first, by time and then a unique record id, in keyset pages: while `more` is true, ask again with `cursor` = the answer's `nextCursor`; " +
          'no record is skipped or repeated, even when many share a millisecond. `before` only sets where the first page starts (records strictly before that epoch ms). ' +
          'A refused tap is never shown as a purchase; a torn debit recovered later is listed at its original time with `recoveredAtMs`.',
        security: BEARER,
        params: CardNoParams,
        querystring: TransactionsQuery,
        response: {
          200: withExamples(
            TransactionsPage,
            {
              page: {
                summary: 'A purchase and a load, more to come',
                value: {
                  cardNo: EXAMPLE_CARD_NO,
                  transactions: [
                    {
                      id: 'tap:GATE-01:42',
                      kind: 'purchase',
                      result: 'accepted',
                      resultCode: 0,
                      resultName: 'ACCEPTED',
                      atMs: EXAMPLE_MS + 60_000,
                      at: isoBeijing(EXAMPLE_MS + 60_000),
                      ...yuanAndFen('amount', 400),
                      status: 'verified',
                      atc: 4,
                      ...yuanAndFen('balanceAfter', 4600),
                      operator: 'subway',
                      deviceId: 'GATE-01',
                      recoveredAtMs: null,
                      recoveredAt: null,
                    },
                    {
                      id: 'load:12',
                      kind: 'load',
                      result: 'accepted',
                      resultCode: null,
                      resultName: null,
                      atMs: EXAMPLE_MS,
                      at: isoBeijing(EXAMPLE_MS),
                      ...yuanAndFen('amount', 5000),
                      status: 'confirmed',
                      atc: 1,
                      ...nullableYuanAndFen('balanceAfter', null),
                      operator: null,
                      deviceId: null,
                      recoveredAtMs: null,
                      recoveredAt: null,
                    },
                  ],
                  more: true,
                  nextCursor: 'WzE3NzMxMDgwMDAwMDAsMCwiIiwxMl0',
                },
              },
            },
            'One page of the history',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, CARD_404),
        },
      },
    },
    async (request) => {
      const limit = queryInt(request.query.limit, 100, 'limit', 500, 1);
      const before = queryInt(request.query.before, Number.MAX_SAFE_INTEGER, 'before');
      const after = request.query.cursor === undefined ? null : decodeHistoryCursor(request.query.cursor);
      const nowMs = clock();
      return store.transaction(async (tx) => {
        await requireCard(tx, request.params.cardNo, nowMs);
        const page = await listCardTransactions(tx, request.params.cardNo, { beforeMs: before, after, limit });
        return {
          cardNo: request.params.cardNo,
          transactions: page.transactions.map((t) => ({
            ...withIso(t, 'atMs', 'recoveredAtMs'),
            ...yuanAndFen('amount', t.amountFen),
            ...nullableYuanAndFen('balanceAfter', t.balanceAfterFen),
          })),
          more: page.next !== null,
          nextCursor: page.next === null ? null : encodeHistoryCursor(page.next),
        };
      });
    },
  );

  app.post(
    '/v1/cards/:cardNo/functions',
    {
      // Transit (q15) and suburban rail (q44) share their row: the handler checks the one asked for.
      config: { roles: ['counter'], operation: 'transit-opening' },
      schema: {
        tags: ['cards'],
        summary: 'Open the transit and/or suburban-rail functions',
        description:
          'Answers the issuer-authorised record write for the card that gave the challenge (GET CHALLENGE): send UPDATE RECORD(kind, record, mac) to it. Only third-generation cards carry the functions (`409 generation-not-supported`); suburban rail needs transit.',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(FunctionsBody, {
          transit: { summary: 'Open transit', value: { challenge: '9F3A12C4', transit: true } },
          both: { summary: 'Open transit and suburban rail', value: { challenge: '9F3A12C4', transit: true, suburban: true } },
        }),
        response: {
          200: withExamples(
            Type.Object({ card: CardSchema, write: AuthorisedWriteSchema }),
            { opened: { summary: 'The card and the write', value: { card: EXAMPLE_CARD, write: EXAMPLE_WRITE } } },
            'The card and the authorised write',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'invalid-hex', CARD_404, 'card-not-active', 'generation-not-supported'),
        },
      },
    },
    async (request) => {
      const challenge = hexToBytes(request.body.challenge, 4, 'challenge');
      if (!request.body.transit && !request.body.suburban) throw new ApiError('invalid-request', 'open transit, suburban or both');
      const nowMs = clock();
      return store.transaction(async (tx) => {
        const current = await requireCard(tx, request.params.cardNo, nowMs);
        if (request.body.transit) assertChannelFor(request, 'transit-opening', current);
        if (request.body.suburban) assertChannelFor(request, 'suburban-opening', current);
        const { card, write } = await openFunctions(
          tx,
          keys,
          request.params.cardNo,
          { transit: request.body.transit === true, suburban: request.body.suburban === true, challenge },
          nowMs,
        );
        return { card: await presentCard(tx, card), write: { kind: write.kind, record: write.recordHex, mac: write.macHex } };
      });
    },
  );

  app.post(
    '/v1/cards/:cardNo/replacement',
    {
      config: { roles: ['counter'], operation: 'replacement' },
      schema: {
        tags: ['cards'],
        summary: 'Replace a formally lost card',
        description:
          'A new card for the holder after a formal loss report: the balance moves to the new card and the old card is blacklisted `replaced` forever (it can never be unblocked). ' +
          'Without a formal loss report first: `409 formal-loss-required`.',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(ReplacementBody, {
          defaults: { summary: 'Same cipher, ten years', value: {} },
          explicit: { summary: 'SM4, an explicit expiry', value: { algorithm: 'sm4', expiryDate: 20351220 } },
        }),
        response: {
          201: withExamples(
            Type.Object({ oldCard: CardSchema, card: CardSchema, cardImage: CardImage }),
            {
              replaced: {
                summary: 'The old card, replaced, and the new one',
                value: {
                  oldCard: {
                    ...lostCard,
                    status: 'replaced',
                    replacedBy: '1000000000000024',
                    blacklist: { reason: 'replaced', version: 13, sinceMs: EXAMPLE_MS, sinceAt: isoBeijing(EXAMPLE_MS) },
                    lossReport: null,
                  },
                  card: { ...EXAMPLE_CARD, cardNo: '1000000000000024', replaces: EXAMPLE_CARD_NO },
                  cardImage: EXAMPLE_IMAGE,
                },
              },
            },
            'The old card and the new card with its image',
          ),
          ...problems(
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'issuing-bank-only',
            'invalid-date',
            'card-already-expired',
            CARD_404,
            'card-replaced',
            'formal-loss-required',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const nowMs = clock();
      if (request.body?.expiryDate !== undefined) requireUnexpired(request.body.expiryDate, 'expiryDate', nowMs);
      const result = await store.transaction(
        async (tx) => {
          // The old card (the new one is inserted here: no other transaction can see it yet).
          await tx.lockCards([request.params.cardNo]);
          await lockBlacklist(tx);
          assertChannelFor(request, 'replacement', await requireCard(tx, request.params.cardNo, nowMs));
          const { oldCard, issued } = await replaceCard(
            tx,
            keys,
            request.params.cardNo,
            {
              algorithm: request.body?.algorithm,
              expiryDate: request.body?.expiryDate ?? defaultExpiryDate(nowMs),
              cardNoPrefix: policies.cardNoPrefix,
              issuerCode: policies.issuerCode,
            },
            { subject: actorOf(principal), branchId: principal.branchId },
            nowMs,
          );
          return { oldCard: await presentCard(tx, oldCard), card: await presentCard(tx, issued.card), cardImage: issued.imageHex };
        },
        { isolation: 'read-committed' },
      );
      return reply.code(201).send(result);
    },
  );

  app.post(
    '/v1/cards/:cardNo/cancellation',
    {
      // The card-independent check allows bank branches and service points; the handler checks the
      // scope with the card: the whole card (its transit purse) only at the issuing bank (q33, q46).
      config: { roles: ['counter'], operation: 'cancel' },
      // The body is optional (older clients send none): no body is an empty one.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        tags: ['cards'],
        summary: 'Cancel the card',
        description:
          'scope `card` (default; a bank branch): the card is blacklisted `cancelled` for good; with `destinationAccount` and `destinationName` its transit balance is refunded like a broken card’s ' +
          '(within 2 natural days; the refund is in the card’s refunds), without them it waits for POST /v1/cards/{cardNo}/refunds. An overdrawn card’s debt is paid in or written off by a supervisor first (`debt`), else `409 card-has-debt`. ' +
          'scope `social-security` (what a service point does): only the social-security function ends; the card, its transit purse and functions stay as they are. ' +
          'A replaced card answers `409 card-replaced`, a card already in a final state `409 card-not-active`. ' +
          'An agent may cancel for the holder with the documents of the case (`agent`: a death certificate, proof of emigration or of a transfer to another province, or a written authorisation; recorded with a keyed hash of the agent’s ID number): ' +
          'a whole-card cancellation by an agent names the account given with those documents (`destinationAccount`, `destinationName`), where the transit balance is refunded (`400 invalid-request` without it). ' +
          'A holder under 18 cancels through a guardian with proof (`403 guardian-required`).',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(CancellationBody, {
          refund: { summary: 'At the bank: refund the transit balance', value: { destinationAccount: '6222020200112233456789', destinationName: '张三' } },
          death: {
            summary: "After the holder's death: an agent with the death certificate; the refund goes to the account given with it",
            value: {
              destinationAccount: '6222020200998877665544',
              destinationName: '李四',
              agent: { ...EXAMPLE_AGENT, document: { kind: 'death-certificate', reference: 'SW-2026-0042' } },
            },
          },
          socialSecurity: { summary: 'At a service point', value: { scope: 'social-security' } },
        }),
        response: {
          200: withExamples(
            CardSchema,
            {
              cancelled: {
                summary: 'The cancelled card',
                value: {
                  ...EXAMPLE_CARD,
                  status: 'cancelled',
                  blacklist: { reason: 'cancelled', version: 14, sinceMs: EXAMPLE_MS, sinceAt: isoBeijing(EXAMPLE_MS) },
                },
              },
            },
            'The cancelled card',
          ),
          ...problems(
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'issuing-bank-only',
            CARD_404,
            'card-replaced',
            'card-not-active',
            'card-has-debt',
            'supervisor-required',
            'lost-card-no-refund',
            'agent-not-allowed',
            'guardian-required',
          ),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const body = request.body;
      if ((body.destinationAccount === undefined) !== (body.destinationName === undefined)) {
        throw new ApiError('invalid-request', 'destinationAccount and destinationName come together', { field: 'destinationAccount' });
      }
      const scope = body.scope ?? 'card';
      if (body.agent !== undefined && scope === 'card' && body.destinationAccount === undefined) {
        // q33: the balance goes to the account given with the documents, never left for someone else to claim.
        throw new ApiError(
          'invalid-request',
          'a cancellation by an agent names the account given with the documents (destinationAccount, destinationName): the transit balance is refunded there',
          { field: 'destinationAccount' },
        );
      }
      const nowMs = clock();
      return store.transaction(
        async (tx) => {
          await tx.lockCards([request.params.cardNo]);
          await lockBlacklist(tx);
          const operation = scope === 'card' ? 'cancel-transit-refund' : 'cancel';
          const current = await requireCard(tx, request.params.cardNo, nowMs);
          assertChannelFor(request, operation, current);
          // A retried cancellation that changes nothing (already cancelled, its refund already
          // requested or none asked for) checks the actor again but records no second agent act.
          const repeat =
            scope === 'card'
              ? current.status === 'cancelled' &&
                (body.destinationAccount === undefined ||
                  (await tx.get<{ card_no: string }>('SELECT card_no FROM refunds WHERE card_no = ?', [current.cardNo])) !== undefined)
              : current.socialSecurityCancelledMs !== null;
          await actForHolder(
            tx,
            app.gateway.holderIdKey,
            { operation, agent: body.agent, holderId: current.holderId, cardNo: current.cardNo, repeat },
            actedAt(principal),
            nowMs,
          );
          const { card } = await cancelCardAtCounter(
            tx,
            {
              cardNo: request.params.cardNo,
              scope,
              refundTo: body.destinationAccount === undefined ? undefined : { account: body.destinationAccount, name: body.destinationName! },
              debt: debtSettlement(body.debt),
            },
            lifecycleActor(principal),
            nowMs,
          );
          return presentCard(tx, card);
        },
        { isolation: 'read-committed' },
      );
    },
  );

  app.post(
    '/v1/cards/:cardNo/enablement',
    {
      config: { roles: ['counter', 'app'], operation: 'enable' },
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        tags: ['cards'],
        summary: "Enable the card's social-security functions (启用)",
        description:
          'Enabling concerns the social-security functions (q14): the transit purse follows the transit function and never waits for it. At a bank branch, a service point or online (the app). ' +
          "At a counter an agent with the holder's written authorisation may enable the card (`agent`, recorded with a keyed hash of the agent's ID number); a holder under 18 enables through a guardian with proof (`403 guardian-required`). " +
          'Enabling twice answers the card as it is (the first time stays). A replaced card is `409 card-replaced`; a card in a final state, or whose social-security function was cancelled, `409 card-not-active`.',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(EnablementBody, {
          holder: { summary: 'The holder, with ID', value: {} },
          agent: { summary: "An agent with the holder's written authorisation", value: { agent: EXAMPLE_AGENT } },
        }),
        response: {
          200: withExamples(CardSchema, { enabled: { summary: 'The enabled card', value: EXAMPLE_CARD } }, 'The card, enabled'),
          ...problems(
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            CARD_404,
            'card-replaced',
            'card-not-active',
            'agent-not-allowed',
            'guardian-required',
          ),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const agent = request.body.agent;
      if (principal.role === 'app' && agent !== undefined) throw new ApiError('forbidden', 'an agent acts for the holder at a counter');
      const nowMs = clock();
      return store.transaction(async (tx) => {
        const card = await requireCard(tx, request.params.cardNo, nowMs);
        // The app session is the holder's own (card + service password); at a counter, who acts is checked and recorded.
        if (principal.role !== 'app') {
          await actForHolder(
            tx,
            app.gateway.holderIdKey,
            { operation: 'enable', agent, holderId: card.holderId, cardNo: card.cardNo },
            actedAt(principal),
            nowMs,
          );
        }
        return presentCard(tx, await enableCard(tx, card.cardNo, nowMs));
      });
    },
  );

  app.post(
    '/v1/cards/:cardNo/unblock',
    {
      config: { roles: ['counter'], operation: 'unblock' },
      schema: {
        tags: ['cards'],
        summary: 'APPLICATION UNBLOCK of a locked card at a counter',
        description:
          "Answers the command MAC for APPLICATION UNBLOCK over the card's challenge. Refused for replaced (`409 card-replaced`), formally lost, refunded, cloned or cancelled cards (`409 unblock-refused`).",
        security: BEARER,
        params: CardNoParams,
        body: withExamples(UnblockBody, { unblock: { summary: "The card's challenge", value: { challenge: '9F3A12C4' } } }),
        response: {
          200: withExamples(UnblockAnswer, { mac: { summary: 'The command MAC', value: { cardNo: EXAMPLE_CARD_NO, mac: '5E6F7A8B' } } }, 'The command MAC'),
          ...problems(
            'card-of-other-issuer',
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'issuing-bank-only',
            'invalid-hex',
            CARD_404,
            'card-replaced',
            'unblock-refused',
          ),
        },
      },
    },
    async (request) => {
      // Another T-Union city's card: its unblock belongs to its issuer (issue 18).
      refuseOtherIssuerCard(app.gateway.policies, request.params.cardNo, 'unblock');
      const challenge = hexToBytes(request.body.challenge, 4, 'challenge');
      const nowMs = clock();
      return store.transaction(async (tx) => {
        assertChannelFor(request, 'unblock', await requireCard(tx, request.params.cardNo, nowMs));
        const { card, macHex } = await authoriseUnblock(tx, keys, request.params.cardNo, challenge, nowMs);
        return { cardNo: card.cardNo, mac: macHex };
      });
    },
  );
}
