/**
 * GET /v1/reports/teller (end of day per branch) and GET /v1/reports/clearing (per operator).
 * Each answers JSON, or CSV (services/reports-csv.ts) when the Accept header prefers text/csv.
 */
import fastifyAccepts from '@fastify/accepts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requirePrincipal } from '../auth/scope.ts';
import { CSV_MEDIA_TYPE, JSON_MEDIA_TYPE, prefersCsv, sendCsv } from '../http/csv.ts';
import { ApiError } from '../http/problem.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  Fen,
  type GatewayApp,
  Nullable,
  problems,
  type Static,
  StringEnum,
  type TSchema,
  timestamp,
  Type,
  withIso,
} from '../http/wire.ts';
import { beijingDayRange } from '../services/money-time.ts';
import { CLEARING_OPERATORS, type ClearingReport, clearingReport, type TellerReport, tellerReport } from '../services/reports.ts';
import {
  CLEARING_CSV_EXAMPLE,
  CLEARING_REPORT_EXAMPLE,
  CLEARING_CSV_HEADERS,
  clearingReportCsv,
  clearingReportFilename,
  TELLER_CSV_EXAMPLE,
  TELLER_REPORT_EXAMPLE,
  TELLER_CSV_HEADERS,
  tellerReportCsv,
  tellerReportFilename,
} from '../services/reports-csv.ts';
import { PAYMENT_SOURCES } from '../services/ledger.ts';
import { moneyCaller } from './loads.ts';

const Day = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'Beijing natural day YYYY-MM-DD', examples: ['2026-03-10'] });

function dayRange(day: string) {
  const range = beijingDayRange(day);
  if (range === null) throw new ApiError('invalid-request', `day ${day} is not a calendar date`);
  return range;
}

const Count = (description: string, example = 1) => Type.Integer({ description, examples: [example] });

const TellerQuery = Type.Object(
  {
    day: Day,
    branch: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'branch id (operators; a counter sees its own branch)', examples: ['branch-01'] }),
    ),
  },
  { additionalProperties: false },
);

const SourceTotals = Type.Object({
  paymentSource: StringEnum(PAYMENT_SOURCES, { description: 'how the loads were paid' }),
  loads: Count('loads decided as credited that day'),
  loadedFen: Fen('amount of those loads', 5_000),
  voids: Count('loads voided (payment returned) that day', 0),
  voidedFen: Fen('amount voided', 0),
  netFen: Fen('loaded minus voided', 5_000),
});

const TellerVoid = Type.Object({
  loadId: Type.String({ description: 'the voided load', examples: ['2'] }),
  cardNo: CardNo(),
  amountFen: Fen('amount of the load', 3_000),
  paymentSource: StringEnum(PAYMENT_SOURCES, { description: 'how it was paid' }),
  resolution: Type.String({ description: 'how it was voided: teller-void, next-load or card-log', examples: ['teller-void'] }),
  ...timestamp('voidedMs', 'when it was voided', Date.UTC(2026, 2, 10, 3, 15)),
});

const TellerReportJson = Type.Object({
  day: Day,
  branch: Nullable(Type.String({ description: 'the branch; null: every branch (operators)' })),
  sources: Type.Array(SourceTotals, { description: 'one row per payment source' }),
  totals: Type.Object(
    {
      loads: Count('loads', 3),
      loadedFen: Fen('loaded', 11_000),
      voids: Count('voids', 1),
      voidedFen: Fen('voided', 3_000),
      netFen: Fen('loaded minus voided', 8_000),
      pending: Count('loads of the day still pending (not decided yet)', 0),
    },
    { description: 'the day in total' },
  ),
  voids: Type.Array(TellerVoid, { description: 'one entry per voided load' }),
});
type TellerReportJson = Static<typeof TellerReportJson>;

const ClearingReportJson = Type.Object({
  day: Day,
  operators: Type.Array(
    Type.Object({
      operator: StringEnum(CLEARING_OPERATORS, { description: 'transport operator' }),
      debits: Count('verified debits with a transaction date on that day', 2),
      amountFen: Fen('their amount', 700),
      quarantined: Count('debits held back (TAC does not verify, replayed, cloned): never cleared', 0),
    }),
    { description: 'one row per operator' },
  ),
  totals: Type.Object({ debits: Count('debits', 3), amountFen: Fen('amount', 800), quarantined: Count('quarantined', 1) }, { description: 'every operator' }),
  companies: Type.Array(
    Type.Object({
      companyId: Type.String({
        description: "the operator company's id in the line → operator table (park-<id> for a park; unassigned: no table names one)",
        examples: ['bj-mtr'],
      }),
      name: Type.String({ description: 'its name', examples: ['京港地铁'] }),
      placeholder: Type.Boolean({ description: 'true while the real company is not known (revenue held under a placeholder payee)' }),
      amountFen: Fen('its part of the day’s verified debits', 71),
      services: Type.Array(
        Type.Object({
          operator: StringEnum(CLEARING_OPERATORS, { description: 'the service the part was paid for' }),
          debits: Count('debits it has a part in', 1),
          amountFen: Fen('its part', 71),
        }),
        { description: 'per service (the existing operator dimension)' },
      ),
    }),
    {
      description:
        'the operator-company dimension (清分): every verified debit apportioned to the companies owed it (subway trips by km on the fare path, ' +
        "overtime to the exit line's operator, largest remainder); the amounts add up to totals.amountFen",
    },
  ),
  split: Type.Object(
    {
      model: Type.String({ description: 'the path model subway trips were split with', examples: ['shortest-path'] }),
      exitsWithoutEntry: Count(
        "subway exits without their entry station (older firmware, a torn exit recovered later): credited to the exit station's line",
        0,
      ),
    },
    { description: 'how the split was made' },
  ),
  lostCardBalances: Type.Object(
    {
      cards: Count('lost cards whose balance moved out of card liability that day (replacement issued, or GATEWAY_LOST_BALANCE_FORFEIT_DAYS ended)', 1),
      forfeitedFen: Fen('the balances moved that day', 3_000),
      lateTapsFen: Fen("lost cards' later taps uploaded that day, paid from the account (the operators above are still paid for them)", 400),
      heldFen: Fen('what the account holds at the end of the day: every balance moved so far, less every later tap', 2_600),
    },
    {
      description:
        'forfeited lost-card balances: the day’s movements of liability:lost-card-forfeited, by posting time — a liability, never income, so not in the totals',
    },
  ),
});
type ClearingReportJson = Static<typeof ClearingReportJson>;

const CLEARING_EXAMPLE: ClearingReportJson = CLEARING_REPORT_EXAMPLE;

/** The JSON form of a teller report: each void's time with its ISO Beijing form beside it. */
function tellerJson(report: TellerReport): TellerReportJson {
  return { ...report, voids: report.voids.map((v) => withIso(v, 'voidedMs')) };
}

/**
 * The 200 answer in both representations: the JSON object, or the CSV download when the Accept
 * header prefers text/csv (OpenAPI lists both media types, each with its example).
 */
function jsonOrCsv(json: TSchema, jsonExample: unknown, csv: { headers: readonly string[]; example: string; filename: string }) {
  return {
    description: `The report as JSON, or as CSV (UTF-8 with BOM, CRLF) when Accept prefers text/csv; CSV header: ${csv.headers.join(',')}`,
    headers: {
      'content-disposition': { type: 'string', description: `CSV only: attachment; filename="${csv.filename}"` },
      vary: { type: 'string', description: 'Accept' },
    },
    content: {
      [JSON_MEDIA_TYPE]: { schema: json, examples: { report: { summary: 'A day at one branch', value: jsonExample } } },
      [CSV_MEDIA_TYPE]: { schema: { type: 'string', description: 'RFC 4180 CSV, UTF-8 with BOM' }, example: csv.example },
    },
  };
}

/** Vary: Accept on both answers; the CSV text when the caller prefers it, else the JSON object. */
function answer<T, J>(
  request: FastifyRequest,
  reply: FastifyReply,
  report: T,
  json: (report: T) => J,
  csv: (report: T) => string,
  filename: (report: T) => string,
): J {
  void reply.header('vary', 'Accept');
  // The CSV download is sent as it is (sendCsv): the route's return value is then the reply itself.
  return prefersCsv(request) ? (sendCsv(reply, filename(report), csv(report)) as unknown as J) : json(report);
}

export async function reportRoutes(app: GatewayApp): Promise<void> {
  // request.accepts() for content negotiation, in this plugin's context only.
  await app.register(fastifyAccepts);

  app.get(
    '/v1/reports/teller',
    {
      config: { roles: ['counter'], noChannelOperation: "the counter's own end-of-day report, not a cardholder operation" },
      schema: {
        tags: ['reports'],
        summary: 'Teller end-of-day report: loads by payment source and voids (a counter sees its own branch)',
        description:
          'JSON by default; CSV (text/csv, UTF-8 with BOM, yuan and fen columns, formula-escaped text) when the Accept header prefers text/csv. ' +
          'Records: one `source` per payment source, one `total`, one `void` per voided load.',
        security: BEARER,
        querystring: TellerQuery,
        response: {
          200: jsonOrCsv(TellerReportJson, tellerJson(TELLER_REPORT_EXAMPLE), {
            headers: TELLER_CSV_HEADERS,
            example: TELLER_CSV_EXAMPLE,
            filename: 'teller-<day>[-<branch>].csv',
          }),
          ...problems(...AUTHENTICATED),
        },
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
      return answer(request, reply, report, tellerJson, tellerReportCsv, tellerReportFilename);
    },
  );

  app.get(
    '/v1/reports/clearing',
    {
      schema: {
        tags: ['reports'],
        summary: 'Daily clearing per operator (subway, bus, P+R, parks, suburban) of verified debits by transaction date',
        description:
          'JSON by default; CSV (text/csv, UTF-8 with BOM, yuan and fen columns, formula-escaped text) when the Accept header prefers text/csv. ' +
          'Records: one `operator` per operator (the service dimension), one `total`, then one `company` per operator company and service ' +
          '(the operator-company dimension, 清分: each verified debit apportioned to the companies owed it; their amounts add up to the total), and last one `lost-card-balances` record (the lost cards whose balance moved ' +
          'to liability:lost-card-forfeited that day, their later taps paid from it, what it holds at the day’s end: a liability, not income).',
        security: BEARER,
        querystring: Type.Object({ day: Day }, { additionalProperties: false }),
        response: {
          200: jsonOrCsv(ClearingReportJson, CLEARING_EXAMPLE, {
            headers: CLEARING_CSV_HEADERS,
            example: CLEARING_CSV_EXAMPLE,
            filename: 'clearing-<day>.csv',
          }),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request, reply) => {
      const range = dayRange(request.query.day);
      const { store } = app.gateway;
      const report = await store.transaction((tx) => clearingReport(tx, app.gateway, request.query.day, range), { readOnly: true });
      return answer(request, reply, report, (r: ClearingReport): ClearingReportJson => r, clearingReportCsv, clearingReportFilename);
    },
  );
}
