/**
 * Loss reports (seed q. 17-21). Temporary reports may be filed online (app), at a counter or by
 * an operator (hotline); a formal report, and lifting a temporary one early, need the holder at a
 * counter with ID (q. 18-19), so the app may not.
 */
import type { FastifyInstance } from 'fastify';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, cardNoParams, withProblems } from '../http/schemas.ts';
import { requireCard } from '../services/cards.ts';
import { currentLossReport, liftLossReport, reportLoss, type LossKind } from '../services/loss-reports.ts';
import { lossReportSchema } from './card-schemas.ts';

const lossResult = {
  type: 'object',
  required: ['report', 'blacklistVersion'],
  properties: { report: lossReportSchema, blacklistVersion: { type: ['integer', 'null'] } },
} as const;

export async function lossReportsRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock, policies } = app.gateway;

  app.post<{ Params: { cardNo: string }; Body: { kind: LossKind } }>(
    '/v1/cards/:cardNo/loss-reports',
    {
      config: { roles: ['counter', 'app'] },
      schema: {
        tags: ['loss reports'],
        summary: 'Report a card lost: temporary (expires by itself after 15 days) or formal (permanent; opens replacement)',
        security: bearerSecurity,
        params: cardNoParams,
        body: {
          type: 'object',
          required: ['kind'],
          additionalProperties: false,
          properties: { kind: { type: 'string', enum: ['temporary', 'formal'] } },
        },
        response: withProblems({ 201: lossResult }, [404, 409]),
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      if (principal.role === 'app' && request.body.kind === 'formal') {
        throw new ApiError('forbidden', 'a formal loss report is made at a counter with ID (seed q. 19)');
      }
      const nowMs = clock();
      const result = await store.transaction((tx) =>
        reportLoss(tx, request.params.cardNo, request.body.kind, actorOf(principal), nowMs, policies.temporaryLossMs),
      );
      reply.code(201);
      return result;
    },
  );

  app.get<{ Params: { cardNo: string } }>(
    '/v1/cards/:cardNo/loss-reports/current',
    {
      config: { roles: ['counter', 'app'] },
      schema: {
        tags: ['loss reports'],
        summary: 'The open loss report of the card',
        security: bearerSecurity,
        params: cardNoParams,
        response: withProblems({ 200: lossReportSchema }, [404]),
      },
    },
    async (request) => {
      const nowMs = clock();
      return store.transaction(async (tx) => {
        await requireCard(tx, request.params.cardNo, nowMs);
        const report = await currentLossReport(tx, request.params.cardNo);
        if (!report) throw new ApiError('loss-report-not-found', `card ${request.params.cardNo} has no current loss report`);
        return report;
      });
    },
  );

  app.delete<{ Params: { cardNo: string } }>(
    '/v1/cards/:cardNo/loss-reports/current',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['loss reports'],
        summary: 'Lift the temporary loss report early (card and ID at a counter); refused once the card was replaced',
        security: bearerSecurity,
        params: cardNoParams,
        response: withProblems({ 200: lossResult }, [404, 409]),
      },
    },
    async (request) => {
      const nowMs = clock();
      return store.transaction((tx) => liftLossReport(tx, request.params.cardNo, nowMs));
    },
  );
}
