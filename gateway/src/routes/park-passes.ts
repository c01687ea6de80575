/** POST /v1/cards/{cardNo}/park-passes: sell the 100-yuan park annual pass and authorise its card write. */
import type { FastifyInstance } from 'fastify';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { bearerSecurity, cardNoParams, hexSchema, hexToBytes, idempotencyHeaders, withProblems } from '../http/schemas.ts';
import { toWireYuan } from '../http/yuan-wire.ts';
import { PAYMENT_SOURCES, type PaymentSource } from '../services/ledger.ts';
import { sellParkPass } from '../services/park-passes.ts';
import { authorisedWriteSchema } from './card-schemas.ts';

export async function parkPassesRoutes(app: FastifyInstance): Promise<void> {
  const { store, keys, clock, policies } = app.gateway;

  app.post<{
    Params: { cardNo: string };
    Body: { challenge: string; paymentSource?: PaymentSource; cardPassYears?: [number, number] };
    Headers: { 'idempotency-key': string };
  }>(
    '/v1/cards/:cardNo/park-passes',
    {
      config: { roles: ['counter', 'app'] },
      schema: {
        tags: ['park passes'],
        summary: 'Sell the park annual pass (15 Dec - 15 Jan, 100 yuan); idempotent by Idempotency-Key; returns the authorised card write',
        security: bearerSecurity,
        params: cardNoParams,
        headers: idempotencyHeaders,
        body: {
          type: 'object',
          required: ['challenge'],
          additionalProperties: false,
          properties: {
            challenge: hexSchema(4, "The card's GET CHALLENGE answer (4 bytes)"),
            paymentSource: { type: 'string', enum: [...PAYMENT_SOURCES], description: 'default: cash at a counter, app in the app' },
            cardPassYears: {
              type: 'array',
              minItems: 2,
              maxItems: 2,
              items: { type: 'integer', minimum: 0, maximum: 9999 },
              description: "Pass years in the card's [previous, current] slots as read from the card; the new pass goes to the older slot",
            },
          },
        },
        response: withProblems(
          {
            200: { $ref: 'ParkPassSale#' },
            201: { $ref: 'ParkPassSale#' },
          },
          [404, 409],
        ),
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const challenge = hexToBytes(request.body.challenge, 4, 'challenge');
      const paymentSource: PaymentSource = principal.role === 'app' ? 'app' : (request.body.paymentSource ?? 'cash');
      const nowMs = clock();
      const sale = await store.transaction((tx) =>
        sellParkPass(
          tx,
          keys,
          {
            cardNo: request.params.cardNo,
            paymentSource,
            challenge,
            idempotencyKey: request.headers['idempotency-key'],
            priceFen: policies.parkPassPriceFen,
            cardPassYears: request.body.cardPassYears,
          },
          actorOf(principal),
          nowMs,
        ),
      );
      reply.code(sale.created ? 201 : 200);
      return {
        saleId: sale.saleId,
        cardNo: sale.cardNo,
        passYear: sale.passYear,
        validFrom: sale.passYear * 10_000 + 101,
        validUntil: (sale.passYear + 1) * 10_000 + 131,
        price: toWireYuan(sale.amountFen),
        paymentSource: sale.paymentSource,
        soldMs: sale.soldMs,
        write: { kind: sale.write.kind, record: sale.write.recordHex, mac: sale.write.macHex },
      };
    },
  );
}

export const parkPassSaleSchema = {
  $id: 'ParkPassSale',
  type: 'object',
  required: ['saleId', 'cardNo', 'passYear', 'price', 'write'],
  properties: {
    saleId: { type: 'integer' },
    cardNo: { type: 'string' },
    passYear: { type: 'integer' },
    validFrom: { type: 'integer', description: 'YYYYMMDD' },
    validUntil: { type: 'integer', description: 'YYYYMMDD' },
    price: { type: 'string' },
    paymentSource: { type: 'string' },
    soldMs: { type: 'integer' },
    write: authorisedWriteSchema,
  },
} as const;
