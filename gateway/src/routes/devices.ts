/** Validator registry: operators register devices (credential returned once) and list them. */
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { queryInt } from '../http/schemas.ts';
import {
  AUTHENTICATED,
  BEARER,
  type GatewayApp,
  Nullable,
  nullableTimestamp,
  deviceIdPageQuery,
  problems,
  type Static,
  StringEnum,
  timestamp,
  Type,
  WITH_BODY,
  withExamples,
  withIso,
} from '../http/wire.ts';
import { DEVICE_KINDS, type Device as DeviceRecord, listDevices, registerDevice } from '../services/devices.ts';

export const DEVICE_ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

const REGISTERED_MS = Date.UTC(2026, 2, 1, 1, 0, 0);
const SYNC_MS = Date.UTC(2026, 2, 10, 2, 0, 0);

const Place = (description: string, example: string) => Type.String({ minLength: 1, maxLength: 64, description, examples: [example] });
const NullablePlace = (description: string) => Nullable(Type.String({ description }));

/**
 * A registered device as every JSON answer shows it (shared schema `Device`, registered by
 * app.ts with addSchema and referenced as `DeviceRef`).
 */
export const Device = Type.Object(
  {
    deviceId: Type.String({ description: 'device id', examples: ['gate-0101'] }),
    kind: StringEnum(DEVICE_KINDS, { description: 'what the device is' }),
    station: NullablePlace('subway station (subway gates)'),
    line: NullablePlace('bus line (bus validators)'),
    lot: NullablePlace('park-and-ride lot (P+R gates)'),
    park: NullablePlace('park (park gates)'),
    ...timestamp('registeredMs', 'when it was registered', REGISTERED_MS),
    ...nullableTimestamp('lastSyncMs', 'its latest sync (gateway time)', SYNC_MS),
    watermark: Type.Integer({ description: 'highest journal sequence number stored exactly once (every record up to it is in)' }),
    blacklistVersion: Type.Integer({ description: 'blacklist version the device reported at its latest sync' }),
    fareTableVersion: Type.Integer({ description: 'fare-table version the device reported at its latest sync' }),
    clockSkewMs: Nullable(
      Type.Integer({
        description:
          "the device's clock minus the gateway's at its latest sync, milliseconds (a duration); positive: the device runs ahead; null before its first sync. Includes the request's transit time",
      }),
    ),
    ...nullableTimestamp('clockSkewMeasuredMs', 'gateway time of that measurement', SYNC_MS),
    flagged: Type.Boolean({ description: 'the device uploaded something suspicious (a forged TAC): its records need a person' }),
    flagReason: Nullable(Type.String({ description: 'why it is flagged' })),
  },
  { $id: 'Device', description: 'A registered validator with its sync state' },
);
export type Device = Static<typeof Device>;

/** `$ref` to the shared Device schema, typed. */
export const DeviceRef = Type.Unsafe<Device>({ $ref: 'Device#' });

/** app.ts registers it (app.addSchema) before the route modules. */
export const deviceSchema = Device;

/** The wire form of a device record: each timestamp with its ISO Beijing form beside it. */
export function deviceWire(device: DeviceRecord): Device {
  return withIso(device, 'registeredMs', 'lastSyncMs', 'clockSkewMeasuredMs');
}

/** An example device, as answers show it. */
const DEVICE_RECORD_EXAMPLE: DeviceRecord = {
  deviceId: 'gate-0101',
  kind: 'subway-gate',
  station: 'Xidan',
  line: null,
  lot: null,
  park: null,
  registeredMs: REGISTERED_MS,
  lastSyncMs: SYNC_MS,
  watermark: 1832,
  blacklistVersion: 42,
  fareTableVersion: 1,
  clockSkewMs: 350,
  clockSkewMeasuredMs: SYNC_MS,
  flagged: false,
  flagReason: null,
};
export const DEVICE_EXAMPLE: Device = deviceWire(DEVICE_RECORD_EXAMPLE);

export const DeviceInput = Type.Object(
  {
    deviceId: Type.String({ pattern: DEVICE_ID_PATTERN, description: 'device id: letters, digits, dot, underscore, hyphen (1..64)', examples: ['gate-0101'] }),
    kind: StringEnum(DEVICE_KINDS, { description: 'what the device is' }),
    station: Type.Optional(Place('subway station (subway gates)', 'Xidan')),
    line: Type.Optional(Place('bus line (bus validators)', '1')),
    lot: Type.Optional(Place('park-and-ride lot (P+R gates)', 'Tiantongyuan North')),
    park: Type.Optional(Place('park (park gates)', 'Summer Palace')),
  },
  { additionalProperties: false },
);
export type DeviceInput = Static<typeof DeviceInput>;

const Registered = Type.Object({
  device: DeviceRef,
  credential: Type.String({ description: 'Bearer token of the device; shown once, stored only as a hash', examples: ['dev_3q2b7x9k1m5n8p4r6t0v2w4y6z8a1c3e'] }),
});

const DeviceListQuery = deviceIdPageQuery('page size, at most 1000, default 100');

const DeviceList = Type.Object({ devices: Type.Array(DeviceRef, { description: 'devices ordered by device id' }) });

export async function devicesRoutes(app: GatewayApp): Promise<void> {
  const { store, clock } = app.gateway;

  app.post(
    '/v1/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Register a validator; the device credential is returned once',
        description:
          'Registers a validator (operators only) and issues its bearer credential, shown only in this answer and stored as a hash: give it to the device, which uses it to sync. ' +
          'A device id that is already registered is 409 device-exists and changes nothing.',
        security: BEARER,
        body: withExamples(DeviceInput, {
          subwayGate: { summary: 'A subway gate', value: { deviceId: 'gate-0101', kind: 'subway-gate', station: 'Xidan' } },
          busValidator: { summary: 'A bus validator', value: { deviceId: 'bus-1-0007', kind: 'bus-validator', line: '1' } },
        }),
        response: {
          201: withExamples(
            Registered,
            {
              registered: {
                summary: 'A new subway gate',
                value: {
                  device: deviceWire({
                    ...DEVICE_RECORD_EXAMPLE,
                    lastSyncMs: null,
                    watermark: 0,
                    blacklistVersion: 0,
                    clockSkewMs: null,
                    clockSkewMeasuredMs: null,
                  }),
                  credential: 'dev_3q2b7x9k1m5n8p4r6t0v2w4y6z8a1c3e',
                },
              },
            },
            'The device and its credential (shown once)',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, 'device-exists'),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const nowMs = clock();
      const result = await store.transaction((tx) => registerDevice(tx, request.body, actorOf(principal), nowMs));
      reply.code(201);
      return { device: deviceWire(result.device), credential: result.credential };
    },
  );

  app.get(
    '/v1/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Registered devices with their sync state, ordered by device id',
        description:
          'Every registered device with its latest sync, watermark, reported blacklist and fare-table versions, clock skew and flag, ordered by device id. ' +
          'Page with after = the last device id of the previous page.',
        security: BEARER,
        querystring: DeviceListQuery,
        response: {
          200: withExamples(DeviceList, { page: { summary: 'One device', value: { devices: [DEVICE_EXAMPLE] } } }, 'Devices after `after`, by device id'),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      const devices = await store.transaction((tx) => listDevices(tx, request.query.after ?? '', limit), { readOnly: true });
      return { devices: devices.map(deviceWire) };
    },
  );
}
