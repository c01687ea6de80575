/**
 * GET /v1/reports/teller (end of day per branch) and GET /v1/reports/clearing (per operator).
 * Each answers JSON, or CSV (services/reports-csv.ts) when the Accept header prefers text/csv.
 */
import fastifyAccepts from '@fastify/accepts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CSV_MEDIA_TYPE, JSON_MEDIA_TYPE, prefersCsv, sendCsv } from '../http/csv.ts';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, withProblems } from '../http/schemas.ts';
import { requirePrincipal } from '../auth/scope.ts';
import { clearingReport, tellerReport } from '../services/reports.ts';
import {
  CLEARING_CSV_EXAMPLE,
  CLEARING_CSV_HEADERS,
  clearingReportCsv,
  clearingReportFilename,
  TELLER_CSV_EXAMPLE,
  TELLER_CSV_HEADERS,
  tellerReportCsv,
  tellerReportFilename,
} from '../services/reports-csv.ts';
import { beijingDayRange } from '../services/money-time.ts';
import { moneyCaller } from './loads.ts';

const dayQuery = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'Beijing natural day YYYY-MM-DD' } as const;

function dayRange(day: string) {
  const range = beijingDayRange(day);
  if (range === null) throw new ApiError('invalid-request', `day ${day} is not a calendar date`);
  return range;
}

const amountRow = { type: 'integer' } as const;

/**
 * The 200 answer in both representations: the JSON object, or the CSV download when the Accept
 * header prefers text/csv (OpenAPI lists both media types).
 */
function jsonOrCsv(json: Record<string, unknown>, csv: { headers: readonly string[]; example: string; filename: string }) {
  return {
    description: `The report as JSON, or as CSV (UTF-8 with BOM, CRLF) when Accept prefers text/csv; CSV header: ${csv.headers.join(',')}`,
    headers: {
      'content-disposition': { type: 'string', description: `CSV only: attachment; filename="${csv.filename}"` },
      vary: { type: 'string', description: 'Accept' },
    },
    content: {
      [JSON_MEDIA_TYPE]: { schema: json },
      [CSV_MEDIA_TYPE]: { schema: { type: 'string', description: 'RFC 4180 CSV, UTF-8 with BOM' }, example: csv.example },
    },
  };
}

/** Vary: Accept on both answers; the CSV text when the caller prefers it, else the JSON object. */
function answer<T>(request: FastifyRequest, reply: FastifyReply, report: T, csv: (report: T) => string, filename: (report: T) => string): T | FastifyReply {
  void reply.header('vary', 'Accept');
  return prefersCsv(request) ? sendCsv(reply, filename(report), csv(report)) : report;
}

export async function reportRoutes(app: FastifyInstance): Promise<void> {
  // request.accepts() for content negotiation, in this plugin's context only.
  await app.register(fastifyAccepts);

  app.get<{ Querystring: { day: string; branch?: string } }>(
    '/v1/reports/teller',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['reports'],
        summary: 'Teller end-of-day report: loads by payment source and voids (a counter sees its own branch)',
        description:
          'JSON by default; CSV (text/csv, UTF-8 with BOM, yuan and fen columns, formula-escaped text) when the Accept header prefers text/csv. ' +
          'Records: one `source` per payment source, one `total`, one `void` per voided load.',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          required: ['day'],
          additionalProperties: false,
          properties: { day: dayQuery, branch: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: withProblems({
          200: jsonOrCsv(
            {
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
            { headers: TELLER_CSV_HEADERS, example: TELLER_CSV_EXAMPLE, filename: 'teller-<day>[-<branch>].csv' },
          ),
        }),
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      let branch = request.query.branch ?? null;
      if (principal.role === 'counter') {
        const own = moneyCaller(principal).branch;
        if (branch !== null && branch !== own) throw new ApiError('forbidden', 'a counter sees only its own branch');
        branch = own;
      }
      const range = dayRange(request.query.day);
      const { store } = app.gateway;
      const report = await store.transaction((tx) => tellerReport(tx, request.query.day, range, branch), { readOnly: true });
      return answer(request, reply, report, tellerReportCsv, tellerReportFilename);
    },
  );

  app.get<{ Querystring: { day: string } }>(
    '/v1/reports/clearing',
    {
      schema: {
        tags: ['reports'],
        summary: 'Daily clearing per operator (subway, bus, P+R, parks, suburban) of verified debits by transaction date',
        description:
          'JSON by default; CSV (text/csv, UTF-8 with BOM, yuan and fen columns, formula-escaped text) when the Accept header prefers text/csv. ' +
          'Records: one `operator` per operator, then one `total`.',
        security: bearerSecurity,
        querystring: { type: 'object', required: ['day'], additionalProperties: false, properties: { day: dayQuery } },
        response: withProblems({
          200: jsonOrCsv(
            {
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
            { headers: CLEARING_CSV_HEADERS, example: CLEARING_CSV_EXAMPLE, filename: 'clearing-<day>.csv' },
          ),
        }),
      },
    },
    async (request, reply) => {
      const range = dayRange(request.query.day);
      const { store } = app.gateway;
      const report = await store.transaction((tx) => clearingReport(tx, request.query.day, range.yyyymmdd), { readOnly: true });
      return answer(request, reply, report, clearingReportCsv, clearingReportFilename);
    },
  );
}
