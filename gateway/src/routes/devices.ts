/** Validator registry: operators register devices (credential returned once) and list them. */
import type { FastifyInstance } from 'fastify';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { bearerSecurity, queryInt, queryIntSchema, withProblems } from '../http/schemas.ts';
import { DEVICE_KINDS, listDevices, registerDevice, type DeviceInput } from '../services/devices.ts';

export const DEVICE_ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

export const deviceSchema = {
  $id: 'Device',
  type: 'object',
  required: ['deviceId', 'kind', 'registeredMs', 'lastSyncMs', 'watermark', 'blacklistVersion', 'clockSkewMs', 'clockSkewMeasuredMs', 'flagged'],
  properties: {
    deviceId: { type: 'string' },
    kind: { type: 'string', enum: [...DEVICE_KINDS] },
    station: { type: ['string', 'null'] },
    line: { type: ['string', 'null'] },
    lot: { type: ['string', 'null'] },
    park: { type: ['string', 'null'] },
    registeredMs: { type: 'integer' },
    lastSyncMs: { type: ['integer', 'null'] },
    watermark: { type: 'integer' },
    blacklistVersion: { type: 'integer' },
    fareTableVersion: { type: 'integer' },
    clockSkewMs: {
      type: ['integer', 'null'],
      description:
        "the device's clock minus the gateway's at its latest sync (SyncRequest.deviceTimeMs - gateway time), ms; positive = the device runs ahead; null before its first sync. Includes the request's transit time",
    },
    clockSkewMeasuredMs: { type: ['integer', 'null'], description: 'gateway time (epoch ms) of that measurement' },
    flagged: { type: 'boolean' },
    flagReason: { type: ['string', 'null'] },
  },
} as const;

const place = { type: 'string', minLength: 1, maxLength: 64 } as const;

export async function devicesRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock } = app.gateway;

  app.post<{ Body: DeviceInput }>(
    '/v1/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Register a validator; the device credential is returned once',
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['deviceId', 'kind'],
          additionalProperties: false,
          properties: {
            deviceId: { type: 'string', pattern: DEVICE_ID_PATTERN },
            kind: { type: 'string', enum: [...DEVICE_KINDS] },
            station: place,
            line: place,
            lot: place,
            park: place,
          },
        },
        response: withProblems(
          {
            201: {
              type: 'object',
              required: ['device', 'credential'],
              properties: {
                device: { $ref: 'Device#' },
                credential: { type: 'string', description: 'Bearer token of the device; shown once, stored only as a hash' },
              },
            },
          },
          [409],
        ),
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const nowMs = clock();
      const result = await store.transaction((tx) => registerDevice(tx, request.body, actorOf(principal), nowMs));
      reply.code(201);
      return result;
    },
  );

  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/v1/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Registered devices with their sync state, ordered by device id',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'string', maxLength: 64, description: 'page after this device id' },
            limit: queryIntSchema('at most 1000, default 100'),
          },
        },
        response: withProblems({
          200: { type: 'object', required: ['devices'], properties: { devices: { type: 'array', items: { $ref: 'Device#' } } } },
        }),
      },
    },
    async (request) => {
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      return store.transaction(async (tx) => ({ devices: await listDevices(tx, request.query.after ?? '', limit) }), { readOnly: true });
    },
  );
}
