/**
 * Clearing between issuers (issue 18; docs/settlement.md, "Clearing between issuers"):
 * - POST /v1/clearing/inbound: import a TUCF file of our cards used in another city;
 * - GET /v1/clearing/outbound/{issuer}/{day}: the signed file of our terminals' taps on that issuer's cards;
 * - GET /v1/clearing/positions?day=: net settlement per counterparty, value day T+1.
 * Operators only.
 */
import { DEFAULT_ISSUER_REGISTRY } from '#core';
import type { GatewayContext } from '../http/gateway-context.ts';
import { AUTHENTICATED, BEARER, type GatewayApp, problems, Type, WITH_BODY, withExamples } from '../http/wire.ts';
import { DEFAULT_CUTOFF_MINUTES } from '../services/business-day.ts';
import { type ClearingContext, counterpartyPositions, importInboundFile, outboundFile } from '../services/interissuer-clearing.ts';
import { valueDayOf } from '../services/settlement-file.ts';
import { DEFAULT_SETTLEMENT_LAG_DAYS } from './settlement.ts';

export function clearingContextOf(gateway: GatewayContext): ClearingContext {
  return {
    store: gateway.store,
    keys: gateway.keys,
    signer: gateway.clearingSigner,
    home: DEFAULT_ISSUER_REGISTRY.home,
    issuers: DEFAULT_ISSUER_REGISTRY.foreign(),
    certificates: gateway.clearingCertificates,
    cutoffMinutes: gateway.policies.dayCloseCutoffMinutes ?? DEFAULT_CUTOFF_MINUTES,
  };
}

const Day = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'business day YYYY-MM-DD', examples: ['2026-03-10'] });
const Fen = (description: string, example = 400) => Type.Integer({ description: `${description} (fen)`, examples: [example] });
const Count = (description: string, example = 1) => Type.Integer({ description, examples: [example] });

const FILE_EXAMPLE =
  'H|TUCF|1|shanghai|beijing|2026-03-10|1\nR|1|1000000000000018|5|2|300|5000|6|202600000001|17|20260310|101500|0|-|0A1B2C3D|1773108900000\nT|1|300|<sha-256 hex>\nS|<base64 signature>\n';

const ImportResultJson = Type.Object({
  sender: Type.String({ description: 'the sending issuer', examples: ['shanghai'] }),
  receiver: Type.String({ description: 'us', examples: ['beijing'] }),
  day: Day,
  sequence: Type.Integer({ description: 'the file’s sequence', examples: [1] }),
  records: Count('records in the file', 2),
  accepted: Count('records applied', 1),
  acceptedFen: Fen('their amount, now owed to the sender', 300),
  writtenOff: Count('of those, records of cards whose refund was already paid (to the write-offs)', 0),
  writtenOffFen: Fen('their amount', 0),
  rejections: Type.Array(
    Type.Object({
      n: Type.Integer({ description: 'record number in the file', examples: [2] }),
      cardNo: Type.String({ description: 'the card', examples: ['1000000000000026'] }),
      offlineAtc: Type.Integer({ description: 'its offline ATC', examples: [3] }),
      reason: Type.String({ description: 'unknown-card, bad-tac, duplicate or atc-conflict', examples: ['unknown-card'] }),
    }),
    { description: 'records not applied, each with its reason; the others were applied' },
  ),
  replay: Type.Boolean({ description: 'true: this exact file was imported before; this is that import’s result and nothing changed now' }),
});

const PositionsJson = Type.Object({
  day: Day,
  valueDay: Day,
  counterparties: Type.Array(
    Type.Object({
      issuer: Type.String({ description: 'counterparty issuer', examples: ['shanghai'] }),
      day: Day,
      valueDay: Day,
      receivableFen: Fen('they owe us: our terminals’ taps on their cards', 900),
      payableFen: Fen('we owe them: their terminals’ taps on our cards', 300),
      netFen: Fen('receivable minus payable: positive = they pay us', 600),
    }),
    { description: 'one per foreign issuer' },
  ),
});

export async function clearingRoutes(app: GatewayApp): Promise<void> {
  app.post(
    '/v1/clearing/inbound',
    {
      schema: {
        tags: ['settlement'],
        summary: 'Import an inbound clearing file (TUCF): our cards’ taps in another city, verified, applied once',
        description:
          'Body: the file as text/plain. The file is refused whole when malformed or when its trailer (count, sum, hash) or its signature under the ' +
          'sender’s configured certificate does not match (`422 clearing-file-refused`, nothing changes). Each record is then applied or rejected with its ' +
          'reason (unknown-card, bad-tac, duplicate, atc-conflict) without losing the rest. The same file again answers the first result with replay: true; ' +
          'another file under the same sender, day and sequence is `409 clearing-file-conflict`. Operators only.',
        security: BEARER,
        consumes: ['text/plain'],
        body: withExamples(Type.String({ description: 'the TUCF file', minLength: 1, maxLength: 50_000_000 }), {
          file: { summary: 'One record', value: FILE_EXAMPLE },
        }),
        response: {
          200: withExamples(
            ImportResultJson,
            {
              imported: {
                summary: 'One applied, one unknown card',
                value: {
                  sender: 'shanghai',
                  receiver: 'beijing',
                  day: '2026-03-10',
                  sequence: 1,
                  records: 2,
                  accepted: 1,
                  acceptedFen: 300,
                  writtenOff: 0,
                  writtenOffFen: 0,
                  rejections: [{ n: 2, cardNo: '1000000000000026', offlineAtc: 3, reason: 'unknown-card' }],
                  replay: false,
                },
              },
            },
            'What the import did',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, 'clearing-file-refused', 'clearing-file-conflict'),
        },
      },
    },
    async (request) => {
      const result = await importInboundFile(clearingContextOf(app.gateway), request.body, app.gateway.clock());
      request.log.info(
        { sender: result.sender, day: result.day, sequence: result.sequence, accepted: result.accepted, replay: result.replay },
        'clearing file imported',
      );
      return result;
    },
  );

  app.get(
    '/v1/clearing/outbound/:issuer/:day',
    {
      schema: {
        tags: ['settlement'],
        summary: 'The outbound clearing file (TUCF) of our terminals’ taps on one foreign issuer’s cards in one business day, signed',
        description: 'text/plain; `404 issuer-not-found` for an issuer that is not a configured foreign issuer. Operators only.',
        security: BEARER,
        params: Type.Object(
          { issuer: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$', description: 'foreign issuer name', examples: ['shanghai'] }), day: Day },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The file',
            content: { 'text/plain': { schema: { type: 'string', description: 'TUCF version 1 (docs/settlement.md)' }, example: FILE_EXAMPLE } },
          },
          ...problems(...AUTHENTICATED, 'issuer-not-found'),
        },
      },
    },
    async (request, reply) => {
      const file = await outboundFile(clearingContextOf(app.gateway), request.params.issuer, request.params.day, app.gateway.clock());
      return reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', `attachment; filename="tucf-${request.params.issuer}-${request.params.day}-1.txt"`)
        .send(file.text);
    },
  );

  app.get(
    '/v1/clearing/positions',
    {
      schema: {
        tags: ['settlement'],
        summary: 'Net settlement per counterparty issuer for a business day (T+1)',
        description: 'Receivable (outbound files made for the day), payable (inbound records applied for the day), net. Operators only.',
        security: BEARER,
        querystring: Type.Object({ day: Day }, { additionalProperties: false }),
        response: {
          200: withExamples(
            PositionsJson,
            {
              day: {
                summary: 'One counterparty',
                value: {
                  day: '2026-03-10',
                  valueDay: '2026-03-11',
                  counterparties: [{ issuer: 'shanghai', day: '2026-03-10', valueDay: '2026-03-11', receivableFen: 900, payableFen: 300, netFen: 600 }],
                },
              },
            },
            'The positions',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const valueDay = valueDayOf(request.query.day, app.gateway.policies.settlementLagDays ?? DEFAULT_SETTLEMENT_LAG_DAYS);
      const ctx = clearingContextOf(app.gateway);
      const counterparties = await app.gateway.store.transaction((tx) => counterpartyPositions(tx, ctx.issuers, request.query.day, valueDay), {
        readOnly: true,
      });
      return { day: request.query.day, valueDay, counterparties };
    },
  );
}
