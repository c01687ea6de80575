/**
 * POST /v1/devices/{deviceId}/sync: body and answer `application/x-msgpack`
 * (core/src/sync/sync-messages.ts). Only the device itself may call it (the auth hook checks
 * the path's deviceId against the credential). A body that does not decode, or decodes to
 * anything but a well-formed SyncRequest of this device, is a 400 that changes nothing.
 */
import type { FastifyInstance } from 'fastify';
import { pack, unpack } from 'msgpackr';
import { LIMITS } from '#core';
import { ApiError } from '../http/problem.ts';
import { AUTHENTICATED, BEARER, problems, type Static, Type, WITH_BODY } from '../http/wire.ts';
import { addBlacklistEntry, readBlacklistFeed } from '../services/blacklist.ts';
import { builtInFareTableOf, fareTableForDevice } from '../services/fare-tables.ts';
import { ingestSyncBatch, type SyncDeps } from '../services/sync-ingest.ts';
import { issuerRegistryOf } from '../services/issuers.ts';
import { checkSyncRequest } from '../services/sync-record-guard.ts';
import { runDueJobs } from '../services/jobs.ts';
// Registers the money routes' problem codes in the error table (a side-effect import).
import './money-problems.ts';

export const MSGPACK_CONTENT_TYPE = 'application/x-msgpack';

/** Decodes msgpack; any decoder failure (truncated, bad tag, trailing garbage) is a 400. */
export function decodeMsgpack(body: Buffer): unknown {
  try {
    return unpack(body);
  } catch (error) {
    throw new ApiError('invalid-msgpack', `msgpack decoding failed: ${(error as Error).message.slice(0, 120)}`);
  }
}

const SyncParams = Type.Object(
  {
    deviceId: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$',
      description: 'the device itself (its credential names it)',
      examples: ['gate-0101'],
    }),
  },
  { additionalProperties: false },
);
type SyncParams = Static<typeof SyncParams>;

const EXAMPLE_MS = Date.UTC(2026, 2, 10, 2, 0, 0);

/** A SyncRequest as the device's msgpack body decodes (core/src/sync/sync-messages.ts). */
const SYNC_REQUEST_EXAMPLE = {
  protocolVersion: 1,
  deviceId: 'gate-0101',
  records: [
    {
      deviceId: 'gate-0101',
      deviceSeq: 1833,
      deviceKind: 'subway-gate',
      operator: 'subway',
      resultCode: 0,
      cardNo: '1000000000000016',
      cardAction: 'debit',
      transactionType: 9,
      amountFen: 300,
      balanceBeforeFen: 4600,
      balanceAfterFen: 4300,
      offlineAtc: 41,
      onlineAtc: 7,
      terminalId: '000000000101',
      tsn: 1833,
      date: 20260310,
      time: 95958,
      tac: '1A2B3C4D',
      keyVersion: 1,
      algorithm: '3des',
      fareTableVersion: 1,
      place: 101,
      line: 1,
      occurredAtMs: EXAMPLE_MS - 2_000,
      recovered: false,
    },
  ],
  blacklistVersion: 41,
  fareTableVersion: 1,
  deviceTimeMs: EXAMPLE_MS + 350,
  journalMore: false,
};

/** A SyncResponse as the gateway's msgpack answer decodes. */
const SYNC_RESPONSE_EXAMPLE = {
  protocolVersion: 1,
  acknowledged: [1833],
  quarantined: [],
  blacklist: [{ version: 42, cardNo: '1000000000000024', op: 'add', reason: 'replaced' }],
  blacklistVersion: 42,
  blacklistMore: false,
  fareTable: null,
  watermark: 1833,
  serverTimeMs: EXAMPLE_MS,
};

/**
 * The msgpack bodies in OpenAPI: binary content of type application/x-msgpack. The schema does
 * not restate the structure (the operation's description lists it); the examples show the
 * msgpack map decoded. No `type`: Fastify hands the raw bytes (a Buffer) to the handler, which
 * decodes and checks them (sync-record-guard.ts).
 */
const msgpackSchema = (description: string) => ({ description, contentMediaType: MSGPACK_CONTENT_TYPE });

export async function syncRoutes(app: FastifyInstance): Promise<void> {
  const builtIn = builtInFareTableOf(app.gateway);
  app.addContentTypeParser(MSGPACK_CONTENT_TYPE, { parseAs: 'buffer', bodyLimit: LIMITS.syncBodyBytes }, (_request, body, done) => {
    done(null, body);
  });

  app.post<{ Params: SyncParams; Body: Buffer }>(
    '/v1/devices/:deviceId/sync',
    {
      config: { roles: ['device'] },
      bodyLimit: LIMITS.syncBodyBytes,
      schema: {
        tags: ['sync'],
        summary: 'Validator sync: upload journal records, download blacklist delta, fare table, watermark',
        description:
          'The device protocol: body and answer are msgpack (`application/x-msgpack`), not JSON; the examples show the msgpack maps decoded. Only the device itself may call it (another device id is 404, as for one not registered). ' +
          'Body: msgpack SyncRequest {protocolVersion, deviceId, records: JournalRecord[] (ascending deviceSeq, at most 5,000), blacklistVersion, fareTableVersion, deviceTimeMs, journalMore}. journalMore: true when the device holds unacknowledged records beyond this batch, false when this batch is all of them (the journal is drained: refunds wait for that); without it the gateway takes a batch shorter than 5,000 for drained. ' +
          'Answer: msgpack SyncResponse {protocolVersion, acknowledged, quarantined, blacklist, blacklistVersion, blacklistMore, fareTable, watermark, serverTimeMs}. ' +
          "fareTable: the next fare table the device needs (the one in force, at the earlier of the device's clock and the gateway's, if the device lacks it, else the lowest announced version above the device's; published by POST /v1/fare-tables, else the built-in version 1), or null. " +
          'Records are stored exactly once by (deviceId, deviceSeq); a retry is acknowledged again and never applied twice. A debit whose TAC does not verify is quarantined and never cleared. ' +
          'A body that does not decode is 400 invalid-msgpack, one that is not a well-formed SyncRequest of this device 400 invalid-sync-batch (member `reasons`); either changes nothing. ' +
          'Times in the msgpack protocol are epoch milliseconds only. Errors are problem+json like everywhere. With a device CA, validators sync on the mutual-TLS device port only: here an authenticated device gets 403 sync-requires-device-tls naming it.',
        security: BEARER,
        params: SyncParams,
        body: {
          content: {
            [MSGPACK_CONTENT_TYPE]: {
              schema: { ...msgpackSchema('msgpack-encoded SyncRequest (see the description)'), examples: [SYNC_REQUEST_EXAMPLE] },
            },
          },
        },
        response: {
          200: {
            description: 'msgpack-encoded SyncResponse (see the description)',
            content: {
              [MSGPACK_CONTENT_TYPE]: {
                schema: msgpackSchema('msgpack-encoded SyncResponse'),
                examples: { acknowledged: { summary: 'One record acknowledged, one blacklist change (decoded)', value: SYNC_RESPONSE_EXAMPLE } },
              },
            },
          },
          ...problems(...AUTHENTICATED, ...WITH_BODY, 'invalid-msgpack', 'invalid-sync-batch', 'device-not-found', 'sync-requires-device-tls'),
        },
      },
    },
    async (request, reply) => {
      if (!Buffer.isBuffer(request.body)) throw new ApiError('unsupported-media-type', `send ${MSGPACK_CONTENT_TYPE}`);
      const deviceId = request.params.deviceId;
      let decoded: unknown;
      try {
        decoded = decodeMsgpack(request.body);
      } catch (error) {
        app.gatewayMetrics.syncBatchRefused();
        throw error;
      }
      const check = checkSyncRequest(decoded, deviceId);
      if (!check.ok) {
        app.gatewayMetrics.syncBatchRefused();
        throw new ApiError('invalid-sync-batch', check.reasons.join('; '), { reasons: check.reasons });
      }
      const { store, keys, clock } = app.gateway;
      const { response, stats } = await store.transaction(
        async (tx) => {
          // The global lock order (docs/postgres.md): this device's row (its batches go one after
          // the other), then every card of the batch by number ascending (a card's money, chain and
          // pending loads change under its lock only).
          await tx.lockDevice(deviceId);
          await tx.lockCards(check.request.records.map((record) => record.cardNo));
          const nowMs = clock();
          const deps: SyncDeps = {
            keys,
            issuers: issuerRegistryOf(app.gateway.policies),
            blacklist: {
              add: (tx, cardNo, reason, nowMs) => addBlacklistEntry(tx, cardNo, reason, nowMs),
              deltaSince: (tx, version, limit) => readBlacklistFeed(tx, version, clock(), limit),
            },
            // "In force" by the clock the device charges taps by, never later than ours: a device
            // whose clock is behind keeps the table in force on its clock (else it holds none until
            // its clock reaches the newer table's date, and refuses every tap meanwhile).
            fareTableFor: (tx, deviceVersion) => fareTableForDevice(tx, deviceVersion, Math.min(nowMs, check.request.deviceTimeMs), builtIn),
          };
          const device = await tx.get('SELECT device_id FROM devices WHERE device_id = ?', [deviceId]);
          if (device === undefined) throw new ApiError('device-not-found', `device ${deviceId} is not registered`);
          return ingestSyncBatch(tx, deps, deviceId, check.request, nowMs);
        },
        { isolation: 'read-committed' },
      );
      app.gatewayMetrics.syncBatch(stats);
      // A drained device may be the last one a refund waits for. The batch is committed either way.
      await runDueJobs(store, clock(), app.gateway.policies).catch((error: unknown) => request.log.error({ err: error }, 'refund jobs after sync failed'));
      return reply.type(MSGPACK_CONTENT_TYPE).send(pack(response));
    },
  );
}
