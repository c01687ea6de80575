/**
 * Credentials: operators create counter (and operator) tokens; cardholders open app sessions
 * with card number + service password and must change the initial password first.
 */
import type { FastifyInstance } from 'fastify';
import { changeAppPassword, openAppSession } from '../auth/app-login.ts';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { hashToken, issueToken } from '../auth/tokens.ts';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, CARD_NO_PATTERN, withProblems } from '../http/schemas.ts';

const PASSWORD = { type: 'string', minLength: 6, maxLength: 64 } as const;

export async function authRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock, policies } = app.gateway;

  app.post<{ Body: { role: 'operator' | 'counter'; label: string; branchId?: string; ttlMinutes?: number } }>(
    '/v1/auth/tokens',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an operator or counter token (returned once, stored only as a hash)',
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['role', 'label'],
          additionalProperties: false,
          properties: {
            role: { type: 'string', enum: ['operator', 'counter'] },
            label: { type: 'string', minLength: 1, maxLength: 64 },
            branchId: { type: 'string', minLength: 1, maxLength: 64, description: 'bank branch or service point (required for counters)' },
            ttlMinutes: { type: 'integer', minimum: 1, maximum: 5_256_000 },
          },
        },
        response: withProblems({
          201: {
            type: 'object',
            required: ['token', 'role', 'subject'],
            properties: {
              token: { type: 'string' },
              role: { type: 'string' },
              subject: { type: 'string' },
              branchId: { type: ['string', 'null'] },
              expiresMs: { type: ['integer', 'null'] },
            },
          },
        }),
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const body = request.body;
      if (body.role === 'counter' && !body.branchId) throw new ApiError('invalid-request', 'a counter token needs its branchId');
      const nowMs = clock();
      const subject = body.role === 'counter' ? body.branchId! : body.label;
      const expiresMs = body.ttlMinutes ? nowMs + body.ttlMinutes * 60_000 : null;
      const token = await store.transaction((tx) =>
        issueToken(tx, { role: body.role, subject, branchId: body.branchId ?? null, label: body.label, createdBy: actorOf(principal), nowMs, expiresMs }),
      );
      reply.code(201);
      return { token, role: body.role, subject, branchId: body.branchId ?? null, expiresMs };
    },
  );

  app.post<{ Body: { cardNo: string; password: string } }>(
    '/v1/auth/app-sessions',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Open a cardholder app session with card number + service password (initial password: last 6 of the social security number)',
        body: {
          type: 'object',
          required: ['cardNo', 'password'],
          additionalProperties: false,
          properties: { cardNo: { type: 'string', pattern: CARD_NO_PATTERN }, password: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: withProblems({
          201: {
            type: 'object',
            required: ['token', 'expiresMs', 'mustChangePassword'],
            properties: { token: { type: 'string' }, expiresMs: { type: 'integer' }, mustChangePassword: { type: 'boolean' } },
          },
        }),
      },
    },
    async (request, reply) => {
      const session = await openAppSession(store, request.body.cardNo, request.body.password, clock, {
        maxFailures: policies.appLoginMaxFailures,
        lockoutMs: policies.appLockoutMs,
        sessionTtlMs: policies.appSessionTtlMs,
        kdf: policies.passwordKdf,
      });
      reply.code(201);
      return session;
    },
  );

  app.post<{ Body: { currentPassword: string; newPassword: string } }>(
    '/v1/auth/app-password',
    {
      config: { roles: ['app'], allowPasswordChangePending: true },
      schema: {
        tags: ['auth'],
        summary: 'Change the service password (required before any other use of an app session)',
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          additionalProperties: false,
          properties: { currentPassword: { type: 'string', minLength: 1, maxLength: 64 }, newPassword: PASSWORD },
        },
        response: withProblems({ 200: { type: 'object', required: ['changed'], properties: { changed: { type: 'boolean' } } } }),
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
