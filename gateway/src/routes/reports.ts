/** GET /v1/reports/teller (end of day per branch) and GET /v1/reports/clearing (per operator). */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, withProblems } from '../http/schemas.ts';
import { requirePrincipal } from '../auth/scope.ts';
import { clearingReport, tellerReport } from '../services/reports.ts';
import { beijingDayRange } from '../services/money-time.ts';
import { moneyCaller } from './loads.ts';

const dayQuery = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'Beijing natural day YYYY-MM-DD' } as const;

function dayRange(day: string) {
  const range = beijingDayRange(day);
  if (range === null) throw new ApiError('invalid-request', `day ${day} is not a calendar date`);
  return range;
}

const amountRow = { type: 'integer' } as const;

export async function reportRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: { day: string; branch?: string } }>(
    '/v1/reports/teller',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['reports'],
        summary: 'Teller end-of-day report: loads by payment source and voids (a counter sees its own branch)',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          required: ['day'],
          additionalProperties: false,
          properties: { day: dayQuery, branch: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: withProblems({
          200: {
            type: 'object',
            required: ['day', 'sources', 'totals', 'voids'],
            properties: {
              day: { type: 'string' },
              branch: { type: ['string', 'null'] },
              sources: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    paymentSource: { type: 'string' },
                    loads: amountRow,
                    loadedFen: amountRow,
                    voids: amountRow,
                    voidedFen: amountRow,
                    netFen: amountRow,
                  },
                },
              },
              totals: {
                type: 'object',
                properties: { loads: amountRow, loadedFen: amountRow, voids: amountRow, voidedFen: amountRow, netFen: amountRow, pending: amountRow },
              },
              voids: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    loadId: { type: 'string' },
                    cardNo: { type: 'string' },
                    amountFen: amountRow,
                    paymentSource: { type: 'string' },
                    resolution: { type: 'string' },
                    voidedMs: amountRow,
                  },
                },
              },
            },
          },
        }),
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      let branch = request.query.branch ?? null;
      if (principal.role === 'counter') {
        const own = moneyCaller(principal).branch;
        if (branch !== null && branch !== own) throw new ApiError('forbidden', 'a counter sees only its own branch');
        branch = own;
      }
      const range = dayRange(request.query.day);
      const { store } = app.gateway;
      return store.transaction((tx) => tellerReport(tx, request.query.day, range, branch), { readOnly: true });
    },
  );

  app.get<{ Querystring: { day: string } }>(
    '/v1/reports/clearing',
    {
      schema: {
        tags: ['reports'],
        summary: 'Daily clearing per operator (subway, bus, P+R, parks, suburban) of verified debits by transaction date',
        security: bearerSecurity,
        querystring: { type: 'object', required: ['day'], additionalProperties: false, properties: { day: dayQuery } },
        response: withProblems({
          200: {
            type: 'object',
            required: ['day', 'operators', 'totals'],
            properties: {
              day: { type: 'string' },
              operators: {
                type: 'array',
                items: { type: 'object', properties: { operator: { type: 'string' }, debits: amountRow, amountFen: amountRow, quarantined: amountRow } },
              },
              totals: { type: 'object', properties: { debits: amountRow, amountFen: amountRow, quarantined: amountRow } },
            },
          },
        }),
      },
    },
    async (request) => {
      const range = dayRange(request.query.day);
      const { store } = app.gateway;
      return store.transaction((tx) => clearingReport(tx, request.query.day, range.yyyymmdd), { readOnly: true });
    },
  );
}
