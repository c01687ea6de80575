/**
 * Holders at the counter (issue 16): search a holder's cards by ID number, and the service
 * password reset (seed q. 16, q. 6-8). The ID number travels only in request bodies (never in a
 * URL, so never in an access log), becomes its keyed hash at once (services/holders.ts) and is
 * never stored, logged or answered. Names in these answers are masked.
 */
import { hashPassword, initialServicePassword } from '../auth/passwords.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  CardNoParams,
  type GatewayApp,
  isoBeijing,
  Nullable,
  problems,
  type Static,
  StringEnum,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
} from '../http/wire.ts';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import { holderIdHmac, maskName, resetServicePassword, searchHolder, setServicePassword } from '../services/holders.ts';
import { actForHolder } from '../services/agents.ts';
import { requirePrincipal } from '../auth/scope.ts';
import { actedAt, AgentBody, EXAMPLE_AGENT } from './lifecycle-schemas.ts';
import { partnerBank } from '../services/partner-banks.ts';
import { CARD_STATUSES, EXAMPLE_CARD_NO, EXAMPLE_MS, IssuingBank } from './card-schemas.ts';
import { SSN_PATTERN } from './cards.ts';

const IdNumber = Type.String({
  pattern: SSN_PATTERN,
  description: "The holder's ID number (social security number, 18 characters); checked through a keyed hash, never stored, logged or returned",
  examples: ['11010119900307123X'],
});

const SearchBody = Type.Object({ idNumber: IdNumber, agent: Type.Optional(AgentBody) }, { additionalProperties: false });

const HolderCard = Type.Object({
  cardNo: CardNo(),
  status: StringEnum(CARD_STATUSES, { description: 'card status' }),
  holderName: Type.String({ description: "the name on the card, masked (first character of each word, then '*')", examples: ['张*'] }),
  issuingBank: IssuingBank('the partner bank that issued the card'),
  issuingBankName: Type.String({ description: "the issuing bank's name", examples: ['中国工商银行'] }),
  ...timestamp('issuedMs', 'when the card was issued', EXAMPLE_MS),
  replaces: Nullable(CardNo('the card this one replaced; null if none')),
  replacedBy: Nullable(CardNo('the card that replaced this one; null if none')),
});

const SearchAnswer = Type.Object({
  holder: Type.Object({
    name: Type.String({ description: "the holder's name, masked", examples: ['张*'] }),
    birthDate: Nullable(Type.Integer({ description: 'YYYYMMDD (Beijing date); null when not known', examples: [19900307] })),
    ...timestamp('createdMs', 'when the holder was first recorded (the first card issued to them)', EXAMPLE_MS),
  }),
  cards: Type.Array(HolderCard, { description: "every card issued to the holder, oldest first: the holder's card history" }),
});
type SearchAnswer = Static<typeof SearchAnswer>;

const ResetBody = Type.Object({ idNumber: IdNumber, agent: Type.Optional(AgentBody) }, { additionalProperties: false });

const ChangeBody = Type.Object(
  {
    idNumber: IdNumber,
    newPassword: Type.String({
      minLength: 6,
      maxLength: 64,
      description: 'the new service password (6..64 characters), chosen by the holder',
      examples: ['a-better-secret'],
    }),
    agent: Type.Optional(AgentBody),
  },
  { additionalProperties: false },
);
const ChangeAnswer = Type.Object({
  cardNo: CardNo(),
  changed: Type.Boolean({ description: 'true: the new password is in force' }),
  unlocked: Type.Boolean({ description: 'true when the app login was locked after failed attempts and is now unlocked' }),
});
const ResetAnswer = Type.Object({
  cardNo: CardNo(),
  mustChangePassword: Type.Boolean({ description: 'always true: the holder must choose a new password at the next sign-in' }),
  unlocked: Type.Boolean({ description: 'true when the app login was locked after failed attempts and is now unlocked' }),
});

/** What a counter's service-password reset or change can be refused for, besides authentication, the body and the channel. */
const SERVICE_PASSWORD_PROBLEMS = [
  'card-not-found',
  'id-number-mismatch',
  'holder-not-recorded',
  'card-replaced',
  'card-not-active',
  'agent-not-allowed',
  'guardian-required',
] as const;

/** The service-password reset's body and answers: one contract for the counter's reset and the holder's online one. */
export const SERVICE_PASSWORD_RESET_BODY = withExamples(ResetBody, {
  reset: { summary: "The holder's ID number", value: { idNumber: '11010119900307123X' } },
});
export const SERVICE_PASSWORD_RESET_RESPONSE = {
  200: withExamples(
    ResetAnswer,
    { unlocked: { summary: 'A locked login reset and unlocked', value: { cardNo: EXAMPLE_CARD_NO, mustChangePassword: true, unlocked: true } } },
    'The password is back to its initial value',
  ),
  ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, ...SERVICE_PASSWORD_PROBLEMS),
};

const EXAMPLE_SEARCH: SearchAnswer = {
  holder: { name: '张*', birthDate: 19900307, createdMs: EXAMPLE_MS, createdAt: isoBeijing(EXAMPLE_MS) },
  cards: [
    {
      cardNo: EXAMPLE_CARD_NO,
      status: 'replaced',
      holderName: '张*',
      issuingBank: 'icbc',
      issuingBankName: '中国工商银行',
      issuedMs: EXAMPLE_MS,
      issuedAt: isoBeijing(EXAMPLE_MS),
      replaces: null,
      replacedBy: '1000000000000024',
    },
    {
      cardNo: '1000000000000024',
      status: 'active',
      holderName: '张*',
      issuingBank: 'icbc',
      issuingBankName: '中国工商银行',
      issuedMs: EXAMPLE_MS + 86_400_000,
      issuedAt: isoBeijing(EXAMPLE_MS + 86_400_000),
      replaces: EXAMPLE_CARD_NO,
      replacedBy: null,
    },
  ],
};

export async function holdersRoutes(app: GatewayApp): Promise<void> {
  const { store, clock, policies, holderIdKey } = app.gateway;

  app.post(
    '/v1/holders/search',
    {
      config: { roles: ['counter'], operation: 'status-query' },
      schema: {
        tags: ['holders'],
        summary: "Find a holder's cards by ID number",
        description:
          'A counter or operator finds the holder with this ID number and every card issued to them, oldest first, with masked names. The ID number is sent in the body (never in a URL) and is not kept: the gateway keeps only a keyed hash of it. No holder with this number: `404 holder-not-found`. Cards issued before holders were recorded are not found this way. ' +
          "An agent with the holder's written authorisation may query for the holder (`agent`, recorded with a keyed hash of the agent's ID number).",
        security: BEARER,
        body: withExamples(SearchBody, { search: { summary: 'Search by ID number', value: { idNumber: '11010119900307123X' } } }),
        response: {
          200: withExamples(
            SearchAnswer,
            { found: { summary: 'A holder with a replaced card and its replacement', value: EXAMPLE_SEARCH } },
            "The holder and the holder's cards",
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'holder-not-found', 'agent-not-allowed'),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      const agent = request.body.agent;
      const { holder, cards } = await store.transaction(
        async (tx) => {
          const found = await searchHolder(tx, idHmac);
          // q37: an agent may query status for the holder; the act is recorded (a read with a write, so not read-only then).
          await actForHolder(tx, holderIdKey, { operation: 'status-query', agent, holderId: found.holder.id, cardNo: null }, actedAt(principal), clock());
          return found;
        },
        agent === undefined ? { readOnly: true } : {},
      );
      return {
        holder: { name: maskName(holder.name), birthDate: holder.birthDate, createdMs: holder.createdMs, createdAt: isoBeijing(holder.createdMs) },
        cards: cards.map((card) => ({
          cardNo: card.cardNo,
          status: card.status,
          holderName: maskName(card.holderName),
          issuingBank: card.issuingBank as SearchAnswer['cards'][number]['issuingBank'],
          issuingBankName: partnerBank(card.issuingBank).name,
          issuedMs: card.issuedMs,
          issuedAt: isoBeijing(card.issuedMs),
          replaces: card.replaces,
          replacedBy: card.replacedBy,
        })),
      };
    },
  );

  app.post(
    '/v1/cards/:cardNo/service-password/reset',
    {
      config: { roles: ['counter'], operation: 'password-reset' },
      schema: {
        tags: ['holders'],
        summary: 'Reset the service password at a counter',
        description:
          "With the holder present and the holder's ID number (in the body), the card's app service password goes back to its initial value (the last 6 characters of the ID number) " +
          "and must be changed at the next sign-in; a login locked after failed attempts is unlocked and the card's open app sessions end. " +
          "An ID number that is not the card holder's is `403 id-number-mismatch`; a card issued before holders were recorded is `409 holder-not-recorded`; " +
          'a replaced, cancelled, refunded or cloned card is `409 card-replaced` or `409 card-not-active`. ' +
          'A reset is the holder’s own (an agent is `403 agent-not-allowed`); a holder under 18 resets through a guardian with proof (`agent` with `actingAs: guardian`, recorded), else `403 guardian-required`.',
        security: BEARER,
        params: CardNoParams,
        body: SERVICE_PASSWORD_RESET_BODY,
        response: SERVICE_PASSWORD_RESET_RESPONSE,
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      // The slow KDF runs before the transaction so it never holds the store's write lock.
      const hash = await hashPassword(initialServicePassword(request.body.idNumber), policies.passwordKdf);
      const nowMs = clock();
      const { card, wasLocked } = await store.transaction(async (tx) => {
        const result = await resetServicePassword(tx, request.params.cardNo, idHmac, hash, nowMs);
        await actForHolder(
          tx,
          holderIdKey,
          { operation: 'password-reset', agent: request.body.agent, holderId: result.card.holderId, cardNo: result.card.cardNo },
          actedAt(principal),
          nowMs,
        );
        return result;
      });
      return { cardNo: card.cardNo, mustChangePassword: true, unlocked: wasLocked };
    },
  );

  app.post(
    '/v1/cards/:cardNo/service-password',
    {
      config: { roles: ['counter'], operation: 'password-change' },
      schema: {
        tags: ['holders'],
        summary: 'Change the service password at a counter',
        description:
          "With the holder's ID number (in the body) the card's app service password becomes `newPassword`, chosen by the holder: no change is forced at the next sign-in, a locked login is unlocked and the card's open app sessions end. " +
          "An agent with the holder's written authorisation may change it for the holder (`agent`, with the holder's ID number; recorded with a keyed hash of the agent's own); a holder under 18 changes it through a guardian with proof (`403 guardian-required` otherwise). " +
          "An ID number that is not the card holder's is `403 id-number-mismatch`; a card issued before holders were recorded is `409 holder-not-recorded`; a replaced or ended card `409 card-replaced` or `409 card-not-active`. " +
          'In the app the holder changes it with POST /v1/auth/app-password.',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(ChangeBody, {
          holder: { summary: 'The holder, with ID', value: { idNumber: '11010119900307123X', newPassword: 'a-better-secret' } },
          agent: {
            summary: "An agent with the holder's written authorisation",
            value: { idNumber: '11010119900307123X', newPassword: 'a-better-secret', agent: EXAMPLE_AGENT },
          },
        }),
        response: {
          200: withExamples(
            ChangeAnswer,
            { changed: { summary: 'Changed', value: { cardNo: EXAMPLE_CARD_NO, changed: true, unlocked: false } } },
            'The new password is in force',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, ...SERVICE_PASSWORD_PROBLEMS),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      const hash = await hashPassword(request.body.newPassword, policies.passwordKdf);
      const nowMs = clock();
      const { card, wasLocked } = await store.transaction(async (tx) => {
        const result = await setServicePassword(tx, request.params.cardNo, idHmac, hash, false, nowMs);
        await actForHolder(
          tx,
          holderIdKey,
          { operation: 'password-change', agent: request.body.agent, holderId: result.card.holderId, cardNo: result.card.cardNo },
          actedAt(principal),
          nowMs,
        );
        return result;
      });
      return { cardNo: card.cardNo, changed: true, unlocked: wasLocked };
    },
  );
}
