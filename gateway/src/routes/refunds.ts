/**
 * POST /v1/cards/{cardNo}/refunds (broken card), GET /v1/refunds/{id}, POST /v1/ops/jobs/run.
 * Rules in services/refunds.ts; the destination account is shown masked in every answer.
 */
import type { FastifyInstance } from 'fastify';
import { LIMITS } from '#core';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, cardNoParams, withProblems } from '../http/schemas.ts';
import { toWireYuan } from '../http/yuan-wire.ts';
import { requirePrincipal } from '../auth/scope.ts';
import { getRefund, requestRefund, type RefundView } from '../services/refunds.ts';
import { runDueJobs, startJobTimer } from '../services/jobs.ts';
// Registers the money routes' problem codes in the error table (a side-effect import).
import './money-problems.ts';
import { refundSchema } from './money-schemas.ts';
import { moneyCaller } from './loads.ts';

export function refundToWire(refund: RefundView) {
  return { ...refund, paid: refund.paidFen === null ? null : toWireYuan(refund.paidFen) };
}

/** Due jobs (refund payouts) run on this timer too: GATEWAY_JOBS_INTERVAL_MS, default one minute, 0 = off. */
export function jobsIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GATEWAY_JOBS_INTERVAL_MS;
  if (raw === undefined || raw === '') return 60_000;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value >= 0 ? value : 60_000;
}

export async function refundRoutes(app: FastifyInstance): Promise<void> {
  const stopJobs = startJobTimer(app.gateway.store, app.gateway.clock, jobsIntervalMs(), (error) => app.log.error({ err: error }, 'due jobs failed'));
  app.addHook('onClose', async () => stopJobs());
  app.post<{ Params: { cardNo: string }; Body: { destinationAccount: string; destinationName: string } }>(
    '/v1/cards/:cardNo/refunds',
    {
      config: { roles: ['counter'] },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['refunds'],
        summary: 'Refund the purse balance of a broken card to a bank account within 2 natural days',
        description:
          'Blacklists the card at once (refunded, final). The shadow balance is paid as soon as every device registered before the blacklisting has drained its journal after downloading it, ' +
          'else at the deadline (end of the 2nd natural day after the request, Beijing time) with what is known; later taps are written off. Lost cards get no refund (409 lost-card-no-refund). ' +
          'A second request for the same card answers the first refund (200).',
        security: bearerSecurity,
        params: cardNoParams,
        body: {
          type: 'object',
          required: ['destinationAccount', 'destinationName'],
          additionalProperties: false,
          properties: {
            destinationAccount: { type: 'string', pattern: '^[0-9]{10,30}$', description: 'bank account number, digits' },
            destinationName: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001F]+$', description: 'account holder name' },
          },
        },
        response: withProblems({ 201: refundSchema, 200: refundSchema }, [404, 409]),
      },
    },
    async (request, reply) => {
      const caller = moneyCaller(requirePrincipal(request));
      const { store, clock } = app.gateway;
      const outcome = await store.transaction((tx) =>
        requestRefund(tx, request.params.cardNo, { account: request.body.destinationAccount, name: request.body.destinationName }, caller.scope, clock()),
      );
      if (!outcome.ok) throw new ApiError(outcome.code, outcome.detail);
      return reply.code(outcome.created ? 201 : 200).send(refundToWire(outcome.refund));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/refunds/:id',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['refunds'],
        summary: 'A refund and its state',
        security: bearerSecurity,
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } } },
        response: withProblems({ 200: refundSchema }, [404]),
      },
    },
    async (request) => {
      const { store } = app.gateway;
      const refund = await store.transaction((tx) => getRefund(tx, request.params.id), { readOnly: true });
      if (refund === undefined) throw new ApiError('refund-not-found', 'no such refund');
      return refundToWire(refund);
    },
  );

  app.post(
    '/v1/ops/jobs/run',
    {
      schema: {
        tags: ['ops'],
        summary: 'Run due jobs now (refund payouts) at the gateway clock; the timer in main does the same',
        security: bearerSecurity,
        response: withProblems({
          200: {
            type: 'object',
            required: ['refundsPaid', 'ranAtMs'],
            properties: { refundsPaid: { type: 'array', items: { type: 'string' } }, ranAtMs: { type: 'integer' } },
          },
        }),
      },
    },
    async () => {
      const { store, clock } = app.gateway;
      return runDueJobs(store, clock());
    },
  );
}
