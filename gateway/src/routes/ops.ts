/** Operations: stale and clock-skewed devices for alerting, money anomalies, and the audit log of operator and counter actions. */
import type { FastifyInstance } from 'fastify';
import { bearerSecurity, CARD_NO_PATTERN, queryInt, queryIntSchema, withProblems } from '../http/schemas.ts';
import { listMoneyAnomalies, MONEY_ANOMALY_KIND_NAMES, MONEY_ANOMALY_KINDS, type MoneyAnomalyKind } from '../services/anomalies.ts';
import { listAudit } from '../services/audit.ts';
import { clockSkewedDevices, staleDevices } from '../services/devices.ts';

export async function opsRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock, policies } = app.gateway;

  app.get<{ Querystring: { windowMinutes?: string; limit?: string } }>(
    '/v1/ops/devices/stale',
    {
      schema: {
        tags: ['ops'],
        summary: 'Devices that have not synced within the window (default from the gateway policy)',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            windowMinutes: queryIntSchema('staleness window in minutes (1..525600)'),
            limit: queryIntSchema('at most 1000, default 1000'),
          },
        },
        response: withProblems({
          200: {
            type: 'object',
            required: ['windowMinutes', 'devices'],
            properties: { windowMinutes: { type: 'integer' }, devices: { type: 'array', items: { $ref: 'Device#' } } },
          },
        }),
      },
    },
    async (request) => {
      const defaultMinutes = Math.max(1, Math.round(policies.deviceStaleWindowMs / 60_000));
      const windowMinutes = queryInt(request.query.windowMinutes, defaultMinutes, 'windowMinutes', 525_600, 1);
      const limit = queryInt(request.query.limit, 1_000, 'limit', 1_000, 1);
      const nowMs = clock();
      const devices = await store.transaction((tx) => staleDevices(tx, nowMs, windowMinutes * 60_000, limit), { readOnly: true });
      return { windowMinutes, devices };
    },
  );

  app.get<{ Querystring: { thresholdSeconds?: string; limit?: string } }>(
    '/v1/ops/devices/clock-skew',
    {
      schema: {
        tags: ['ops'],
        summary:
          'Devices whose clock was off by more than the threshold at their latest sync, worst first (default threshold from the gateway policy, 2 minutes)',
        description:
          'Validators stamp every tap with their own clock and fares depend on it (early-entry discount before 07:00, the 4-hour limit, the natural month of the rail discount, fare-table effective dates). ' +
          "The skew is the device's SyncRequest.deviceTimeMs minus the gateway clock at ingest, measured at every sync (GET /v1/devices shows it for every device); a device leaves this list at its next sync with a good clock.",
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            thresholdSeconds: queryIntSchema('alert threshold in seconds (1..31536000), either direction'),
            limit: queryIntSchema('at most 1000, default 1000'),
          },
        },
        response: withProblems({
          200: {
            type: 'object',
            required: ['thresholdSeconds', 'devices'],
            properties: { thresholdSeconds: { type: 'integer' }, devices: { type: 'array', items: { $ref: 'Device#' } } },
          },
        }),
      },
    },
    async (request) => {
      const defaultSeconds = Math.max(1, Math.round(policies.deviceClockSkewAlertMs / 1_000));
      const thresholdSeconds = queryInt(request.query.thresholdSeconds, defaultSeconds, 'thresholdSeconds', 31_536_000, 1);
      const limit = queryInt(request.query.limit, 1_000, 'limit', 1_000, 1);
      const devices = await store.transaction((tx) => clockSkewedDevices(tx, thresholdSeconds * 1_000, limit), { readOnly: true });
      return { thresholdSeconds, devices };
    },
  );

  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/v1/ops/audit',
    {
      schema: {
        tags: ['ops'],
        summary: 'Audit log of operator and counter actions, ascending id',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { after: queryIntSchema('entries after this id'), limit: queryIntSchema('at most 1000, default 100') },
        },
        response: withProblems({
          200: {
            type: 'object',
            required: ['entries'],
            properties: {
              entries: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'atMs', 'role', 'subject', 'method', 'route', 'statusCode'],
                  properties: {
                    id: { type: 'integer' },
                    atMs: { type: 'integer' },
                    role: { type: 'string' },
                    subject: { type: 'string' },
                    branchId: { type: ['string', 'null'] },
                    method: { type: 'string' },
                    route: { type: 'string' },
                    target: { type: ['string', 'null'] },
                    statusCode: { type: 'integer' },
                    requestId: { type: 'string' },
                  },
                },
              },
            },
          },
        }),
      },
    },
    async (request) => {
      const after = queryInt(request.query.after, 0, 'after');
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      return store.transaction(async (tx) => ({ entries: await listAudit(tx, after, limit) }), { readOnly: true });
    },
  );

  app.get<{ Querystring: { kind?: MoneyAnomalyKind; cardNo?: string; after?: string; limit?: string } }>(
    '/v1/ops/anomalies',
    {
      schema: {
        tags: ['ops'],
        summary: 'Money anomalies (ATC gaps, cloned cards, replayed or bad TACs, reinstated teller voids), ascending id (oldest first), paged by id',
        description:
          'Rows written by sync ingest and load resolution when money needs a person. Kinds: ' +
          Object.entries(MONEY_ANOMALY_KINDS)
            .map(([kind, meaning]) => `${kind}: ${meaning}`)
            .join('; ') +
          '. Page with after=nextAfter while more is true; a poller keeps nextAfter (on PostgreSQL a row can commit just below an id already read: re-read a short overlap to miss nothing). Card numbers are shown whole (operators only); logs mask them.',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kind: { type: 'string', enum: MONEY_ANOMALY_KIND_NAMES, description: 'only this kind' },
            cardNo: { type: 'string', pattern: CARD_NO_PATTERN, description: 'only this card (16 digits)' },
            after: queryIntSchema('anomalies with a greater id (default 0: from the first)'),
            limit: queryIntSchema('at most 1000, default 100'),
          },
        },
        response: withProblems({
          200: {
            type: 'object',
            required: ['anomalies', 'more', 'nextAfter'],
            properties: {
              anomalies: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'kind', 'cardNo', 'atc', 'deviceId', 'deviceSeq', 'loadId', 'open', 'detail', 'atMs'],
                  properties: {
                    id: { type: 'integer' },
                    kind: { type: 'string', description: `one of ${MONEY_ANOMALY_KIND_NAMES.join(', ')}` },
                    cardNo: { type: 'string' },
                    atc: { type: 'integer', description: 'offline ATC (atc-gap: the first missing one); for load-void-reversed the online ATC of the load' },
                    deviceId: { type: ['string', 'null'], description: 'the device whose record it is; null for atc-gap and load-void-reversed' },
                    deviceSeq: { type: ['integer', 'null'] },
                    loadId: { type: ['string', 'null'], description: 'load-void-reversed: the reinstated load' },
                    open: { type: ['boolean', 'null'], description: 'atc-gap: true while the missing ATC has not arrived; null for other kinds' },
                    detail: { type: 'string' },
                    atMs: { type: 'integer', description: 'gateway time the anomaly was found (epoch ms)' },
                  },
                },
              },
              more: { type: 'boolean', description: 'more anomalies match after this page' },
              nextAfter: { type: 'integer', description: 'the after of the next page: the last id here, or the after asked when the page is empty' },
            },
          },
        }),
      },
    },
    async (request) => {
      const { kind, cardNo } = request.query;
      const afterId = queryInt(request.query.after, 0, 'after');
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      return store.transaction((tx) => listMoneyAnomalies(tx, { kind, cardNo, afterId, limit }), { readOnly: true });
    },
  );
}
