/**
 * POST /v1/loads, GET /v1/loads/{id}, POST /v1/loads/{id}/confirm, POST /v1/loads/{id}/void,
 * POST /v1/cards/{cardNo}/log-evidence. Business rules live in services/loads.ts.
 */
import type { FastifyRequest } from 'fastify';
import { LIMITS } from '#core';
import { ApiError, errorEntry } from '../http/problem.ts';
import { hexToBytes, YUAN_REGEX } from '../http/schemas.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  CardNoParams,
  type GatewayApp,
  Hex,
  IdempotencyHeaders,
  IdParams,
  problems,
  type Static,
  StringEnum,
  Type,
  WITH_BODY,
  isoBeijing,
  withExamples,
  Yuan,
} from '../http/wire.ts';
import { parseWireYuan, toWireYuan } from '../http/yuan-wire.ts';
import { assertChannelFor } from '../auth/channel.ts';
import { requirePrincipal } from '../auth/scope.ts';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import type { Principal } from '../auth/principal.ts';
import { PAYMENT_SOURCES } from '../services/ledger.ts';
import {
  authorizeLoad,
  confirmLoad,
  getLoad,
  lockLoadCard,
  readLoadState,
  requestHash,
  resolvePendingLoads,
  voidLoad,
  withIdempotency,
  type LoadOutcome,
  type LoadView,
  type MoneyCaller,
  type PendingResolution,
} from '../services/loads.ts';
import { auditInTransaction, markAudited } from '../services/audit.ts';
// Registers the money routes' problem codes in the error table (a side-effect import).
import './money-problems.ts';
import { EXAMPLE_CARD_NO } from './card-schemas.ts';
import { EXAMPLE_CONFIRMED_LOAD, EXAMPLE_LOAD, LoadSchema, type LoadWire, loadToWire } from './money-schemas.ts';
import { refuseOtherIssuerCard } from '../services/issuers.ts';

export { loadToWire };

export function moneyCaller(principal: Principal): MoneyCaller {
  const branch = principal.role === 'counter' ? (principal.branchId ?? principal.subject) : principal.role;
  return { role: principal.role, scope: `${principal.role}:${principal.subject}`, branch };
}

function unwrap(outcome: LoadOutcome): LoadView {
  if (!outcome.ok) throw new ApiError(outcome.code, outcome.detail);
  return outcome.load;
}

const LoadIdParams = IdParams('load id');

export const LoadBody = Type.Object(
  {
    cardNo: CardNo(),
    amount: Yuan('Amount to load, yuan: 10..1,000; counters load whole multiples of 10', '50.00'),
    paymentSource: StringEnum(PAYMENT_SOURCES, { description: 'a counter: bank-account, cash or other-bank-card; the app: app' }),
    onlineAtc: Type.Integer({ minimum: 0, maximum: 65535, description: 'INITIALIZE FOR LOAD: online ATC', examples: [1] }),
    cardRandom: Hex(4, 'INITIALIZE FOR LOAD: card random', '1F2E3D4C'),
    balanceBeforeFen: Type.Integer({
      minimum: -LIMITS.overdraftLimitFen * 50,
      maximum: LIMITS.balanceCapFen,
      description: 'INITIALIZE FOR LOAD: effective balance, fen (negative in overdraft)',
      examples: [4600],
    }),
    mac1: Hex(4, 'INITIALIZE FOR LOAD: MAC1', 'A1B2C3D4'),
    keyVersion: Type.Integer({ minimum: 0, maximum: 255, description: 'INITIALIZE FOR LOAD: key version', examples: [1] }),
    algorithm: StringEnum(['3des', 'sm4'], { description: 'INITIALIZE FOR LOAD: algorithm' }),
    terminalId: Hex(6, 'Terminal id used in INITIALIZE FOR LOAD', '000000000001'),
  },
  { additionalProperties: false },
);
type LoadBody = Static<typeof LoadBody>;

const ConfirmBody = Type.Object(
  {
    tac: Hex(4, 'TAC answered by CREDIT FOR LOAD', '7E8F9A0B'),
    newBalanceFen: Type.Optional(
      Type.Integer({
        minimum: -LIMITS.balanceCapFen,
        maximum: LIMITS.balanceCapFen,
        description: 'balance after the credit, fen; default balance before + amount',
        examples: [9600],
      }),
    ),
  },
  { additionalProperties: false },
);

const LogEvidenceBody = Type.Object(
  {
    onlineAtc: Type.Integer({ minimum: 0, maximum: 65535, description: "the card's online ATC now", examples: [2] }),
    log: Type.Array(
      Type.Object({
        atc: Type.Integer({ minimum: 0, maximum: 65535, description: "the record's ATC" }),
        amountFen: Type.Integer({ minimum: 0, maximum: LIMITS.balanceCapFen, description: "the record's amount, fen" }),
        type: Type.Integer({ minimum: 0, maximum: 255, description: 'transaction type: 2 = load (other records are ignored)' }),
      }),
      { maxItems: LIMITS.cardLogRecords, description: "the card's transaction log (READ RECORD)" },
    ),
  },
  { additionalProperties: false },
);

const Settled = Type.Object({
  confirmed: Type.Array(Type.String(), { description: 'load ids the card shows credited: confirmed' }),
  voided: Type.Array(Type.String(), { description: 'load ids the card shows never credited: voided, the payment returned' }),
  reinstated: Type.Array(Type.String(), { description: 'teller-voided loads the card shows credited (void-reversed): re-charge the payer' }),
});

const LOAD_BODY_EXAMPLE: LoadBody = {
  cardNo: EXAMPLE_CARD_NO,
  amount: '50.00',
  paymentSource: 'cash',
  onlineAtc: 1,
  cardRandom: '1F2E3D4C',
  balanceBeforeFen: 4600,
  mac1: 'A1B2C3D4',
  keyVersion: 1,
  algorithm: 'sm4',
  terminalId: '000000000001',
};

/** Loads of an app session are its own card's, paid in the app; counters take the other sources. */
function checkCallerRules(principal: Principal, body: LoadBody): void {
  if (principal.role === 'app') {
    // Another card is one this session may not know exists: the answer for a card that does not (services/loads.ts).
    if (principal.subject !== body.cardNo) throw new ApiError('card-not-found', 'no such card');
    if (body.paymentSource !== 'app') throw new ApiError('payment-source-not-allowed', 'the app pays with paymentSource "app"');
  } else if (principal.role === 'counter' && body.paymentSource === 'app') {
    throw new ApiError('payment-source-not-allowed', 'a counter takes bank-account, cash or other-bank-card');
  }
}

/**
 * The load amount on the wire, capped at the load cap itself (LIMITS are fen: 1,000 yuan).
 * Bad grammar is 400 invalid-amount; a well-formed amount outside 10..1,000 yuan, however
 * large, is 400 load-amount-out-of-range (the service's code), refused before the
 * Idempotency-Key is claimed, so nothing is recorded.
 */
function parseLoadAmount(amount: unknown): number {
  const outOfRange = () =>
    new ApiError('load-amount-out-of-range', `amount: a load is between ${toWireYuan(LIMITS.minLoadFen)} and ${toWireYuan(LIMITS.maxLoadFen)} yuan`);
  let amountFen: number;
  try {
    amountFen = parseWireYuan(amount, 'amount', LIMITS.maxLoadFen);
  } catch (error) {
    // The grammar holds, so the parse refused it for the cap alone.
    if (error instanceof ApiError && typeof amount === 'string' && YUAN_REGEX.test(amount)) throw outOfRange();
    throw error;
  }
  if (amountFen < LIMITS.minLoadFen) throw outOfRange();
  return amountFen;
}

async function loadInScope(request: FastifyRequest, load: LoadView | undefined): Promise<LoadView> {
  const principal = requirePrincipal(request);
  if (load === undefined) throw new ApiError('load-not-found', 'no such load');
  if (principal.role === 'app' && load.cardNo !== principal.subject) throw new ApiError('load-not-found', 'no such load');
  return load;
}

export async function loadRoutes(app: GatewayApp): Promise<void> {
  app.post(
    '/v1/loads',
    {
      config: { roles: ['counter', 'app'], operation: 'top-up' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['loads'],
        summary: 'Authorise a load (top-up): verify the card MAC1, take the payment, return MAC2',
        description:
          "Send the fields of the card's INITIALIZE FOR LOAD answer. A load is 10..1,000 yuan (`400 load-amount-out-of-range`); counter loads are whole multiples of 10 yuan " +
          '(`400 counter-load-step`); the balance after the load may not exceed 1,000 yuan (`409 balance-cap-exceeded`). ' +
          'The same Idempotency-Key with the same body answers the first answer again (header `idempotent-replayed: true`); with a different body `409 idempotency-key-reused`. ' +
          "The load stays pending until the card's TAC (confirm) or card evidence decides it. An app session loads only its own card, paid with `app`.",
        security: BEARER,
        headers: IdempotencyHeaders,
        body: withExamples(LoadBody, {
          counter: { summary: 'A counter takes 50 yuan in cash', value: LOAD_BODY_EXAMPLE },
          app: { summary: 'The app loads 30 yuan', value: { ...LOAD_BODY_EXAMPLE, amount: '30', paymentSource: 'app' } },
        }),
        response: {
          201: withExamples(LoadSchema, { pending: { summary: 'Authorised: send MAC2 to the card', value: EXAMPLE_LOAD } }, 'The authorised load (pending)'),
          200: withExamples(
            LoadSchema,
            { replay: { summary: 'The first answer again', value: EXAMPLE_LOAD } },
            'The first answer again (same Idempotency-Key and body)',
          ),
          ...problems(
            'card-of-other-issuer',
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'own-account-issuing-bank-only',
            'invalid-amount',
            'invalid-hex',
            'load-amount-out-of-range',
            'counter-load-step',
            'mac1-invalid',
            'payment-source-not-allowed',
            'idempotency-key-required',
            'card-not-found',
            'card-not-active',
            'balance-cap-exceeded',
            'load-init-replayed',
            'load-init-stale',
            'idempotency-key-reused',
          ),
        },
      },
    },
    async (request, reply) => {
      // Another T-Union city's card: its top-up belongs to its issuer (issue 18).
      refuseOtherIssuerCard(app.gateway.policies, request.body.cardNo, 'top-up');
      const principal = requirePrincipal(request);
      const body = request.body;
      checkCallerRules(principal, body);
      const amountFen = parseLoadAmount(body.amount);
      const key = request.headers['idempotency-key'];
      if (typeof key !== 'string' || key.length === 0) throw new ApiError('idempotency-key-required');
      const caller = moneyCaller(principal);
      const parsed = {
        cardNo: body.cardNo,
        amountFen,
        paymentSource: body.paymentSource,
        onlineAtc: body.onlineAtc,
        cardRandom: hexToBytes(body.cardRandom, 4, 'cardRandom'),
        balanceBeforeFen: body.balanceBeforeFen,
        mac1: hexToBytes(body.mac1, 4, 'mac1'),
        keyVersion: body.keyVersion,
        algorithm: body.algorithm,
        terminalId: hexToBytes(body.terminalId, 6, 'terminalId'),
      };
      const hash = requestHash({
        route: 'POST /v1/loads',
        ...body,
        amount: amountFen,
        cardRandom: body.cardRandom.toUpperCase(),
        mac1: body.mac1.toUpperCase(),
        terminalId: body.terminalId.toUpperCase(),
      });
      const { store, keys, clock } = app.gateway;
      const { outcome, auditedStatus, settled } = await store.transaction(
        async (tx) => {
          // The card first (docs/postgres.md): on PostgreSQL every load of one card, from any
          // instance, runs after the previous one committed, and sees it.
          await tx.lockCards([parsed.cardNo]);
          const nowMs = clock();
          // q45: the card's own account pays only at its issuing bank (a card that does not exist is the service's 404).
          // Sent with the key's claim and the card's reads (one round trip), checked before anything is decided.
          const banking = tx.get<{ issuing_bank: string }>('SELECT issuing_bank FROM cards WHERE card_no = ?', [body.cardNo]);
          banking.catch(() => undefined);
          // Earlier loads of the card this INIT decided (for the metrics, once committed).
          let settled: PendingResolution | undefined;
          const outcome = await withIdempotency(
            tx,
            caller.scope,
            key,
            hash,
            nowMs,
            async (reads) => {
              const result = await authorizeLoad(tx, keys, caller, parsed, nowMs, reads);
              settled = result.ok ? result.settled : undefined;
              if (result.ok) return { statusCode: 201, body: { load: loadToWire(result.load) } as StoredAnswer };
              return { statusCode: errorEntry(result.code).status, body: { error: { code: result.code, detail: result.detail } } as StoredAnswer };
            },
            // The card's state is read in the same round trip as the key's claim.
            () => readLoadState(tx, parsed),
            async () => {
              const bank = await banking;
              if (bank !== undefined) assertChannelFor(request, 'top-up', { cardNo: body.cardNo, issuingBank: String(bank.issuing_bank) }, body.paymentSource);
            },
          );
          // The audit entry commits with the load (one durable commit, not two); the status is the
          // one this handler answers below.
          const auditedStatus =
            outcome.kind === 'conflict'
              ? errorEntry('idempotency-key-reused').status
              : outcome.body.error
                ? errorEntry(outcome.body.error.code).status
                : outcome.statusCode;
          await auditInTransaction(tx, request, auditedStatus, nowMs);
          return { outcome, auditedStatus, settled };
          // Re-runnable: the body reads the clock and the database, verifies MACs; nothing outside.
        },
        { retryable: true, isolation: 'read-committed' },
      );
      markAudited(request, auditedStatus);
      // Committed: count a fresh authorisation (a replay or a refusal counts nothing).
      if (outcome.kind === 'fresh' && outcome.body.load !== undefined) {
        app.gatewayMetrics.loadAuthorised(body.paymentSource);
        app.gatewayMetrics.loadsSettled(settled, 'next-load');
      }
      if (outcome.kind === 'conflict') throw new ApiError('idempotency-key-reused', 'this Idempotency-Key was used with a different request');
      if (outcome.kind === 'replay') reply.header('idempotent-replayed', 'true');
      const answer = outcome.body;
      if (answer.error) throw new ApiError(answer.error.code, answer.error.detail);
      // Re-derived from the stored load: an answer stored before a field was added gains it too.
      return reply.code(outcome.statusCode as 200 | 201).send(loadToWire(answer.load as unknown as LoadView));
    },
  );

  app.get(
    '/v1/loads/:id',
    {
      config: { roles: ['counter', 'app'], operation: 'top-up' },
      schema: {
        tags: ['loads'],
        summary: 'A load and its state',
        description:
          "A load with its state (`pending`, `confirmed`, `voided`) and what decided it. An app session sees only its own card's loads: another card's load is `404 load-not-found`, as for a load that does not exist.",
        security: BEARER,
        params: LoadIdParams,
        response: {
          200: withExamples(
            LoadSchema,
            { pending: { summary: 'A pending load', value: EXAMPLE_LOAD }, confirmed: { summary: 'Confirmed by its TAC', value: EXAMPLE_CONFIRMED_LOAD } },
            'The load',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, 'load-not-found'),
        },
      },
    },
    async (request) => {
      const { store } = app.gateway;
      const load = await store.transaction((tx) => getLoad(tx, request.params.id), { readOnly: true });
      return loadToWire(await loadInScope(request, load));
    },
  );

  app.post(
    '/v1/loads/:id/confirm',
    {
      config: { roles: ['counter', 'app'], operation: 'top-up' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['loads'],
        summary: "Confirm a load with the card's TAC from CREDIT FOR LOAD",
        description:
          'The TAC covers newBalance(4) || onlineATC(2) || amount(4) || 02 || terminalId(6) || date(4) || time(3); a TAC that does not verify is `400 tac-invalid`. ' +
          'newBalanceFen defaults to balance before + amount. Confirming a confirmed load answers it again; a teller-voided load the card proves credited is reinstated (resolution `void-reversed`).',
        security: BEARER,
        params: LoadIdParams,
        body: withExamples(ConfirmBody, { tac: { summary: 'The TAC from CREDIT FOR LOAD', value: { tac: '7E8F9A0B' } } }),
        response: {
          200: withExamples(LoadSchema, { confirmed: { summary: 'Confirmed', value: EXAMPLE_CONFIRMED_LOAD } }, 'The confirmed load'),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'invalid-hex', 'tac-invalid', 'load-not-found', 'load-not-pending'),
        },
      },
    },
    async (request) => {
      const { store, keys, clock } = app.gateway;
      const tac = hexToBytes(request.body.tac, 4, 'tac');
      const { load, before } = await store.transaction(
        async (tx) => {
          // A load's card never changes: lock it, then read the load as the lock holder left it.
          await lockLoadCard(tx, request.params.id);
          const before = await loadInScope(request, await getLoad(tx, request.params.id));
          const nowMs = clock();
          const confirmed = unwrap(await confirmLoad(tx, keys, request.params.id, { tac, newBalanceFen: request.body.newBalanceFen }, nowMs));
          // Audited with the confirm itself (a refusal above rolls back and the onSend hook audits it).
          await auditInTransaction(tx, request, 200, nowMs);
          return { load: confirmed, before: before.status };
        },
        { retryable: true, isolation: 'read-committed' },
      );
      markAudited(request, 200);
      // Committed: a load that was not confirmed before is (tac, or void-reversed); a repeat counts nothing.
      if (before !== 'confirmed' && load.status === 'confirmed') app.gatewayMetrics.loadConfirmed(load.resolution ?? 'tac');
      return loadToWire(load);
    },
  );

  app.post(
    '/v1/loads/:id/void',
    {
      config: { roles: ['counter'], operation: 'top-up' },
      schema: {
        tags: ['loads'],
        summary: 'A teller voids a pending load that never reached the card; the payment is returned',
        description:
          "Only a pending load of the teller's own branch (another branch's: `403 forbidden`; not pending: `409 load-not-pending`). " +
          "The MAC2 already issued cannot be taken back: if the card is credited with it after all, its proof (the TAC on confirm, or card evidence past the load's online ATC) " +
          'reinstates the load (status confirmed, resolution void-reversed) and records a load-void-reversed anomaly: the payer must be re-charged.',
        security: BEARER,
        params: LoadIdParams,
        response: {
          200: withExamples(
            LoadSchema,
            {
              voided: {
                summary: 'Voided by the teller',
                value: {
                  ...EXAMPLE_LOAD,
                  status: 'voided',
                  resolution: 'teller-void',
                  resolvedMs: EXAMPLE_LOAD.createdMs + 600_000,
                  resolvedAt: isoBeijing(EXAMPLE_LOAD.createdMs + 600_000),
                },
              },
            },
            'The voided load',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, 'load-not-found', 'load-not-pending'),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const { store, clock } = app.gateway;
      const load = await store.transaction(
        async (tx) => {
          await lockLoadCard(tx, request.params.id);
          const current = await loadInScope(request, await getLoad(tx, request.params.id));
          if (principal.role === 'counter' && current.branch !== moneyCaller(principal).branch) {
            throw new ApiError('forbidden', 'a teller voids only loads of the own branch');
          }
          return unwrap(await voidLoad(tx, request.params.id, clock()));
        },
        { isolation: 'read-committed' },
      );
      // Committed (voidLoad only voids a pending load).
      app.gatewayMetrics.loadVoided('teller-void');
      return loadToWire(load);
    },
  );

  app.post(
    '/v1/cards/:cardNo/log-evidence',
    {
      config: { roles: ['counter'], operation: 'top-up' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['loads'],
        summary: "Card evidence read at a counter settles the card's pending loads",
        description:
          "The card's online ATC and its transaction log (READ RECORD), read at a counter, decide each pending load of the card: credited → confirmed, " +
          'provably not credited → voided and the payment returned; a teller-voided load the card shows credited is reinstated.',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(LogEvidenceBody, {
          read: { summary: 'Online ATC 2, one load in the log', value: { onlineAtc: 2, log: [{ atc: 1, amountFen: 5000, type: 2 }] } },
        }),
        response: {
          200: withExamples(
            Settled,
            { settled: { summary: 'Load 12 confirmed', value: { confirmed: ['12'], voided: [], reinstated: [] } } },
            'The loads it decided',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'card-not-found'),
        },
      },
    },
    async (request) => {
      const { store, clock } = app.gateway;
      const loads = request.body.log.filter((entry) => entry.type === 0x02).map((entry) => ({ atc: entry.atc, amountFen: entry.amountFen }));
      const settled = await store.transaction(
        async (tx) => {
          await tx.lockCards([request.params.cardNo]);
          const card = await tx.get('SELECT card_no FROM cards WHERE card_no = ?', [request.params.cardNo]);
          if (card === undefined) throw new ApiError('card-not-found', 'no such card');
          return resolvePendingLoads(tx, request.params.cardNo, { kind: 'card-log', onlineAtc: request.body.onlineAtc, loads }, clock());
        },
        { isolation: 'read-committed' },
      );
      app.gatewayMetrics.loadsSettled(settled, 'card-log');
      return settled;
    },
  );
}

interface StoredAnswer {
  load?: LoadWire;
  error?: { code: string; detail: string };
}
