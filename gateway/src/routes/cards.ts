/**
 * Cards: issuance (personalisation), status and the back office's balance, transactions,
 * function opening, replacement after a formal loss, cancellation and the counter unblock.
 */
import type { FastifyInstance } from 'fastify';
import { LIMITS, type CipherAlgorithm, type CardGeneration, type HolderProfile } from '#core';
import { hashPassword, initialServicePassword } from '../auth/passwords.ts';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, cardNoParams, hexSchema, hexToBytes, queryInt, queryIntSchema, withProblems, yuanSchema } from '../http/schemas.ts';
import { parseWireYuan, toWireYuan } from '../http/yuan-wire.ts';
import type { Tx } from '../store/store-port.ts';
import { blacklistListing } from '../services/blacklist.ts';
import {
  authoriseUnblock,
  cancelCard,
  findCardAccount,
  highestOfflineAtcSeen,
  issueCard,
  openFunctions,
  replaceCard,
  requireCard,
  type CardRow,
} from '../services/cards.ts';
import { decodeHistoryCursor, encodeHistoryCursor, listCardTransactions } from '../services/card-history.ts';
import { requireIssuableCardNo, requireUnexpired } from '../services/card-rules.ts';
import { currentLossReport } from '../services/loss-reports.ts';
import { authorisedWriteSchema, cardSchema } from './card-schemas.ts';

const SSN_PATTERN = '^[0-9]{17}[0-9X]$';

/** Card as the API shows it: the row, its account, blacklist listing and open loss report. */
export async function presentCard(tx: Tx, card: CardRow) {
  const account = await findCardAccount(tx, card.cardNo);
  const lastOfflineAtc = await highestOfflineAtcSeen(tx, card.cardNo);
  const listing = await blacklistListing(tx, card.cardNo);
  const report = await currentLossReport(tx, card.cardNo);
  const balanceFen = account?.shadowBalanceFen ?? 0;
  return {
    cardNo: card.cardNo,
    issuerCode: card.issuerCode,
    generation: card.generation,
    profile: card.profile,
    algorithm: card.algorithm,
    keyVersion: card.keyVersion,
    expiryDate: card.expiryDate,
    overdraftLimit: toWireYuan(card.overdraftLimitFen),
    transitOpened: card.transitOpened,
    suburbanOpened: card.suburbanOpened,
    holderName: card.holderName,
    status: card.status,
    replaces: card.replaces,
    replacedBy: card.replacedBy,
    issuedMs: card.issuedMs,
    balance: toWireYuan(balanceFen),
    balanceFen,
    lastOfflineAtc,
    lastOnlineAtc: account?.lastOnlineAtc ?? -1,
    blacklist: listing ? { reason: listing.reason, version: listing.version, sinceMs: listing.sinceMs } : null,
    lossReport: report,
  };
}

/** Default card expiry: ten years after issuance, YYYYMMDD (Beijing date). */
function defaultExpiryDate(nowMs: number): number {
  const d = new Date(nowMs + 8 * 3_600_000);
  return (d.getUTCFullYear() + 10) * 10_000 + (d.getUTCMonth() + 1) * 100 + Math.min(d.getUTCDate(), 28);
}

const issueBody = {
  type: 'object',
  required: ['holderName', 'socialSecurityNo', 'profile'],
  additionalProperties: false,
  properties: {
    cardNo: { type: 'string', pattern: '^[0-9]{16}$', description: 'Optional explicit card number; generated when absent' },
    holderName: { type: 'string', minLength: 1, maxLength: 64 },
    socialSecurityNo: {
      type: 'string',
      pattern: SSN_PATTERN,
      description: 'Used once to derive the initial service password (its last 6 characters); never stored or returned',
    },
    profile: { type: 'string', enum: ['adult', 'student', 'senior'] },
    generation: { type: 'integer', enum: [1, 2, 3], default: 3 },
    algorithm: { type: 'string', enum: ['3des', 'sm4'], default: 'sm4' },
    expiryDate: { type: 'integer', minimum: 20000101, maximum: 29991231, description: 'YYYYMMDD; default ten years' },
    overdraftLimit: yuanSchema('Overdraft limit, yuan (default 20.00)'),
    transitOpened: { type: 'boolean', default: true },
    suburbanOpened: { type: 'boolean', default: false },
  },
} as const;

interface IssueBody {
  cardNo?: string;
  holderName: string;
  socialSecurityNo: string;
  profile: HolderProfile;
  generation?: CardGeneration;
  algorithm?: CipherAlgorithm;
  expiryDate?: number;
  overdraftLimit?: string;
  transitOpened?: boolean;
  suburbanOpened?: boolean;
}

const challengeBody = (extra: Record<string, unknown> = {}, required: string[] = []) =>
  ({
    type: 'object',
    required: ['challenge', ...required],
    additionalProperties: false,
    properties: { challenge: hexSchema(4, "The card's GET CHALLENGE answer (4 bytes)"), ...extra },
  }) as const;

export async function cardsRoutes(app: FastifyInstance): Promise<void> {
  const { store, keys, clock, policies } = app.gateway;

  app.post<{ Body: IssueBody }>(
    '/v1/cards',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['cards'],
        summary: 'Issue (personalise) a card; returns the card image for the simulator',
        security: bearerSecurity,
        body: issueBody,
        response: withProblems(
          {
            201: {
              type: 'object',
              required: ['card', 'cardImage'],
              properties: {
                card: cardSchema,
                cardImage: { type: 'string', description: 'encodeCardImage bytes, hex: load into the card simulator' },
              },
            },
          },
          [409],
        ),
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const body = request.body;
      if (body.cardNo !== undefined) requireIssuableCardNo(body.cardNo, policies);
      if (body.expiryDate !== undefined) requireUnexpired(body.expiryDate, 'expiryDate', clock());
      const overdraftLimitFen = body.overdraftLimit === undefined ? LIMITS.overdraftLimitFen : parseWireYuan(body.overdraftLimit, 'overdraftLimit', 100_000);
      // The slow KDF runs before the transaction so it never holds the store's write lock.
      const passwordHash = await hashPassword(initialServicePassword(body.socialSecurityNo), policies.passwordKdf);
      const nowMs = clock();
      const generation = body.generation ?? 3;
      const result = await store.transaction(async (tx) => {
        const issued = await issueCard(
          tx,
          keys,
          {
            cardNo: body.cardNo,
            holderName: body.holderName,
            profile: body.profile,
            generation,
            algorithm: body.algorithm ?? 'sm4',
            expiryDate: body.expiryDate ?? defaultExpiryDate(nowMs),
            overdraftLimitFen,
            transitOpened: generation === 3 ? (body.transitOpened ?? true) : (body.transitOpened ?? false),
            suburbanOpened: body.suburbanOpened ?? false,
            initialPasswordHash: passwordHash,
          },
          { subject: actorOf(principal), branchId: principal.branchId },
          nowMs,
          policies.issuerCode,
          policies.cardNoPrefix,
        );
        return { card: await presentCard(tx, issued.card), cardImage: issued.imageHex };
      });
      reply.code(201);
      return result;
    },
  );

  app.get<{ Params: { cardNo: string } }>(
    '/v1/cards/:cardNo',
    {
      config: { roles: ['counter', 'app'] },
      schema: {
        tags: ['cards'],
        summary: "Card status and the back office's (shadow) balance",
        security: bearerSecurity,
        params: cardNoParams,
        response: withProblems({ 200: cardSchema }, [404]),
      },
    },
    async (request) => {
      const nowMs = clock();
      return store.transaction(async (tx) => presentCard(tx, await requireCard(tx, request.params.cardNo, nowMs)));
    },
  );

  app.get<{ Params: { cardNo: string }; Querystring: { limit?: string; before?: string; cursor?: string } }>(
    '/v1/cards/:cardNo/transactions',
    {
      config: { roles: ['counter', 'app'] },
      schema: {
        tags: ['cards'],
        summary: "The card's history as the back office knows it (uploaded taps with their results, and loads), newest first",
        description:
          "Newest first, by time and then a unique record id, in keyset pages: while `more` is true, ask again with `cursor` = the answer's `nextCursor`; " +
          'no record is skipped or repeated, even when many share a millisecond. `before` only sets where the first page starts (records strictly before that epoch ms).',
        security: bearerSecurity,
        params: cardNoParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: queryIntSchema('at most 500, default 100'),
            before: queryIntSchema('only transactions that happened before this epoch ms (where the first page starts)'),
            cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,400}$', description: "the previous answer's nextCursor: the next page" },
          },
        },
        response: withProblems(
          {
            200: {
              type: 'object',
              required: ['cardNo', 'transactions', 'more', 'nextCursor'],
              properties: {
                cardNo: { type: 'string' },
                more: { type: 'boolean', description: 'more records follow this page' },
                nextCursor: { type: ['string', 'null'], description: 'pass as cursor for the next page; null on the last page' },
                transactions: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['id', 'kind', 'result', 'resultCode', 'resultName', 'atMs', 'amount', 'amountFen'],
                    properties: {
                      id: { type: 'string', description: 'unique and stable: tap:<deviceId>:<deviceSeq> or load:<id>' },
                      kind: {
                        type: 'string',
                        enum: ['purchase', 'refused-tap', 'load'],
                        description: 'purchase: the card was debited (amount may be 0); refused-tap: a tap that debited nothing; load: a top-up',
                      },
                      result: {
                        type: 'string',
                        enum: ['accepted', 'refused', 'written-off', 'quarantined', 'pending', 'voided'],
                        description:
                          'purchase: accepted, written-off (the refund was already paid) or quarantined (TAC does not verify); refused-tap: refused; load: accepted, pending or voided',
                      },
                      resultCode: { type: ['integer', 'null'], description: "the validator's tap result code (null for loads)" },
                      resultName: { type: ['string', 'null'], description: 'its name, e.g. ACCEPTED, ALREADY_ENTERED, BLACKLISTED' },
                      atMs: { type: 'integer' },
                      amount: { type: 'string' },
                      amountFen: { type: 'integer' },
                      status: { type: 'string' },
                      atc: { type: 'integer' },
                      balanceAfter: { type: ['string', 'null'] },
                      operator: { type: ['string', 'null'] },
                      deviceId: { type: ['string', 'null'] },
                      recoveredAtMs: {
                        type: ['integer', 'null'],
                        description: 'a torn debit recovered at a later tap: when it was recovered (atMs is the original transaction); else null',
                      },
                    },
                  },
                },
              },
            },
          },
          [404],
        ),
      },
    },
    async (request) => {
      const limit = queryInt(request.query.limit, 100, 'limit', 500, 1);
      const before = queryInt(request.query.before, Number.MAX_SAFE_INTEGER, 'before');
      const after = request.query.cursor === undefined ? null : decodeHistoryCursor(request.query.cursor);
      const nowMs = clock();
      return store.transaction(async (tx) => {
        await requireCard(tx, request.params.cardNo, nowMs);
        const page = await listCardTransactions(tx, request.params.cardNo, { beforeMs: before, after, limit });
        return {
          cardNo: request.params.cardNo,
          transactions: page.transactions.map((t) => ({
            ...t,
            amount: toWireYuan(t.amountFen),
            balanceAfter: t.balanceAfterFen === null ? null : toWireYuan(t.balanceAfterFen),
          })),
          more: page.next !== null,
          nextCursor: page.next === null ? null : encodeHistoryCursor(page.next),
        };
      });
    },
  );

  app.post<{ Params: { cardNo: string }; Body: { challenge: string; transit?: boolean; suburban?: boolean } }>(
    '/v1/cards/:cardNo/functions',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['cards'],
        summary: 'Open the transit and/or suburban-rail functions (seed q. 15, 44); returns the authorised card write',
        security: bearerSecurity,
        params: cardNoParams,
        body: challengeBody({ transit: { type: 'boolean' }, suburban: { type: 'boolean' } }),
        response: withProblems(
          { 200: { type: 'object', required: ['card', 'write'], properties: { card: cardSchema, write: authorisedWriteSchema } } },
          [404, 409],
        ),
      },
    },
    async (request) => {
      const challenge = hexToBytes(request.body.challenge, 4, 'challenge');
      if (!request.body.transit && !request.body.suburban) throw new ApiError('invalid-request', 'open transit, suburban or both');
      const nowMs = clock();
      return store.transaction(async (tx) => {
        const { card, write } = await openFunctions(
          tx,
          keys,
          request.params.cardNo,
          { transit: request.body.transit === true, suburban: request.body.suburban === true, challenge },
          nowMs,
        );
        return { card: await presentCard(tx, card), write: { kind: write.kind, record: write.recordHex, mac: write.macHex } };
      });
    },
  );

  app.post<{ Params: { cardNo: string }; Body: { algorithm?: CipherAlgorithm; expiryDate?: number } }>(
    '/v1/cards/:cardNo/replacement',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['cards'],
        summary: 'Replacement after a formal loss: a new card for the holder; the old card is blacklisted "replaced" forever',
        security: bearerSecurity,
        params: cardNoParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            algorithm: { type: 'string', enum: ['3des', 'sm4'] },
            expiryDate: { type: 'integer', minimum: 20000101, maximum: 29991231 },
          },
        },
        response: withProblems(
          {
            201: {
              type: 'object',
              required: ['oldCard', 'card', 'cardImage'],
              properties: { oldCard: cardSchema, card: cardSchema, cardImage: { type: 'string' } },
            },
          },
          [404, 409],
        ),
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const nowMs = clock();
      if (request.body?.expiryDate !== undefined) requireUnexpired(request.body.expiryDate, 'expiryDate', nowMs);
      const result = await store.transaction(async (tx) => {
        const { oldCard, issued } = await replaceCard(
          tx,
          keys,
          request.params.cardNo,
          {
            algorithm: request.body?.algorithm,
            expiryDate: request.body?.expiryDate ?? defaultExpiryDate(nowMs),
            cardNoPrefix: policies.cardNoPrefix,
            issuerCode: policies.issuerCode,
          },
          { subject: actorOf(principal), branchId: principal.branchId },
          nowMs,
        );
        return { oldCard: await presentCard(tx, oldCard), card: await presentCard(tx, issued.card), cardImage: issued.imageHex };
      });
      reply.code(201);
      return result;
    },
  );

  app.post<{ Params: { cardNo: string } }>(
    '/v1/cards/:cardNo/cancellation',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['cards'],
        summary: 'Cancel the card (seed q. 33-35): blacklisted "cancelled" for good',
        security: bearerSecurity,
        params: cardNoParams,
        response: withProblems({ 200: cardSchema }, [404, 409]),
      },
    },
    async (request) => {
      const nowMs = clock();
      return store.transaction(async (tx) => presentCard(tx, await cancelCard(tx, request.params.cardNo, nowMs)));
    },
  );

  app.post<{ Params: { cardNo: string }; Body: { challenge: string } }>(
    '/v1/cards/:cardNo/unblock',
    {
      config: { roles: ['counter'] },
      schema: {
        tags: ['cards'],
        summary: 'APPLICATION UNBLOCK of a locked card at a counter; refused for replaced, formally lost, refunded, cloned or cancelled cards',
        security: bearerSecurity,
        params: cardNoParams,
        body: challengeBody(),
        response: withProblems(
          {
            200: {
              type: 'object',
              required: ['cardNo', 'mac'],
              properties: { cardNo: { type: 'string' }, mac: { type: 'string', description: 'APPLICATION UNBLOCK command MAC, hex' } },
            },
          },
          [404, 409],
        ),
      },
    },
    async (request) => {
      const challenge = hexToBytes(request.body.challenge, 4, 'challenge');
      const nowMs = clock();
      return store.transaction(async (tx) => {
        const { card, macHex } = await authoriseUnblock(tx, keys, request.params.cardNo, challenge, nowMs);
        return { cardNo: card.cardNo, mac: macHex };
      });
    },
  );
}
