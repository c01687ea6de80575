/**
 * The card's life at the counter (issue 16): applications and their progress, collecting a made
 * card, the exchange of a broken card or after a change of name or ID number, the change of
 * partner bank, and the park pass a card holds. Rules in services/card-applications.ts,
 * services/card-exchange.ts, services/card-debts.ts and services/park-pass-transfer.ts.
 */
import { hashPassword, initialServicePassword } from '../auth/passwords.ts';
import { actorOf, assertCardScope, requirePrincipal } from '../auth/scope.ts';
import { ApiError } from '../http/problem.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  CardNoParams,
  type GatewayApp,
  IdParams,
  isoBeijing,
  Nullable,
  nullableTimestamp,
  problems,
  type Static,
  StringEnum,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
  Yuan,
} from '../http/wire.ts';
import { parseWireYuan } from '../http/yuan-wire.ts';
import { LIMITS } from '#core';
import { type CardApplication, collectCard, holderApplications, requireApplication, applyForCard, type ApplyOptions } from '../services/card-applications.ts';
import { exchangeCard, startBankChange, type BankChangeView } from '../services/card-exchange.ts';
import { assertChannelFor } from '../auth/channel.ts';
import { lockBlacklist } from '../services/blacklist.ts';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import { requireCard } from '../services/cards.ts';
import { findHolderByHmac, findOrCreateHolder, holderIdHmac, birthDateFromIdNumber, maskName } from '../services/holders.ts';
import { cardPassYears, passCardChain, passValidity, passVisits } from '../services/park-pass-transfer.ts';
import { CardSchema, EXAMPLE_CARD, EXAMPLE_CARD_NO, EXAMPLE_MS, IssuingBank } from './card-schemas.ts';
import { presentCard, SSN_PATTERN } from './cards.ts';
import { actedAt, AgentBody, DebtBody, debtSettlement, lifecycleActor, RefundDestinationProps } from './lifecycle-schemas.ts';
import { actForHolder } from '../services/agents.ts';
import { EXAMPLE_REFUND, RefundSchema, refundToWire } from './money-schemas.ts';
import { refuseOtherIssuerCard } from '../services/issuers.ts';

const APPLICATION_STATES = ['applied', 'making', 'ready', 'mailed', 'collected'] as const;

export const ApplicationSchema = Type.Object({
  id: Type.String({ description: 'application id', examples: ['7'] }),
  kind: StringEnum(['application', 'exchange'], { description: 'application: a first card (or the new bank’s card); exchange: a new card for an old one' }),
  reason: StringEnum(['first-card', 'broken', 'name-change', 'id-change', 'bank-change'], { description: 'why the card is made' }),
  state: StringEnum(APPLICATION_STATES, {
    description: 'applied → making → ready (at the branch) or mailed → collected; an instant branch makes the card at once (ready)',
  }),
  collection: StringEnum(['instant', 'branch', 'mail'], { description: 'how the holder gets the card' }),
  issuingBank: IssuingBank('the partner bank that issues the new card'),
  branchId: Nullable(Type.String({ description: 'branch the application was filed at' })),
  holderName: Type.String({ description: 'the name on the new card, masked', examples: ['张*'] }),
  oldCardNo: Nullable(CardNo('the card exchanged (exchange only)')),
  newCardNo: Nullable(CardNo('the new card, once collected')),
  ...timestamp('appliedMs', 'when the application was filed', EXAMPLE_MS),
  ...timestamp(
    'dueMs',
    'when the card is made at the latest: 30 days for an application, 4 working days for an exchange, at once at an instant branch',
    EXAMPLE_MS,
  ),
  ...nullableTimestamp('makingMs', 'when the factory took it'),
  ...nullableTimestamp('madeMs', 'when the card was made (ready or mailed)'),
  ...nullableTimestamp('collectedMs', 'when the holder got the card'),
});
export type ApplicationWire = Static<typeof ApplicationSchema>;

export function applicationToWire(a: CardApplication): ApplicationWire {
  const iso = (ms: number | null) => (ms === null ? null : isoBeijing(ms));
  return {
    id: String(a.id),
    kind: a.kind,
    reason: a.reason,
    state: a.state,
    collection: a.collection,
    issuingBank: a.issuingBank as ApplicationWire['issuingBank'],
    branchId: a.branchId,
    holderName: maskName(a.holderName),
    oldCardNo: a.oldCardNo,
    newCardNo: a.newCardNo,
    appliedMs: a.appliedMs,
    appliedAt: isoBeijing(a.appliedMs),
    dueMs: a.dueMs,
    dueAt: isoBeijing(a.dueMs),
    makingMs: a.makingMs,
    makingAt: iso(a.makingMs),
    madeMs: a.madeMs,
    madeAt: iso(a.madeMs),
    collectedMs: a.collectedMs,
    collectedAt: iso(a.collectedMs),
  };
}

const DUE_EXAMPLE_MS = EXAMPLE_MS + 6 * 86_400_000;
export const EXAMPLE_APPLICATION: ApplicationWire = {
  id: '7',
  kind: 'exchange',
  reason: 'broken',
  state: 'making',
  collection: 'branch',
  issuingBank: 'icbc',
  branchId: 'branch-01',
  holderName: '张*',
  oldCardNo: EXAMPLE_CARD_NO,
  newCardNo: null,
  appliedMs: EXAMPLE_MS,
  appliedAt: isoBeijing(EXAMPLE_MS),
  dueMs: DUE_EXAMPLE_MS,
  dueAt: isoBeijing(DUE_EXAMPLE_MS),
  makingMs: EXAMPLE_MS,
  makingAt: isoBeijing(EXAMPLE_MS),
  madeMs: null,
  madeAt: null,
  collectedMs: null,
  collectedAt: null,
};

const BankChangeSchema = Type.Object({
  id: Type.String({ description: 'bank change id', examples: ['3'] }),
  oldCardNo: CardNo('the card cancelled at the old bank'),
  fromBank: IssuingBank('the old issuing bank'),
  toBank: IssuingBank('the new bank (the bank of the new card once it is issued)'),
  ...timestamp('cancelledMs', 'when the old card was cancelled at the old bank', EXAMPLE_MS),
  newCardNo: Nullable(CardNo("the new bank's card, once issued")),
  ...nullableTimestamp('completedMs', "when the change completed: the new card's issue"),
  ...nullableTimestamp('nextPossibleMs', 'from when the next change is possible: 6 months after this one completed (null while open)'),
});

function bankChangeToWire(b: BankChangeView): Static<typeof BankChangeSchema> {
  const iso = (ms: number | null) => (ms === null ? null : isoBeijing(ms));
  return {
    id: String(b.id),
    oldCardNo: b.oldCardNo,
    fromBank: b.fromBank as Static<typeof BankChangeSchema>['fromBank'],
    toBank: b.toBank as Static<typeof BankChangeSchema>['toBank'],
    cancelledMs: b.cancelledMs,
    cancelledAt: isoBeijing(b.cancelledMs),
    newCardNo: b.newCardNo,
    completedMs: b.completedMs,
    completedAt: iso(b.completedMs),
    nextPossibleMs: b.nextPossibleMs,
    nextPossibleAt: iso(b.nextPossibleMs),
  };
}

const SsnField = Type.String({
  pattern: SSN_PATTERN,
  description: "the holder's ID number: found through its keyed hash, never stored, logged or returned",
  examples: ['11010119900307123X'],
});

const ApplyBody = Type.Object(
  {
    holderName: Type.String({ minLength: 1, maxLength: 64, description: "the holder's name", examples: ['张三'] }),
    socialSecurityNo: SsnField,
    birthDate: Type.Optional(
      Type.Integer({ minimum: 19000101, maximum: 29991231, description: 'YYYYMMDD for a new holder record; default: from the ID number' }),
    ),
    issuingBank: IssuingBank('the partner bank that issues the card (the new bank after a bank change)'),
    profile: StringEnum(['adult', 'student', 'senior'], { description: 'holder profile (fare discounts)' }),
    collection: StringEnum(['instant', 'branch', 'mail'], {
      description:
        'instant: made at once at a branch that makes cards at once (else 409 instant-issue-not-offered); branch: collect at the branch; mail: mailed',
    }),
    algorithm: Type.Optional(StringEnum(['3des', 'sm4'], { default: 'sm4', description: 'purse cipher (default sm4)' })),
    overdraftLimit: Type.Optional(Yuan('Overdraft limit, yuan (default 20.00, at most 1000.00)', '20.00')),
    suburbanOpened: Type.Optional(Type.Boolean({ default: false, description: 'open suburban rail on the new card' })),
    agent: Type.Optional(AgentBody),
  },
  { additionalProperties: false },
);

const SearchBody = Type.Object({ socialSecurityNo: SsnField, agent: Type.Optional(AgentBody) }, { additionalProperties: false });

const CollectionAnswer = Type.Object({
  application: ApplicationSchema,
  card: CardSchema,
  cardImage: Type.String({
    description: 'encodeCardImage bytes, hex: the made card, its park pass (if moved) personalised in',
    examples: ['031000000000000000160000'],
  }),
  parkPasses: Type.Array(
    Type.Object({
      passYear: Type.Integer({ description: 'the pass year', examples: [2027] }),
      visits: Type.Integer({ description: "visits counted from the back office's uploaded park entries at the move", examples: [3] }),
    }),
    { description: 'park passes moved from the exchanged card (empty for a first card)' },
  ),
});

const ExchangeBody = Type.Object(
  {
    reason: StringEnum(['broken', 'name-change', 'id-change'], { description: 'a broken card or a change of name or ID number' }),
    ...RefundDestinationProps,
    collection: StringEnum(['instant', 'branch', 'mail'], { description: 'how the holder gets the new card' }),
    newHolderName: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'name-change: the new name', examples: ['张三丰'] })),
    newSocialSecurityNo: Type.Optional(
      Type.String({
        pattern: SSN_PATTERN,
        description: 'id-change: the new ID number (its keyed hash replaces the old one)',
        examples: ['110101199003071239'],
      }),
    ),
    debt: Type.Optional(DebtBody),
    agent: Type.Optional(AgentBody),
  },
  { additionalProperties: false },
);

const ExchangeAnswer = Type.Object({ oldCard: CardSchema, refund: RefundSchema, application: ApplicationSchema });

const BankChangeBody = Type.Object(
  {
    toBank: IssuingBank('the bank the holder changes to'),
    ...RefundDestinationProps,
    debt: Type.Optional(DebtBody),
    agent: Type.Optional(AgentBody),
  },
  { additionalProperties: false },
);
const BankChangeAnswer = Type.Object({ oldCard: CardSchema, refund: RefundSchema, bankChange: BankChangeSchema });

const ParkPassView = Type.Object({
  cardNo: CardNo(),
  passes: Type.Array(
    Type.Object({
      passYear: Type.Integer({ examples: [2027] }),
      validFrom: Type.Integer({ description: 'YYYYMMDD', examples: [20270101] }),
      validUntil: Type.Integer({ description: 'YYYYMMDD', examples: [20280131] }),
      visits: Type.Integer({ description: 'park entries uploaded on this card and the cards the pass moved from', examples: [4] }),
      cards: Type.Array(CardNo(), { description: 'this card, then the cards the pass moved from' }),
    }),
    { description: 'the passes the card holds, newest first' },
  ),
});

const APPLICATION_404 = 'application-not-found';

export async function cardLifecycleRoutes(app: GatewayApp): Promise<void> {
  const { store, keys, clock, policies } = app.gateway;
  const applyOptions = (): ApplyOptions => ({ instantCardBranches: policies.instantCardBranches ?? [] });

  app.post(
    '/v1/card-applications',
    {
      config: { roles: ['counter'], operation: 'apply' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['card life'],
        summary: 'Apply for a card (申领)',
        description:
          'Files an application: the card factory makes it within 30 days, or at once at a branch that makes cards at once (`collection: instant`). ' +
          'A holder has one application in progress (`409 application-open`) and gets a first card only without a card in use (`409 holder-has-card`). ' +
          "After a bank change (POST /v1/cards/{cardNo}/bank-change) this is the new bank's application: its card's issue completes the change. " +
          'A holder under 18 (by the birth date) applies through a guardian with proof of guardianship (`agent` with `actingAs: guardian`, recorded), else `403 guardian-required`; an agent may not apply (`403 agent-not-allowed`).',
        security: BEARER,
        body: withExamples(ApplyBody, {
          branch: {
            summary: 'Collect at the branch',
            value: { holderName: '张三', socialSecurityNo: '11010119900307123X', issuingBank: 'icbc', profile: 'adult', collection: 'branch' },
          },
        }),
        response: {
          201: withExamples(
            ApplicationSchema,
            { applied: { summary: 'Filed', value: { ...EXAMPLE_APPLICATION, kind: 'application', reason: 'first-card', state: 'applied', oldCardNo: null } } },
            'The application',
          ),
          ...problems(
            ...AUTHENTICATED,
            ...CHANNEL_PROBLEMS,
            ...WITH_BODY,
            'invalid-amount',
            'application-open',
            'holder-has-card',
            'instant-issue-not-offered',
            'agent-not-allowed',
            'guardian-required',
            'bank-not-online',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const body = request.body;
      const overdraftLimitFen = body.overdraftLimit === undefined ? LIMITS.overdraftLimitFen : parseWireYuan(body.overdraftLimit, 'overdraftLimit', 100_000);
      const passwordHash = await hashPassword(initialServicePassword(body.socialSecurityNo), policies.passwordKdf);
      const idHmac = holderIdHmac(app.gateway.holderIdKey, body.socialSecurityNo);
      const birthDate = body.birthDate ?? birthDateFromIdNumber(body.socialSecurityNo);
      const nowMs = clock();
      const application = await store.transaction(async (tx) => {
        const holder = await findOrCreateHolder(tx, { idHmac, name: body.holderName, birthDate }, actorOf(principal), nowMs);
        // q24, q37: a minor applies through a guardian with proof (recorded); an agent never applies.
        await actForHolder(
          tx,
          app.gateway.holderIdKey,
          { operation: 'apply', agent: body.agent, holderId: holder.id, cardNo: null, birthDate: holder.birthDate },
          actedAt(principal),
          nowMs,
        );
        return applyForCard(
          tx,
          {
            holderId: holder.id,
            kind: 'application',
            reason: 'first-card',
            issuingBank: body.issuingBank,
            branchId: principal.branchId,
            collection: body.collection,
            holderName: body.holderName,
            profile: body.profile,
            algorithm: body.algorithm ?? 'sm4',
            overdraftLimitFen,
            transitOpened: true,
            suburbanOpened: body.suburbanOpened ?? false,
            passwordHash,
            passwordMustChange: true,
          },
          applyOptions(),
          actorOf(principal),
          nowMs,
        );
      });
      return reply.code(201).send(applicationToWire(application));
    },
  );

  app.get(
    '/v1/card-applications/:id',
    {
      config: { roles: ['counter'], operation: 'status-query' },
      schema: {
        tags: ['card life'],
        summary: 'Status and progress of an application',
        description:
          'The state (applied, making, ready, mailed, collected), when it is due, and each step’s time. The factory is brought up to the gateway clock first.',
        security: BEARER,
        params: IdParams('application id'),
        response: {
          200: withExamples(ApplicationSchema, { making: { summary: 'In the factory', value: EXAMPLE_APPLICATION } }, 'The application'),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, APPLICATION_404),
        },
      },
    },
    async (request) => applicationToWire(await store.transaction((tx) => requireApplication(tx, request.params.id, clock()))),
  );

  app.post(
    '/v1/card-applications/search',
    {
      config: { roles: ['counter'], operation: 'status-query' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['card life'],
        summary: "A holder's applications by ID number, newest first",
        description:
          'The ID number travels in the body (never in a URL or a log) and is turned into its keyed hash at once. No holder: `404 holder-not-found`. ' +
          "An agent with the holder's written authorisation may ask for the holder (`agent`, recorded with a keyed hash of the agent's ID number).",
        security: BEARER,
        body: withExamples(SearchBody, { search: { summary: 'By ID number', value: { socialSecurityNo: '11010119900307123X' } } }),
        response: {
          200: withExamples(
            Type.Object({ applications: Type.Array(ApplicationSchema) }),
            { found: { summary: 'One exchange in the factory', value: { applications: [EXAMPLE_APPLICATION] } } },
            "The holder's applications",
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, ...WITH_BODY, 'holder-not-found', 'agent-not-allowed'),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const idHmac = holderIdHmac(app.gateway.holderIdKey, request.body.socialSecurityNo);
      return store.transaction(async (tx) => {
        const holder = await findHolderByHmac(tx, idHmac);
        if (!holder) throw new ApiError('holder-not-found', 'no holder with this ID number');
        await actForHolder(
          tx,
          app.gateway.holderIdKey,
          { operation: 'status-query', agent: request.body.agent, holderId: holder.id, cardNo: null },
          actedAt(principal),
          clock(),
        );
        return { applications: (await holderApplications(tx, holder.id, clock())).map(applicationToWire) };
      });
    },
  );

  app.post(
    '/v1/card-applications/:id/collection',
    {
      config: { roles: ['counter'], operation: 'apply' },
      schema: {
        tags: ['card life'],
        summary: 'Hand the made card over (ready at the branch, or mailed and received)',
        description:
          'Personalises the made card and answers it with its image. An exchanged card’s current park pass is in the image with the visits the back office has uploaded; its functions (transit, suburban rail) are open as they were. ' +
          'A bank change completes here (the 6-month rule counts from this issue). Before the card is made: `409 card-not-ready`; a second collection: `409 card-not-ready`. ' +
          'The card rides as soon as its transit function is open: transit does not wait for the social-security “enabling”.',
        security: BEARER,
        params: IdParams('application id'),
        response: {
          201: withExamples(
            CollectionAnswer,
            {
              collected: {
                summary: 'The new card with the moved park pass',
                value: {
                  application: {
                    ...EXAMPLE_APPLICATION,
                    state: 'collected',
                    newCardNo: '1000000000000024',
                    collectedMs: EXAMPLE_MS,
                    collectedAt: isoBeijing(EXAMPLE_MS),
                  },
                  card: { ...EXAMPLE_CARD, cardNo: '1000000000000024', replaces: EXAMPLE_CARD_NO },
                  cardImage: '031000000000000000160000',
                  parkPasses: [{ passYear: 2026, visits: 3 }],
                },
              },
            },
            'The collected card',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, APPLICATION_404, 'card-not-ready'),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const nowMs = clock();
      const result = await store.transaction(async (tx) => {
        const collected = await collectCard(
          tx,
          request.params.id,
          { keys, issuerCode: policies.issuerCode, cardNoPrefix: policies.cardNoPrefix, expiryDate: tenYearsFrom(nowMs) },
          { subject: actorOf(principal), branchId: principal.branchId },
          nowMs,
        );
        return {
          application: applicationToWire(collected.application),
          card: await presentCard(tx, collected.issued.card),
          cardImage: collected.issued.imageHex,
          parkPasses: collected.parkPasses.map((p) => ({ passYear: p.year, visits: p.visits })),
        };
      });
      return reply.code(201).send(result);
    },
  );

  app.post(
    '/v1/cards/:cardNo/exchange',
    {
      // Online (the app, the card's own session) where the card's issuing bank offers it (q22): channels.onlineReplacementBanks.
      config: { roles: ['counter', 'app'], operation: 'exchange' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['card life'],
        summary: 'Exchange a broken card, or after a change of name or ID number (换领)',
        description:
          'At the issuing bank. The old card is collected and blacklisted `exchanged` for good; its transit balance is refunded to the account given within 2 natural days ' +
          '(the refund machinery: paid once every device drained, or at the deadline; later taps written off); a new card is applied for (up to 4 working days, at once at an instant branch) ' +
          'with the old card’s functions, and its current park pass moves at collection. An overdrawn card’s debt is paid in or written off by a supervisor first (`debt`), else `409 card-has-debt`. ' +
          'A change of name or ID number updates the holder record (a new ID number already of another holder: `409 id-number-in-use`). A retry answers the first exchange (200). ' +
          "Online (an app session, its own card) a broken card is exchanged only where the card's issuing bank offers it (policy `channels.onlineReplacementBanks`, else `403 bank-not-online`), collected by mail; a change of name or ID number is the issuing bank's counter's (`403 channel-not-allowed`).",
        security: BEARER,
        params: CardNoParams,
        body: withExamples(ExchangeBody, {
          broken: {
            summary: 'A broken card, collect at the branch',
            value: { reason: 'broken', destinationAccount: '6222020200112233456789', destinationName: '张三', collection: 'branch' },
          },
          overdrawn: {
            summary: 'An overdrawn card: the debt paid in cash',
            value: {
              reason: 'broken',
              destinationAccount: '6222020200112233456789',
              destinationName: '张三',
              collection: 'instant',
              debt: { settle: 'pay', paymentSource: 'cash' },
            },
          },
        }),
        response: {
          201: withExamples(
            ExchangeAnswer,
            {
              exchanged: {
                summary: 'Collected, refund waiting for devices, new card in the factory',
                value: {
                  oldCard: {
                    ...EXAMPLE_CARD,
                    status: 'exchanged',
                    blacklist: { reason: 'exchanged', version: 15, sinceMs: EXAMPLE_MS, sinceAt: isoBeijing(EXAMPLE_MS) },
                  },
                  refund: EXAMPLE_REFUND,
                  application: EXAMPLE_APPLICATION,
                },
              },
            },
            'The exchange',
          ),
          200: withExamples(
            ExchangeAnswer,
            {
              again: {
                summary: 'The first exchange again',
                value: {
                  oldCard: {
                    ...EXAMPLE_CARD,
                    status: 'exchanged',
                    blacklist: { reason: 'exchanged', version: 15, sinceMs: EXAMPLE_MS, sinceAt: isoBeijing(EXAMPLE_MS) },
                  },
                  refund: EXAMPLE_REFUND,
                  application: EXAMPLE_APPLICATION,
                },
              },
            },
            'The exchange made earlier',
          ),
          ...problems(
            'card-of-other-issuer',
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'issuing-bank-only',
            'card-not-found',
            'card-not-active',
            'card-replaced',
            'card-exchanged',
            'holder-not-recorded',
            'id-number-in-use',
            'card-has-debt',
            'supervisor-required',
            'application-open',
            'instant-issue-not-offered',
            'agent-not-allowed',
            'guardian-required',
            'bank-not-online',
          ),
        },
      },
    },
    async (request, reply) => {
      // Another T-Union city's card: its exchange belongs to its issuer (issue 18).
      refuseOtherIssuerCard(app.gateway.policies, request.params.cardNo, 'exchange');
      const principal = requirePrincipal(request);
      const body = request.body;
      if (principal.role === 'app' && body.agent !== undefined) throw new ApiError('forbidden', 'an agent or guardian acts for the holder at a counter');
      if (principal.role === 'app' && body.collection !== 'mail') {
        throw new ApiError('invalid-request', 'an exchange online is collected by mail', { field: 'collection' });
      }
      const nowMs = clock();
      const newIdHmac = body.newSocialSecurityNo === undefined ? undefined : holderIdHmac(app.gateway.holderIdKey, body.newSocialSecurityNo);
      const result = await store.transaction(
        async (tx) => {
          await tx.lockCards([request.params.cardNo]);
          await lockBlacklist(tx);
          // The issuing bank's (q22, q23): a broken card's exchange, or the name/ID change one.
          const operation = body.reason === 'broken' ? 'exchange' : 'name-change';
          const current = await requireCard(tx, request.params.cardNo, nowMs);
          assertChannelFor(request, operation, current);
          // q24: a minor's card is exchanged by a guardian with proof; an agent may not (q37). A card
          // already exchanged answers its first exchange (a repeated request): nothing new to check.
          if (current.status !== 'exchanged') {
            await actForHolder(
              tx,
              app.gateway.holderIdKey,
              { operation, agent: body.agent, holderId: current.holderId, cardNo: current.cardNo },
              actedAt(principal),
              nowMs,
            );
          }
          const done = await exchangeCard(
            tx,
            {
              cardNo: request.params.cardNo,
              reason: body.reason,
              refundTo: { account: body.destinationAccount, name: body.destinationName },
              collection: body.collection,
              newHolderName: body.newHolderName,
              newIdHmac,
              debt: debtSettlement(body.debt),
            },
            applyOptions(),
            lifecycleActor(principal),
            nowMs,
          );
          return {
            created: done.created,
            answer: { oldCard: await presentCard(tx, done.oldCard), refund: refundToWire(done.refund), application: applicationToWire(done.application) },
          };
        },
        { isolation: 'read-committed' },
      );
      return reply.code(result.created ? 201 : 200).send(result.answer);
    },
  );

  app.post(
    '/v1/cards/:cardNo/bank-change',
    {
      config: { roles: ['counter'], operation: 'bank-change' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['card life'],
        summary: 'Change of partner bank, at the old issuing bank',
        description:
          'The card is cancelled and collected; its transit balance is refunded as for a broken card. The holder then applies at the new bank (POST /v1/card-applications); the change completes with the new card’s issue. ' +
          'A second change is refused until 6 months after the previous change completed (`409 bank-change-too-soon` with `possibleFrom`), and while one is open (`409 bank-change-in-progress`). ' +
          'An overdrawn card’s debt is settled first (`debt`), else `409 card-has-debt`.',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(BankChangeBody, {
          change: { summary: 'To China Merchants Bank', value: { toBank: 'cmb', destinationAccount: '6222020200112233456789', destinationName: '张三' } },
        }),
        response: {
          201: withExamples(
            BankChangeAnswer,
            {
              started: {
                summary: 'Cancelled at the old bank',
                value: {
                  oldCard: {
                    ...EXAMPLE_CARD,
                    status: 'cancelled',
                    blacklist: { reason: 'cancelled', version: 16, sinceMs: EXAMPLE_MS, sinceAt: isoBeijing(EXAMPLE_MS) },
                  },
                  refund: EXAMPLE_REFUND,
                  bankChange: {
                    id: '3',
                    oldCardNo: EXAMPLE_CARD_NO,
                    fromBank: 'icbc',
                    toBank: 'cmb',
                    cancelledMs: EXAMPLE_MS,
                    cancelledAt: isoBeijing(EXAMPLE_MS),
                    newCardNo: null,
                    completedMs: null,
                    completedAt: null,
                    nextPossibleMs: null,
                    nextPossibleAt: null,
                  },
                },
              },
            },
            'The bank change, started',
          ),
          ...problems(
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'issuing-bank-only',
            'card-not-found',
            'card-not-active',
            'holder-not-recorded',
            'same-bank',
            'bank-change-too-soon',
            'bank-change-in-progress',
            'card-has-debt',
            'supervisor-required',
            'agent-not-allowed',
            'guardian-required',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const body = request.body;
      const nowMs = clock();
      const result = await store.transaction(
        async (tx) => {
          await tx.lockCards([request.params.cardNo]);
          await lockBlacklist(tx);
          // Cancelled and collected at the old, issuing bank (q25).
          assertChannelFor(request, 'bank-change', await requireCard(tx, request.params.cardNo, nowMs));
          const done = await startBankChange(
            tx,
            {
              cardNo: request.params.cardNo,
              toBank: body.toBank,
              refundTo: { account: body.destinationAccount, name: body.destinationName },
              debt: debtSettlement(body.debt),
            },
            lifecycleActor(principal),
            nowMs,
          );
          // q24: a minor's bank change by a guardian with proof; never an agent (q37). A refusal rolls it back.
          await actForHolder(
            tx,
            app.gateway.holderIdKey,
            { operation: 'bank-change', agent: body.agent, holderId: done.oldCard.holderId, cardNo: done.oldCard.cardNo },
            actedAt(principal),
            nowMs,
          );
          return { oldCard: await presentCard(tx, done.oldCard), refund: refundToWire(done.refund), bankChange: bankChangeToWire(done.bankChange) };
        },
        { isolation: 'read-committed' },
      );
      return reply.code(201).send(result);
    },
  );

  app.get(
    '/v1/cards/:cardNo/park-passes',
    {
      config: { roles: ['counter', 'app'], operation: 'status-query' },
      schema: {
        tags: ['park passes'],
        summary: 'The park passes a card holds, with the visits the back office has uploaded',
        description:
          'Visits are the accepted park-gate entries uploaded for this card and every card the pass moved from (an exchange): entries of an old card that arrive later count here.',
        security: BEARER,
        params: CardNoParams,
        response: {
          200: withExamples(
            ParkPassView,
            {
              moved: {
                summary: 'A pass moved by an exchange',
                value: {
                  cardNo: '1000000000000024',
                  passes: [{ passYear: 2026, validFrom: 20260101, validUntil: 20270131, visits: 4, cards: ['1000000000000024', EXAMPLE_CARD_NO] }],
                },
              },
            },
            "The card's passes",
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, 'card-not-found'),
        },
      },
    },
    async (request) => {
      assertCardScope(request, request.params.cardNo);
      const cardNo = request.params.cardNo;
      return store.transaction(async (tx) => {
        await requireCard(tx, cardNo, clock());
        const passes = [];
        for (const year of await cardPassYears(tx, cardNo)) {
          const { from, until } = passValidity(year);
          passes.push({
            passYear: year,
            validFrom: from,
            validUntil: until,
            visits: await passVisits(tx, cardNo, year),
            cards: await passCardChain(tx, cardNo, year),
          });
        }
        return { cardNo, passes };
      });
    },
  );
}

/** Ten years after `nowMs`, YYYYMMDD (Beijing), day clamped to 28: the new card's expiry. */
function tenYearsFrom(nowMs: number): number {
  const d = new Date(nowMs + 8 * 3_600_000);
  return (d.getUTCFullYear() + 10) * 10_000 + (d.getUTCMonth() + 1) * 100 + Math.min(d.getUTCDate(), 28);
}
