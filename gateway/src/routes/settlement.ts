/**
 * Day close and settlement (issue 18; docs/settlement.md):
 * - POST /v1/settlement/days/{day}/close: an operator closes a business day;
 * - GET /v1/settlement/days, GET /v1/settlement/days/{day}: closed days, their signed summaries
 *   and whether digest and signature still verify;
 * - GET /v1/settlement/certificate: the clearing centre's certificate (counterparties verify with it).
 * Operators only (the default role of a route without `roles`).
 */
import fastifyAccepts from '@fastify/accepts';
import { requirePrincipal } from '../auth/scope.ts';
import { CSV_MEDIA_TYPE, JSON_MEDIA_TYPE, prefersCsv, sendCsv } from '../http/csv.ts';
import { ApiError } from '../http/problem.ts';
import { AUTHENTICATED, BEARER, type GatewayApp, problems, type Static, StringEnum, timestamp, Type, withExamples } from '../http/wire.ts';
import { closeBusinessDay, type ClosedDay, dayCloseContextOf, getClosedDay, listClosedDays, verifyClosedDay } from '../services/day-close.ts';
import { CLEARING_OPERATORS } from '../services/reports.ts';
import {
  type OperatorReport,
  OPERATOR_REPORT_CSV_HEADERS,
  operatorReport,
  operatorReportCsv,
  operatorReportFilename,
  periodRange,
} from '../services/operator-reports.ts';
import { SETTLEMENT_CSV_HEADERS, settlementFileCsv, settlementFileName, settlementTransfers } from '../services/settlement-file.ts';

const Day = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
  description: 'business day YYYY-MM-DD (from its date at the cut-off to the next date at the cut-off, Beijing time)',
  examples: ['2026-03-10'],
});
const Count = (description: string, example = 1) => Type.Integer({ description, examples: [example] });
const Fen = (description: string, example = 400) => Type.Integer({ description: `${description} (fen)`, examples: [example] });

const START = Date.UTC(2026, 2, 9, 20, 0, 0);
const END = START + 24 * 60 * 60 * 1000;
const CLOSED = END + 2 * 60 * 60 * 1000;

const DaySummaryJson = Type.Object(
  {
    format: Type.Integer({ description: 'summary layout version (docs/settlement.md)', examples: [1] }),
    day: Day,
    ...timestamp('startsMs', 'start of the business day, inclusive', START),
    ...timestamp('endsMs', 'end of the business day (the cut-off), exclusive', END),
    ...timestamp('closedMs', 'when it was closed', CLOSED),
    closedBy: Type.String({ description: 'who closed it: the operator, or job:watermarks / job:grace', examples: ['admin'] }),
    trigger: StringEnum(['operator', 'watermarks', 'grace'] as const, { description: 'why it closed' }),
    cleared: Type.Object(
      {
        debits: Count('accepted debits taken in (the day’s own and adjustments)', 3),
        amountFen: Fen('their amount', 900),
        quarantined: Count('debits held back (never cleared)', 0),
        services: Type.Array(
          Type.Object({
            operator: StringEnum(CLEARING_OPERATORS, { description: 'the service' }),
            debits: Count('debits', 3),
            amountFen: Fen('amount', 900),
          }),
          { description: 'per service' },
        ),
      },
      { description: 'what the close cleared' },
    ),
    adjustments: Type.Array(
      Type.Object({
        day: Day,
        debits: Count('debits of that earlier day', 1),
        amountFen: Fen('their amount', 300),
        postings: Count('ledger postings of that earlier day', 1),
      }),
      { description: 'records of earlier business days taken in by this close (they arrived after their own day closed)' },
    ),
    companies: Type.Array(
      Type.Object({
        companyId: Type.String({ description: 'operator company id', examples: ['bj-subway'] }),
        name: Type.String({ description: 'its name', examples: ['北京地铁运营公司'] }),
        placeholder: Type.Boolean({ description: 'true while the real company is not known' }),
        amountFen: Fen('its part of the cleared debits', 900),
        services: Type.Array(
          Type.Object({
            operator: StringEnum(CLEARING_OPERATORS, { description: 'the service' }),
            debits: Count('debits', 3),
            amountFen: Fen('its part', 900),
          }),
          { description: 'per service' },
        ),
      }),
      { description: 'the operator-company split (清分); adds up to cleared.amountFen' },
    ),
    split: Type.Object(
      {
        model: Type.String({ description: 'path model', examples: ['shortest-path'] }),
        exitsWithoutEntry: Count('subway exits without their entry station', 0),
      },
      { description: 'how the split was made' },
    ),
    issuers: Type.Array(
      Type.Object({
        issuer: Type.String({ description: "the cards' issuer: home, or another issuer", examples: ['home'] }),
        debits: Count('debits', 3),
        amountFen: Fen('amount', 900),
      }),
      { description: 'cleared debits per card issuer' },
    ),
    collections: Type.Array(
      Type.Object({
        collector: Type.String({ description: 'bank:<bank id>, org:<organisation id>, branch:<branch> or other:<posting kind>', examples: ['bank:icbc'] }),
        paymentSource: Type.String({ description: 'payment account (bank-account, cash, other-bank-card, app)', examples: ['cash'] }),
        amountFen: Fen('money taken (loads authorised less loads voided)', 10_000),
      }),
      { description: 'top-up collections per collecting bank or organisation and payment source' },
    ),
    refundsPaid: Type.Object({ count: Count('refunds paid', 0), amountFen: Fen('their amount', 0) }, { description: 'refunds paid out' }),
    ledger: Type.Object(
      {
        postings: Count('ledger postings taken in', 4),
        accounts: Type.Array(
          Type.Object({
            account: Type.String({ description: 'ledger account', examples: ['liability:card-purse'] }),
            movementFen: Fen('movement, debit positive', -9_100),
          }),
          { description: 'every account that moved; they sum to 0' },
        ),
      },
      { description: 'the ledger of the day' },
    ),
    reconciliation: Type.Object(
      {
        dayPostingsFen: Fen('sum of every entry of the day (0)', 0),
        companiesVsClearedFen: Fen('companies minus cleared debits (0)', 0),
        revenueLedgerVsJournalFen: Fen('ledger revenue minus accepted debits, cumulative (0)', 0),
        cardPurseVsShadowFen: Fen('card purse liability minus shadow balances (0)', 0),
        collectionsVsPaymentsFen: Fen('collections less refunds paid minus the payment accounts’ movement (0)', 0),
      },
      { description: 'every difference is 0: a day that does not reconcile is not closed' },
    ),
  },
  { description: 'the signed summary' },
);

const ClosedDayJson = Type.Object({
  day: Day,
  summary: DaySummaryJson,
  summaryJson: Type.String({ description: 'the exact signed text (canonical JSON of summary)', examples: ['{"format":1,"day":"2026-03-10"}'] }),
  digest: Type.String({ description: 'SHA-256 of summaryJson, hex', pattern: '^[0-9a-f]{64}$', examples: ['a'.repeat(64)] }),
  signature: Type.String({ description: "the clearing centre's RSA-SHA256 signature of summaryJson, base64", examples: ['c2lnbmF0dXJl'] }),
  certificateFingerprint: Type.String({ description: 'SHA-256 of the signing certificate (DER), hex', examples: ['b'.repeat(64)] }),
  verified: Type.Object(
    {
      digestMatches: Type.Boolean({ description: 'the digest is that of summaryJson' }),
      signatureValid: Type.Boolean({ description: "the signature verifies under the clearing centre's current certificate" }),
    },
    { description: 'checked when answered' },
  ),
});
type ClosedDayJson = Static<typeof ClosedDayJson>;

const EXAMPLE_SUMMARY: ClosedDayJson['summary'] = {
  format: 1,
  day: '2026-03-10',
  startsMs: START,
  startsAt: '2026-03-10T04:00:00.000+08:00',
  endsMs: END,
  endsAt: '2026-03-11T04:00:00.000+08:00',
  closedMs: CLOSED,
  closedAt: '2026-03-11T06:00:00.000+08:00',
  closedBy: 'admin',
  trigger: 'operator',
  cleared: {
    debits: 3,
    amountFen: 900,
    quarantined: 0,
    services: CLEARING_OPERATORS.map((operator) => ({ operator, debits: operator === 'subway' ? 3 : 0, amountFen: operator === 'subway' ? 900 : 0 })),
  },
  adjustments: [],
  companies: [
    { companyId: 'bj-subway', name: '北京地铁运营公司', placeholder: false, amountFen: 900, services: [{ operator: 'subway', debits: 3, amountFen: 900 }] },
  ],
  split: { model: 'shortest-path', exitsWithoutEntry: 0 },
  issuers: [{ issuer: 'home', debits: 3, amountFen: 900 }],
  collections: [{ collector: 'bank:icbc', paymentSource: 'cash', amountFen: 10_000 }],
  refundsPaid: { count: 0, amountFen: 0 },
  ledger: {
    postings: 4,
    accounts: [
      { account: 'liability:card-purse', movementFen: -9_100 },
      { account: 'payment:cash', movementFen: 10_000 },
      { account: 'revenue:subway', movementFen: -900 },
    ],
  },
  reconciliation: { dayPostingsFen: 0, companiesVsClearedFen: 0, revenueLedgerVsJournalFen: 0, cardPurseVsShadowFen: 0, collectionsVsPaymentsFen: 0 },
};
const EXAMPLE_CLOSED: ClosedDayJson = {
  day: '2026-03-10',
  summary: EXAMPLE_SUMMARY,
  summaryJson: '{"format":1,"day":"2026-03-10"}',
  digest: 'a'.repeat(64),
  signature: 'c2lnbmF0dXJl',
  certificateFingerprint: 'b'.repeat(64),
  verified: { digestMatches: true, signatureValid: true },
};

/** Settlement lag in days (T+1 by default; GATEWAY_SETTLEMENT_LAG_DAYS). */
export const DEFAULT_SETTLEMENT_LAG_DAYS = 1;

const Transfer = Type.Object({
  row: StringEnum(['transfer', 'control'] as const, { description: 'a transfer, or the control record (last)' }),
  day: Day,
  valueDay: Day,
  payer: Type.Union([Type.String(), Type.Null()], { description: 'who pays (null on the control record)', examples: ['bank:icbc'] }),
  payee: Type.Union([Type.String(), Type.Null()], { description: 'who is paid (null on the control record)', examples: ['clearing-centre'] }),
  reason: Type.String({ description: 'top-up-collections, fare-revenue, interop-taps, refunds-paid or control-total', examples: ['top-up-collections'] }),
  detail: Type.Union([Type.String(), Type.Null()], {
    description: 'payment source, company name, count; on the control record the number of transfers',
    examples: ['cash'],
  }),
  amountFen: Type.Integer({ description: 'amount, always positive (fen); on the control record the sum of the amounts', examples: [10_000] }),
  centreFen: Type.Integer({
    description: 'the amount from the clearing centre’s side: positive = it receives, negative = it pays (fen); on the control record their sum',
    examples: [10_000],
  }),
  reference: Type.Union([Type.String(), Type.Null()], { description: 'on the control record: the closed day’s digest', examples: [null] }),
});
const SettlementFileJson = Type.Object({
  day: Day,
  format: Type.Integer({ description: 'file layout version', examples: [1] }),
  transfers: Type.Array(Transfer, { description: 'the transfers, then the control record' }),
});

const OperatorDayJson = Type.Object({ day: Day, debits: Count('debits it has a part in', 3), amountFen: Fen('its revenue that day', 900) });
const OperatorReportJson = Type.Object({
  period: Type.String({ description: 'the day (YYYY-MM-DD) or month (YYYY-MM)', examples: ['2026-03'] }),
  from: Day,
  to: Day,
  closedDays: Type.Array(Day, { description: 'closed business days of the period (the report covers these)' }),
  openDays: Type.Array(Day, { description: 'days of the period not closed yet (not in the report)' }),
  operators: Type.Array(
    Type.Object({
      companyId: Type.String({ description: 'operator company id', examples: ['bj-subway'] }),
      name: Type.String({ description: 'its name', examples: ['北京地铁运营公司'] }),
      placeholder: Type.Boolean({ description: 'true while the real company is not known' }),
      amountFen: Fen('its revenue over the period', 900),
      services: Type.Array(
        Type.Object({ operator: Type.String({ description: 'service', examples: ['subway'] }), debits: Count('debits', 3), amountFen: Fen('its part', 900) }),
        { description: 'per service' },
      ),
      days: Type.Array(OperatorDayJson, { description: 'one entry per closed day, in order: the series a chart draws' }),
    }),
    { description: 'per operator company' },
  ),
  totals: Type.Object({ debits: Count('cleared debits', 3), amountFen: Fen('cleared amount', 900) }, { description: 'the closed days in total' }),
});
const OPERATOR_REPORT_EXAMPLE: OperatorReport = {
  period: '2026-03-10',
  from: '2026-03-10',
  to: '2026-03-10',
  closedDays: ['2026-03-10'],
  openDays: [],
  operators: [
    {
      companyId: 'bj-subway',
      name: '北京地铁运营公司',
      placeholder: false,
      amountFen: 900,
      services: [{ operator: 'subway', debits: 3, amountFen: 900 }],
      days: [{ day: '2026-03-10', debits: 3, amountFen: 900 }],
    },
  ],
  totals: { debits: 3, amountFen: 900 },
};

export function closedDayJson(closed: ClosedDay, certificatePem: string): ClosedDayJson {
  return {
    day: closed.day,
    summary: closed.summary as ClosedDayJson['summary'],
    summaryJson: closed.summaryJson,
    digest: closed.digest,
    signature: closed.signature,
    certificateFingerprint: closed.certificateFingerprint,
    verified: verifyClosedDay(closed, certificatePem),
  };
}

const DayParams = Type.Object({ day: Day }, { additionalProperties: false });

export async function settlementRoutes(app: GatewayApp): Promise<void> {
  // request.accepts() for content negotiation, in this plugin's context only.
  await app.register(fastifyAccepts);
  const lagDays = (): number => app.gateway.policies.settlementLagDays ?? DEFAULT_SETTLEMENT_LAG_DAYS;

  app.post(
    '/v1/settlement/days/:day/close',
    {
      schema: {
        tags: ['settlement'],
        summary: 'Close a business day: one consistent snapshot, reconciled to 0.00, signed by the clearing centre',
        description:
          'Takes in every journal record that occurred before the day’s cut-off and every ledger posting made before it that no earlier close took ' +
          '(records of earlier days are adjustments referencing their day), computes revenue per service and per operator company, per-issuer positions, ' +
          'per-bank top-up collections, refunds paid and the ledger of the day, checks that every difference is 0, and stores the summary signed with the ' +
          'clearing centre’s key. Days close in order. `409 day-not-ended` before the cut-off, `409 day-already-closed`, `409 day-out-of-order` ' +
          '(the problem names nextDay), `409 day-does-not-reconcile` (nothing changes). Operators only.',
        security: BEARER,
        params: DayParams,
        response: {
          201: withExamples(ClosedDayJson, { closed: { summary: 'A day with three subway trips and one load', value: EXAMPLE_CLOSED } }, 'The closed day'),
          ...problems(...AUTHENTICATED, 'day-not-ended', 'day-already-closed', 'day-out-of-order', 'day-does-not-reconcile'),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const ctx = dayCloseContextOf(app.gateway);
      const closed = await closeBusinessDay(ctx, request.params.day, { actor: principal.subject, trigger: 'operator' }, app.gateway.clock());
      request.log.info({ day: closed.day, digest: closed.digest }, 'business day closed');
      void reply.code(201);
      return closedDayJson(closed, ctx.signer.certificatePem);
    },
  );

  app.get(
    '/v1/settlement/days',
    {
      schema: {
        tags: ['settlement'],
        summary: 'Closed business days in a range, with their signed summaries',
        description: 'Oldest first; `from` and `to` are inclusive (default: the last 31 days up to today). Operators only.',
        security: BEARER,
        querystring: Type.Object({ from: Type.Optional(Day), to: Type.Optional(Day) }, { additionalProperties: false }),
        response: {
          200: withExamples(
            Type.Object({ days: Type.Array(ClosedDayJson, { description: 'closed days' }) }),
            { one: { summary: 'One closed day', value: { days: [EXAMPLE_CLOSED] } } },
            'Closed days',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const to = request.query.to ?? new Date(app.gateway.clock() + 8 * 3_600_000).toISOString().slice(0, 10);
      const from = request.query.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 30 * 86_400_000).toISOString().slice(0, 10);
      const days = await app.gateway.store.transaction((tx) => listClosedDays(tx, from, to), { readOnly: true });
      return { days: days.map((d) => closedDayJson(d, app.gateway.clearingSigner.certificatePem)) };
    },
  );

  app.get(
    '/v1/settlement/days/:day',
    {
      schema: {
        tags: ['settlement'],
        summary: 'One closed business day: its signed summary, and whether digest and signature still verify',
        description: '`404 day-not-closed` when the day is not closed. Operators only.',
        security: BEARER,
        params: DayParams,
        response: {
          200: withExamples(ClosedDayJson, { closed: { summary: 'A closed day', value: EXAMPLE_CLOSED } }, 'The closed day'),
          ...problems(...AUTHENTICATED, 'day-not-closed'),
        },
      },
    },
    async (request) => {
      const closed = await app.gateway.store.transaction((tx) => getClosedDay(tx, request.params.day), { readOnly: true });
      if (closed === undefined) throw new ApiError('day-not-closed', `business day ${request.params.day} is not closed`);
      return closedDayJson(closed, app.gateway.clearingSigner.certificatePem);
    },
  );

  app.get(
    '/v1/settlement/certificate',
    {
      schema: {
        tags: ['settlement'],
        summary: "The clearing centre's certificate: closed days and clearing files verify against it",
        description: 'PEM and the SHA-256 fingerprint of its DER. Operators only (handed to counterparties out of band).',
        security: BEARER,
        response: {
          200: withExamples(
            Type.Object({
              certificatePem: Type.String({
                description: 'X.509 certificate, PEM',
                examples: ['-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n'],
              }),
              fingerprint: Type.String({ description: 'SHA-256 of its DER, hex', examples: ['b'.repeat(64)] }),
            }),
            {
              cert: {
                summary: 'The certificate',
                value: { certificatePem: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n', fingerprint: 'b'.repeat(64) },
              },
            },
            'The certificate',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async () => ({ certificatePem: app.gateway.clearingSigner.certificatePem, fingerprint: app.gateway.clearingSigner.fingerprint }),
  );

  app.get(
    '/v1/settlement/days/:day/settlement-file',
    {
      schema: {
        tags: ['settlement'],
        summary: 'The settlement file of a closed day: who pays whom (banks remit collections, operators are paid), with a control record',
        description:
          'Derived from the closed day’s signed summary only (the same file every time). JSON by default; CSV (text/csv, UTF-8 with BOM) when the Accept ' +
          'header prefers text/csv. Every transfer: payer, payee, a positive amount and `centre` (positive: the clearing centre receives, negative: it pays); ' +
          'value day = the business day plus GATEWAY_SETTLEMENT_LAG_DAYS (T+1). The last record, `control`, holds the number of transfers, the sum of the ' +
          'amounts, the centre’s net and the closed day’s digest. `404 day-not-closed`. Operators only.',
        security: BEARER,
        params: DayParams,
        response: {
          200: {
            description: `The file as JSON, or as CSV when Accept prefers text/csv; CSV header: ${SETTLEMENT_CSV_HEADERS.join(',')}`,
            headers: {
              'content-disposition': { type: 'string', description: 'CSV only: attachment; filename="settlement-<day>.csv"' },
              vary: { type: 'string', description: 'Accept' },
            },
            content: {
              [JSON_MEDIA_TYPE]: {
                schema: SettlementFileJson,
                examples: {
                  file: {
                    summary: 'One bank, one operator',
                    value: {
                      day: '2026-03-10',
                      format: 1,
                      transfers: [
                        {
                          row: 'transfer',
                          day: '2026-03-10',
                          valueDay: '2026-03-11',
                          payer: 'bank:icbc',
                          payee: 'clearing-centre',
                          reason: 'top-up-collections',
                          detail: 'cash',
                          amountFen: 10_000,
                          centreFen: 10_000,
                          reference: null,
                        },
                        {
                          row: 'transfer',
                          day: '2026-03-10',
                          valueDay: '2026-03-11',
                          payer: 'clearing-centre',
                          payee: 'company:bj-subway',
                          reason: 'fare-revenue',
                          detail: '北京地铁运营公司',
                          amountFen: 900,
                          centreFen: -900,
                          reference: null,
                        },
                        {
                          row: 'control',
                          day: '2026-03-10',
                          valueDay: '2026-03-11',
                          payer: null,
                          payee: null,
                          reason: 'control-total',
                          detail: '2',
                          amountFen: 10_900,
                          centreFen: 9_100,
                          reference: 'a'.repeat(64),
                        },
                      ],
                    },
                  },
                },
              },
              [CSV_MEDIA_TYPE]: { schema: { type: 'string', description: 'RFC 4180 CSV, UTF-8 with BOM' }, example: `${SETTLEMENT_CSV_HEADERS.join(',')}\r\n` },
            },
          },
          ...problems(...AUTHENTICATED, 'day-not-closed'),
        },
      },
    },
    async (request, reply) => {
      const closed = await app.gateway.store.transaction((tx) => getClosedDay(tx, request.params.day), { readOnly: true });
      if (closed === undefined) throw new ApiError('day-not-closed', `business day ${request.params.day} is not closed`);
      void reply.header('vary', 'Accept');
      if (prefersCsv(request)) return sendCsv(reply, settlementFileName(closed.day), settlementFileCsv(closed, lagDays()));
      return { day: closed.day, format: 1, transfers: settlementTransfers(closed, lagDays()) };
    },
  );

  app.get(
    '/v1/reports/operators',
    {
      schema: {
        tags: ['reports'],
        summary: 'Revenue per operator company per closed business day, for a day or a month',
        description:
          'From the closed days’ signed summaries (figures that never change); days of the period not closed yet are listed in openDays. JSON by default; ' +
          'CSV (text/csv, UTF-8 with BOM) when the Accept header prefers text/csv: one `day` record per company and closed day, one `operator` record per ' +
          'company, one `total`. Operators only.',
        security: BEARER,
        querystring: Type.Object(
          { period: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$', description: 'a day YYYY-MM-DD or a month YYYY-MM', examples: ['2026-03'] }) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: `The report as JSON, or as CSV when Accept prefers text/csv; CSV header: ${OPERATOR_REPORT_CSV_HEADERS.join(',')}`,
            headers: {
              'content-disposition': { type: 'string', description: 'CSV only: attachment; filename="operators-<period>.csv"' },
              vary: { type: 'string', description: 'Accept' },
            },
            content: {
              [JSON_MEDIA_TYPE]: { schema: OperatorReportJson, examples: { day: { summary: 'One closed day', value: OPERATOR_REPORT_EXAMPLE } } },
              [CSV_MEDIA_TYPE]: {
                schema: { type: 'string', description: 'RFC 4180 CSV, UTF-8 with BOM' },
                example: operatorReportCsv(OPERATOR_REPORT_EXAMPLE).slice(1),
              },
            },
          },
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request, reply) => {
      const range = periodRange(request.query.period);
      if (range === null) throw new ApiError('invalid-request', `period ${request.query.period} is not a calendar day or month`);
      const report = await app.gateway.store.transaction((tx) => operatorReport(tx, request.query.period, range), { readOnly: true });
      void reply.header('vary', 'Accept');
      if (prefersCsv(request)) return sendCsv(reply, operatorReportFilename(report), operatorReportCsv(report));
      return report;
    },
  );
}
