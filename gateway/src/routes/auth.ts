/**
 * Credentials: operators create counter (and operator) tokens; cardholders open app sessions
 * with card number + service password and must change the initial password first.
 */
import { changeAppPassword, openAppSession } from '../auth/app-login.ts';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { hashToken, issueToken } from '../auth/tokens.ts';
import { ApiError } from '../http/problem.ts';
import { CHANNEL_KINDS, STAFF_ROLES } from '../services/channel-rules.ts';
import { ORGANISATION_ID_PATTERN, organisationForLegacyBranch, requireOrganisation } from '../services/organisations.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  type GatewayApp,
  isoBeijing,
  Nullable,
  nullableTimestamp,
  problems,
  PUBLIC,
  StringEnum,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
} from '../http/wire.ts';
import { EXAMPLE_CARD_NO, EXAMPLE_MS } from './card-schemas.ts';

const TokenBody = Type.Object(
  {
    role: StringEnum(['operator', 'counter'], { description: "operator: the issuer's staff; counter: a bank branch or service point" }),
    label: Type.String({ minLength: 1, maxLength: 64, description: 'what the token is for (shown in the audit log)', examples: ['teller system, branch B12'] }),
    organisationId: Type.Optional(
      Type.String({
        pattern: ORGANISATION_ID_PATTERN,
        description: 'the organisation a counter token works for (POST /v1/organisations): its channel kind decides what the counter may do',
        examples: ['icbc-B12'],
      }),
    ),
    staffRole: Type.Optional(StringEnum(STAFF_ROLES, { description: 'a counter token: teller (default) or supervisor (approves write-offs)' })),
    branchId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description:
          "older clients: a counter token for this branch id without organisationId works for the organisation of that id, created as a partner-bank branch of the default issuing bank when there is none; with organisationId it is ignored (the organisation's branch id counts)",
        examples: ['B12'],
      }),
    ),
    ttlMinutes: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 5_256_000, description: 'lifetime in minutes; without it the token does not expire', examples: [1440] }),
    ),
  },
  { additionalProperties: false },
);

const TokenAnswer = Type.Object({
  token: Type.String({ description: 'the bearer token: shown once, stored only as a hash' }),
  role: StringEnum(['operator', 'counter'], { description: 'its role' }),
  subject: Type.String({ description: 'who it acts as: the branch for a counter, the label for an operator' }),
  branchId: Nullable(Type.String({ description: 'the branch of a counter token; null for operators' })),
  organisationId: Nullable(Type.String({ description: "a counter token's organisation; null for operators", examples: ['icbc-B12'] })),
  channelKind: Nullable(StringEnum(CHANNEL_KINDS, { description: "the organisation's channel kind; null for operators" })),
  staffRole: Nullable(StringEnum(STAFF_ROLES, { description: 'a counter token: teller or supervisor; null for operators' })),
  ...nullableTimestamp('expiresMs', 'when it expires', EXAMPLE_MS + 86_400_000),
});

const SessionBody = Type.Object(
  {
    cardNo: CardNo(),
    password: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'the service password (initially the last 6 characters of the social security number)',
      examples: ['07123X'],
    }),
  },
  { additionalProperties: false },
);

const SessionAnswer = Type.Object({
  token: Type.String({ description: "the app session's bearer token" }),
  ...timestamp('expiresMs', 'when the session expires', EXAMPLE_MS + 12 * 3_600_000),
  mustChangePassword: Type.Boolean({ description: 'true while the initial password is unchanged: only POST /v1/auth/app-password is allowed until then' }),
});

const PasswordBody = Type.Object(
  {
    currentPassword: Type.String({ minLength: 1, maxLength: 64, description: 'the current service password', examples: ['07123X'] }),
    newPassword: Type.String({ minLength: 6, maxLength: 64, description: 'the new service password (6..64 characters)', examples: ['a-better-secret'] }),
  },
  { additionalProperties: false },
);

const EXAMPLE_TOKEN = 'tok_3q2XbVY0b7kFh8K1mN4pR6sT9uW2xZ5a';

export async function authRoutes(app: GatewayApp): Promise<void> {
  const { store, clock, policies } = app.gateway;

  app.post(
    '/v1/auth/tokens',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an operator or counter token',
        description:
          'Operators only. The token is returned once and stored only as a hash. A counter token works for an organisation (`organisationId`, made with POST /v1/organisations; unknown: `404 organisation-not-found`) ' +
          'whose channel kind decides what it may do (the channel matrix, docs/gateway-api.md), with a staff role (teller or supervisor). Older clients may send only `branchId`: see that field.',
        security: BEARER,
        body: withExamples(TokenBody, {
          counter: {
            summary: "A token for a bank branch's teller system",
            value: { role: 'counter', label: 'teller system, branch B12', organisationId: 'icbc-B12', staffRole: 'teller' },
          },
          legacy: { summary: 'An older client: a branch id only', value: { role: 'counter', label: 'teller system, branch B12', branchId: 'B12' } },
          operator: { summary: 'A day-long operator token', value: { role: 'operator', label: 'night shift', ttlMinutes: 1440 } },
        }),
        response: {
          201: withExamples(
            TokenAnswer,
            {
              counter: {
                summary: 'A counter token that does not expire',
                value: {
                  token: EXAMPLE_TOKEN,
                  role: 'counter',
                  subject: 'B12',
                  branchId: 'B12',
                  organisationId: 'icbc-B12',
                  channelKind: 'bank-branch',
                  staffRole: 'teller',
                  expiresMs: null,
                  expiresAt: null,
                },
              },
            },
            'The token (shown once)',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, 'organisation-not-found'),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const body = request.body;
      if (body.role === 'counter' && !body.branchId && !body.organisationId) throw new ApiError('invalid-request', 'a counter token needs its organisationId');
      if (body.role === 'operator' && (body.organisationId || body.staffRole)) {
        throw new ApiError('invalid-request', 'an operator token belongs to no organisation and has no staff role');
      }
      const nowMs = clock();
      const expiresMs = body.ttlMinutes ? nowMs + body.ttlMinutes * 60_000 : null;
      const answer = await store.transaction(async (tx) => {
        if (body.role === 'operator') {
          const token = await issueToken(tx, {
            role: 'operator',
            subject: body.label,
            branchId: null,
            label: body.label,
            createdBy: actorOf(principal),
            nowMs,
            expiresMs,
          });
          return { token, role: body.role, subject: body.label, branchId: null, organisationId: null, channelKind: null, staffRole: null };
        }
        const org = body.organisationId
          ? await requireOrganisation(tx, body.organisationId)
          : await organisationForLegacyBranch(tx, body.branchId!, policies.defaultIssuingBank, actorOf(principal), nowMs);
        const branchId = org.branchId ?? org.id;
        const staffRole = body.staffRole ?? 'teller';
        const token = await issueToken(tx, {
          role: 'counter',
          subject: branchId,
          branchId,
          organisationId: org.id,
          staffRole,
          label: body.label,
          createdBy: actorOf(principal),
          nowMs,
          expiresMs,
        });
        return { token, role: body.role, subject: branchId, branchId, organisationId: org.id, channelKind: org.channelKind, staffRole };
      });
      return reply.code(201).send({ ...answer, expiresMs, expiresAt: expiresMs === null ? null : isoBeijing(expiresMs) });
    },
  );

  app.post(
    '/v1/auth/app-sessions',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Open a cardholder app session',
        description:
          'With the card number and the service password (initially the last 6 characters of the social security number, which must be changed first). ' +
          "A wrong number or password is `401 invalid-credentials` (the same answer for both); repeated failures lock the card's login for a while (`403 account-locked`).",
        security: PUBLIC,
        body: withExamples(SessionBody, {
          login: { summary: 'First login with the initial password', value: { cardNo: EXAMPLE_CARD_NO, password: '07123X' } },
        }),
        response: {
          201: withExamples(
            SessionAnswer,
            {
              first: {
                summary: 'The initial password must be changed',
                value: {
                  token: EXAMPLE_TOKEN,
                  expiresMs: EXAMPLE_MS + 12 * 3_600_000,
                  expiresAt: isoBeijing(EXAMPLE_MS + 12 * 3_600_000),
                  mustChangePassword: true,
                },
              },
            },
            'The session',
          ),
          ...problems(400, 500, ...WITH_BODY, 'invalid-credentials', 'account-locked'),
        },
      },
    },
    async (request, reply) => {
      const session = await openAppSession(store, request.body.cardNo, request.body.password, clock, {
        maxFailures: policies.appLoginMaxFailures,
        lockoutMs: policies.appLockoutMs,
        sessionTtlMs: policies.appSessionTtlMs,
        kdf: policies.passwordKdf,
      });
      return reply.code(201).send({ ...session, expiresAt: isoBeijing(session.expiresMs) });
    },
  );

  app.post(
    '/v1/auth/app-password',
    {
      config: { roles: ['app'], allowPasswordChangePending: true, operation: 'password-change' },
      schema: {
        tags: ['auth'],
        summary: 'Change the service password',
        description:
          'Required before any other use of an app session opened with the initial password (the other routes answer `403 password-change-required` until then). ' +
          'A wrong current password is `401 invalid-credentials`. App sessions only.',
        security: BEARER,
        body: withExamples(PasswordBody, {
          change: { summary: 'Replace the initial password', value: { currentPassword: '07123X', newPassword: 'a-better-secret' } },
        }),
        response: {
          200: withExamples(
            Type.Object({ changed: Type.Boolean({ description: 'true: the new password is in force' }) }),
            { changed: { summary: 'Changed', value: { changed: true } } },
            'The password was changed',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, 'invalid-credentials', 'account-locked'),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      if (principal.role !== 'app') throw new ApiError('forbidden', 'only a cardholder app session has a service password');
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')![1];
      await changeAppPassword(store, principal.subject, request.body.currentPassword, request.body.newPassword, hashToken(token), clock, policies.passwordKdf);
      return { changed: true };
    },
  );
}
