/**
 * POST /v1/loads, GET /v1/loads/{id}, POST /v1/loads/{id}/confirm, POST /v1/loads/{id}/void,
 * POST /v1/cards/{cardNo}/log-evidence. Business rules live in services/loads.ts.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LIMITS, type CipherAlgorithm } from '#core';
import { ApiError, errorEntry } from '../http/problem.ts';
import { bearerSecurity, cardNoParams, hexSchema, hexToBytes, idempotencyHeaders, withProblems, YUAN_REGEX, yuanSchema } from '../http/schemas.ts';
import { parseWireYuan, toWireYuan } from '../http/yuan-wire.ts';
import { requirePrincipal } from '../auth/scope.ts';
import type { Principal } from '../auth/principal.ts';
import { PAYMENT_SOURCES, type PaymentSource } from '../services/ledger.ts';
import {
  authorizeLoad,
  confirmLoad,
  getLoad,
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
import { loadSchema } from './money-schemas.ts';

export function moneyCaller(principal: Principal): MoneyCaller {
  const branch = principal.role === 'counter' ? (principal.branchId ?? principal.subject) : principal.role;
  return { role: principal.role, scope: `${principal.role}:${principal.subject}`, branch };
}

export function loadToWire(load: LoadView) {
  return { ...load, amount: toWireYuan(load.amountFen) };
}

function unwrap(outcome: LoadOutcome): LoadView {
  if (!outcome.ok) throw new ApiError(outcome.code, outcome.detail);
  return outcome.load;
}

const loadIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } },
  additionalProperties: false,
} as const;

interface LoadBody {
  cardNo: string;
  amount: string;
  paymentSource: PaymentSource;
  onlineAtc: number;
  cardRandom: string;
  balanceBeforeFen: number;
  mac1: string;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  terminalId: string;
}

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

export async function loadRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: LoadBody; Headers: { 'idempotency-key': string } }>(
    '/v1/loads',
    {
      config: { roles: ['counter', 'app'] },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['loads'],
        summary: 'Authorise a load (top-up): verify the card MAC1, take the payment, return MAC2',
        description:
          "Send the fields of the card's INITIALIZE FOR LOAD answer. Counter loads are whole multiples of 10 yuan; the balance after the load may not exceed 1,000 yuan. " +
          "The same Idempotency-Key with the same body answers the first answer; with a different body 409. The load stays pending until the card's TAC (confirm) or card evidence decides it.",
        security: bearerSecurity,
        headers: idempotencyHeaders,
        body: {
          type: 'object',
          required: ['cardNo', 'amount', 'paymentSource', 'onlineAtc', 'cardRandom', 'balanceBeforeFen', 'mac1', 'keyVersion', 'algorithm', 'terminalId'],
          additionalProperties: false,
          properties: {
            cardNo: cardNoParams.properties.cardNo,
            amount: yuanSchema('Amount to load, yuan'),
            paymentSource: { type: 'string', enum: [...PAYMENT_SOURCES] },
            onlineAtc: { type: 'integer', minimum: 0, maximum: 65535, description: 'INITIALIZE FOR LOAD: online ATC' },
            cardRandom: hexSchema(4, 'INITIALIZE FOR LOAD: card random'),
            balanceBeforeFen: {
              type: 'integer',
              minimum: -LIMITS.overdraftLimitFen * 50,
              maximum: LIMITS.balanceCapFen,
              description: 'INITIALIZE FOR LOAD: effective balance, fen (negative in overdraft)',
            },
            mac1: hexSchema(4, 'INITIALIZE FOR LOAD: MAC1'),
            keyVersion: { type: 'integer', minimum: 0, maximum: 255 },
            algorithm: { type: 'string', enum: ['3des', 'sm4'] },
            terminalId: hexSchema(6, 'Terminal id used in INITIALIZE FOR LOAD'),
          },
        },
        response: withProblems({ 201: loadSchema, 200: loadSchema }, [404, 409]),
      },
    },
    async (request, reply) => {
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
          const nowMs = clock();
          // Earlier loads of the card this INIT decided (for the metrics, once committed).
          let settled: PendingResolution | undefined;
          const outcome = await withIdempotency(tx, caller.scope, key, hash, nowMs, async () => {
            const result = await authorizeLoad(tx, keys, caller, parsed, nowMs);
            settled = result.ok ? result.settled : undefined;
            if (result.ok) return { statusCode: 201, body: { load: loadToWire(result.load) } as StoredAnswer };
            return { statusCode: errorEntry(result.code).status, body: { error: { code: result.code, detail: result.detail } } as StoredAnswer };
          });
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
        { retryable: true },
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
      return reply.code(outcome.statusCode).send(answer.load);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/loads/:id',
    {
      config: { roles: ['counter', 'app'] },
      schema: {
        tags: ['loads'],
        summary: 'A load and its state',
        security: bearerSecurity,
        params: loadIdParams,
        response: withProblems({ 200: loadSchema }, [404]),
      },
    },
    async (request) => {
      const { store } = app.gateway;
      const load = await store.transaction((tx) => getLoad(tx, request.params.id), { readOnly: true });
      return loadToWire(await loadInScope(request, load));
    },
  );

  app.post<{ Params: { id: string }; Body: { tac: string; newBalanceFen?: number } }>(
    '/v1/loads/:id/confirm',
    {
      config: { roles: ['counter', 'app'] },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['loads'],
        summary: "Confirm a load with the card's TAC from CREDIT FOR LOAD",
        description:
          'The TAC covers newBalance(4) || onlineATC(2) || amount(4) || 02 || terminalId(6) || date(4) || time(3). newBalanceFen defaults to balance before + amount.',
        security: bearerSecurity,
        params: loadIdParams,
        body: {
          type: 'object',
          required: ['tac'],
          additionalProperties: false,
          properties: {
            tac: hexSchema(4, 'TAC answered by CREDIT FOR LOAD'),
            newBalanceFen: { type: 'integer', minimum: -LIMITS.balanceCapFen, maximum: LIMITS.balanceCapFen },
          },
        },
        response: withProblems({ 200: loadSchema }, [404, 409]),
      },
    },
    async (request) => {
      const { store, keys, clock } = app.gateway;
      const tac = hexToBytes(request.body.tac, 4, 'tac');
      const { load, before } = await store.transaction(
        async (tx) => {
          const before = await loadInScope(request, await getLoad(tx, request.params.id));
          const nowMs = clock();
          const confirmed = unwrap(await confirmLoad(tx, keys, request.params.id, { tac, newBalanceFen: request.body.newBalanceFen }, nowMs));
          // Audited with the confirm itself (a refusal above rolls back and the onSend hook audits it).
          await auditInTransaction(tx, request, 200, nowMs);
          return { load: confirmed, before: before.status };
        },
        { retryable: true },
      );
      markAudited(request, 200);
      // Committed: a load that was not confirmed before is (tac, or void-reversed); a repeat counts nothing.
      if (before !== 'confirmed' && load.status === 'confirmed') app.gatewayMetrics.loadConfirmed(load.resolution ?? 'tac');
      return loadToWire(load);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/loads/:id/void',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['loads'],
        summary: 'A teller voids a pending load that never reached the card; the payment is returned',
        description:
          "The MAC2 already issued cannot be taken back: if the card is credited with it after all, its proof (the TAC on confirm, or card evidence past the load's online ATC) " +
          'reinstates the load (status confirmed, resolution void-reversed) and records a load-void-reversed anomaly: the payer must be re-charged.',
        security: bearerSecurity,
        params: loadIdParams,
        response: withProblems({ 200: loadSchema }, [404, 409]),
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const { store, clock } = app.gateway;
      const load = await store.transaction(async (tx) => {
        const current = await loadInScope(request, await getLoad(tx, request.params.id));
        if (principal.role === 'counter' && current.branch !== moneyCaller(principal).branch) {
          throw new ApiError('forbidden', 'a teller voids only loads of the own branch');
        }
        return unwrap(await voidLoad(tx, request.params.id, clock()));
      });
      // Committed (voidLoad only voids a pending load).
      app.gatewayMetrics.loadVoided('teller-void');
      return loadToWire(load);
    },
  );

  app.post<{ Params: { cardNo: string }; Body: { onlineAtc: number; log: Array<{ atc: number; amountFen: number; type: number }> } }>(
    '/v1/cards/:cardNo/log-evidence',
    {
      config: { roles: ['counter'] },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['loads'],
        summary: "Card evidence read at a counter (online ATC and transaction log) settles the card's pending loads",
        security: bearerSecurity,
        params: cardNoParams,
        body: {
          type: 'object',
          required: ['onlineAtc', 'log'],
          additionalProperties: false,
          properties: {
            onlineAtc: { type: 'integer', minimum: 0, maximum: 65535 },
            log: {
              type: 'array',
              maxItems: LIMITS.cardLogRecords,
              items: {
                type: 'object',
                required: ['atc', 'amountFen', 'type'],
                properties: {
                  atc: { type: 'integer', minimum: 0, maximum: 65535 },
                  amountFen: { type: 'integer', minimum: 0, maximum: LIMITS.balanceCapFen },
                  type: { type: 'integer', minimum: 0, maximum: 255 },
                },
              },
            },
          },
        },
        response: withProblems(
          {
            200: {
              type: 'object',
              required: ['confirmed', 'voided', 'reinstated'],
              properties: {
                confirmed: { type: 'array', items: { type: 'string' } },
                voided: { type: 'array', items: { type: 'string' } },
                reinstated: { type: 'array', items: { type: 'string' }, description: 'teller-voided loads the card shows credited (void-reversed)' },
              },
            },
          },
          [404],
        ),
      },
    },
    async (request) => {
      const { store, clock } = app.gateway;
      const loads = request.body.log.filter((entry) => entry.type === 0x02).map((entry) => ({ atc: entry.atc, amountFen: entry.amountFen }));
      const settled = await store.transaction(async (tx) => {
        const card = await tx.get('SELECT card_no FROM cards WHERE card_no = ?', [request.params.cardNo]);
        if (card === undefined) throw new ApiError('card-not-found', 'no such card');
        return resolvePendingLoads(tx, request.params.cardNo, { kind: 'card-log', onlineAtc: request.body.onlineAtc, loads }, clock());
      });
      app.gatewayMetrics.loadsSettled(settled, 'card-log');
      return settled;
    },
  );
}

interface StoredAnswer {
  load?: ReturnType<typeof loadToWire>;
  error?: { code: string; detail: string };
}
