/** POST /v1/cards/{cardNo}/park-passes: sell the 100-yuan park annual pass and authorise its card write. */
import { assertChannelFor } from '../auth/channel.ts';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import { hexToBytes } from '../http/schemas.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  CardNoParams,
  type GatewayApp,
  Hex,
  IdempotencyHeaders,
  isoBeijing,
  money,
  problems,
  type Static,
  StringEnum,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
  yuanAndFen,
} from '../http/wire.ts';
import { PAYMENT_SOURCES, type PaymentSource } from '../services/ledger.ts';
import { lockCardAndHolderCards, sellParkPass } from '../services/park-passes.ts';
import { AuthorisedWriteSchema, EXAMPLE_CARD_NO, EXAMPLE_MS } from './card-schemas.ts';

export const ParkPassSaleSchema = Type.Object({
  saleId: Type.Integer({ description: 'sale id' }),
  cardNo: CardNo(),
  passYear: Type.Integer({ description: 'the pass year: valid from 1 January of that year to 31 January of the next', examples: [2026] }),
  validFrom: Type.Integer({ description: 'first day of validity, YYYYMMDD', examples: [20260101] }),
  validUntil: Type.Integer({ description: 'last day of validity, YYYYMMDD', examples: [20270131] }),
  ...money('price', 'price paid', 10_000),
  paymentSource: StringEnum(PAYMENT_SOURCES, { description: 'how it was paid' }),
  ...timestamp('soldMs', 'when it was sold', EXAMPLE_MS),
  write: AuthorisedWriteSchema,
});
export type ParkPassSaleWire = Static<typeof ParkPassSaleSchema>;

/** Also registered as the named component `ParkPassSale` (app.ts). */
export const parkPassSaleSchema = { ...ParkPassSaleSchema, $id: 'ParkPassSale' };

const ParkPassBody = Type.Object(
  {
    challenge: Hex(4, "The card's GET CHALLENGE answer (4 bytes)", '9F3A12C4'),
    paymentSource: Type.Optional(StringEnum(PAYMENT_SOURCES, { description: 'default: cash at a counter; always app in the app' })),
    cardPassYears: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 9999 }), {
        minItems: 2,
        maxItems: 2,
        description: "Pass years in the card's [previous, current] slots as read from the card (0 = empty); the new pass goes to the older slot",
        examples: [[0, 2025]],
      }),
    ),
  },
  { additionalProperties: false },
);

const EXAMPLE_SALE: ParkPassSaleWire = {
  saleId: 3,
  cardNo: EXAMPLE_CARD_NO,
  passYear: 2026,
  validFrom: 20260101,
  validUntil: 20270131,
  ...yuanAndFen('price', 10_000),
  paymentSource: 'cash',
  soldMs: EXAMPLE_MS,
  soldAt: isoBeijing(EXAMPLE_MS),
  write: { kind: 'park-pass-previous', record: '07EA000000000000', mac: '0A1B2C3D' },
};

export async function parkPassesRoutes(app: GatewayApp): Promise<void> {
  const { store, keys, clock, policies } = app.gateway;

  app.post(
    '/v1/cards/:cardNo/park-passes',
    {
      config: { roles: ['counter', 'app'], operation: 'park-pass' },
      schema: {
        tags: ['park passes'],
        summary: 'Sell the park annual pass',
        description:
          'Sold from 15 December to 15 January (Beijing time) for 100 yuan (`409 outside-sale-window` otherwise), one per card and year (`409 park-pass-already-sold`) and one per holder and year ' +
          "(`409 park-pass-holder-has-pass` naming the holder's card that has it; a pass moved to a new card by an exchange counts), " +
          'only on third-generation cards. Answers the authorised record write for the card that gave the challenge. Idempotent by `Idempotency-Key`: the same key and body ' +
          'answer the first sale again (200), the same key with another body is `409 idempotency-key-reused`.',
        security: BEARER,
        params: CardNoParams,
        headers: IdempotencyHeaders,
        body: withExamples(ParkPassBody, {
          counter: { summary: 'At a counter, paid in cash', value: { challenge: '9F3A12C4', paymentSource: 'cash', cardPassYears: [0, 2025] } },
          app: { summary: 'In the app', value: { challenge: '9F3A12C4' } },
        }),
        response: {
          201: withExamples(ParkPassSaleSchema, { sold: { summary: 'A new sale', value: EXAMPLE_SALE } }, 'The sale and the card write'),
          200: withExamples(
            ParkPassSaleSchema,
            { replay: { summary: 'The first answer again (same Idempotency-Key)', value: EXAMPLE_SALE } },
            'The same sale again',
          ),
          ...problems(
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'own-account-issuing-bank-only',
            'invalid-hex',
            'card-not-found',
            'card-not-active',
            'generation-not-supported',
            'outside-sale-window',
            'park-pass-already-sold',
            'park-pass-holder-has-pass',
            'idempotency-key-reused',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const challenge = hexToBytes(request.body.challenge, 4, 'challenge');
      const paymentSource: PaymentSource = principal.role === 'app' ? 'app' : (request.body.paymentSource ?? 'cash');
      const nowMs = clock();
      const sale = await store.transaction(
        async (tx) => {
          // One pass per holder: the holder's other cards are locked too, so a concurrent sale for one of them waits.
          await lockCardAndHolderCards(tx, request.params.cardNo);
          const bank = await tx.get<{ issuing_bank: string }>('SELECT issuing_bank FROM cards WHERE card_no = ?', [request.params.cardNo]);
          if (bank !== undefined) {
            assertChannelFor(request, 'park-pass', { cardNo: request.params.cardNo, issuingBank: String(bank.issuing_bank) }, paymentSource);
          }
          return sellParkPass(
            tx,
            keys,
            {
              cardNo: request.params.cardNo,
              paymentSource,
              challenge,
              idempotencyKey: request.headers['idempotency-key'],
              priceFen: policies.parkPassPriceFen,
              cardPassYears: request.body.cardPassYears as [number, number] | undefined,
            },
            actorOf(principal),
            nowMs,
          );
        },
        { isolation: 'read-committed' },
      );
      const answer: ParkPassSaleWire = {
        saleId: sale.saleId,
        cardNo: sale.cardNo,
        passYear: sale.passYear,
        validFrom: sale.passYear * 10_000 + 101,
        validUntil: (sale.passYear + 1) * 10_000 + 131,
        ...yuanAndFen('price', sale.amountFen),
        paymentSource: sale.paymentSource,
        soldMs: sale.soldMs,
        soldAt: isoBeijing(sale.soldMs),
        write: { kind: sale.write.kind, record: sale.write.recordHex, mac: sale.write.macHex },
      };
      return reply.code(sale.created ? 201 : 200).send(answer);
    },
  );
}
