/** Operations: stale and clock-skewed devices for alerting, money anomalies, and the audit log of operator and counter actions. */
import { queryInt } from '../http/schemas.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  type GatewayApp,
  Nullable,
  problems,
  QueryInt,
  StringEnum,
  timestamp,
  Type,
  withExamples,
  withIso,
} from '../http/wire.ts';
import { listMoneyAnomalies, MONEY_ANOMALY_KIND_NAMES, MONEY_ANOMALY_KINDS } from '../services/anomalies.ts';
import { listAudit } from '../services/audit.ts';
import { clockSkewedDevices, staleDevices } from '../services/devices.ts';
import { DEVICE_EXAMPLE, DeviceRef, deviceWire } from './devices.ts';

const EXAMPLE_MS = Date.UTC(2026, 2, 10, 2, 0, 0);

const StaleQuery = Type.Object(
  {
    windowMinutes: Type.Optional(QueryInt('staleness window in minutes (1..525600); default from the gateway policy (one day)', '1440')),
    limit: Type.Optional(QueryInt('at most 1000, default 1000', '1000')),
  },
  { additionalProperties: false },
);
const StaleAnswer = Type.Object({
  windowMinutes: Type.Integer({ description: 'the window applied, minutes', examples: [1440] }),
  devices: Type.Array(DeviceRef, { description: 'devices whose latest sync (or registration, if they never synced) is older than the window, oldest first' }),
});

const SkewQuery = Type.Object(
  {
    thresholdSeconds: Type.Optional(QueryInt('alert threshold in seconds (1..31536000), either direction; default from the gateway policy (2 minutes)', '120')),
    limit: Type.Optional(QueryInt('at most 1000, default 1000', '1000')),
  },
  { additionalProperties: false },
);
const SkewAnswer = Type.Object({
  thresholdSeconds: Type.Integer({ description: 'the threshold applied, seconds', examples: [120] }),
  devices: Type.Array(DeviceRef, { description: 'devices off by more than the threshold at their latest sync, worst first' }),
});

const AuditQuery = Type.Object(
  {
    after: Type.Optional(QueryInt('entries after this id (default 0: from the first)', '0')),
    limit: Type.Optional(QueryInt('at most 1000, default 100')),
  },
  { additionalProperties: false },
);
const AuditEntry = Type.Object({
  id: Type.Integer({ description: 'entry id, ascending' }),
  ...timestamp('atMs', 'when the request was answered (gateway time)'),
  role: Type.String({ description: 'role of the caller (operator or counter)', examples: ['counter'] }),
  subject: Type.String({ description: 'who called (token subject)', examples: ['teller-07'] }),
  branchId: Nullable(Type.String({ description: 'the counter branch; null for operators' })),
  method: Type.String({ description: 'HTTP method', examples: ['POST'] }),
  route: Type.String({ description: 'route template (never the raw URL)', examples: ['/v1/cards/:cardNo/loss-reports'] }),
  target: Nullable(Type.String({ description: 'what it acted on (card number, load id, device id, fare-table version)' })),
  statusCode: Type.Integer({ description: 'HTTP status of the answer', examples: [201] }),
  requestId: Type.String({ description: 'X-Request-Id of the request (as in the logs)' }),
});
const AuditAnswer = Type.Object({ entries: Type.Array(AuditEntry, { description: 'ascending id' }) });

const AnomalyQuery = Type.Object(
  {
    kind: Type.Optional(StringEnum(MONEY_ANOMALY_KIND_NAMES, { description: 'only this kind' })),
    cardNo: Type.Optional(CardNo('only this card (16 or 19 digits)')),
    after: Type.Optional(QueryInt('anomalies with a greater id (default 0: from the first)', '0')),
    limit: Type.Optional(QueryInt('at most 1000, default 100')),
  },
  { additionalProperties: false },
);
const Anomaly = Type.Object({
  id: Type.Integer({ description: 'anomaly id, ascending' }),
  kind: Type.String({ description: `one of ${MONEY_ANOMALY_KIND_NAMES.join(', ')}`, examples: ['atc-gap'] }),
  cardNo: CardNo(),
  atc: Type.Integer({ description: 'offline ATC (atc-gap: the first missing one); for load-void-reversed the online ATC of the load' }),
  deviceId: Nullable(Type.String({ description: 'the device whose record it is; null for atc-gap and load-void-reversed' })),
  deviceSeq: Nullable(Type.Integer({ description: "the record's sequence number on that device" })),
  loadId: Nullable(Type.String({ description: 'load-void-reversed: the reinstated load' })),
  open: Nullable(Type.Boolean({ description: 'atc-gap: true while the missing ATC has not arrived; null for other kinds' })),
  detail: Type.String({ description: 'what was found, for a person' }),
  ...timestamp('atMs', 'gateway time the anomaly was found'),
});
const AnomalyPage = Type.Object({
  anomalies: Type.Array(Anomaly, { description: 'ascending id' }),
  more: Type.Boolean({ description: 'more anomalies match after this page' }),
  nextAfter: Type.Integer({ description: 'the after of the next page: the last id here, or the after asked when the page is empty' }),
});

const SKEWED_DEVICE = { ...DEVICE_EXAMPLE, clockSkewMs: 312_000 };

export async function opsRoutes(app: GatewayApp): Promise<void> {
  const { store, clock, policies } = app.gateway;

  app.get(
    '/v1/ops/devices/stale',
    {
      schema: {
        tags: ['ops'],
        summary: 'Devices that have not synced within the window (default from the gateway policy)',
        description:
          'Devices whose latest sync, or registration if they never synced, is older than the window, oldest first: a validator that stops syncing keeps taps (and money) the back office has not seen. ' +
          'Alert on a non-empty list.',
        security: BEARER,
        querystring: StaleQuery,
        response: {
          200: withExamples(
            StaleAnswer,
            { stale: { summary: 'One device silent for over a day', value: { windowMinutes: 1440, devices: [DEVICE_EXAMPLE] } } },
            'Stale devices, oldest first',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const defaultMinutes = Math.max(1, Math.round(policies.deviceStaleWindowMs / 60_000));
      const windowMinutes = queryInt(request.query.windowMinutes, defaultMinutes, 'windowMinutes', 525_600, 1);
      const limit = queryInt(request.query.limit, 1_000, 'limit', 1_000, 1);
      const nowMs = clock();
      const devices = await store.transaction((tx) => staleDevices(tx, nowMs, windowMinutes * 60_000, limit), { readOnly: true });
      return { windowMinutes, devices: devices.map(deviceWire) };
    },
  );

  app.get(
    '/v1/ops/devices/clock-skew',
    {
      schema: {
        tags: ['ops'],
        summary:
          'Devices whose clock was off by more than the threshold at their latest sync, worst first (default threshold from the gateway policy, 2 minutes)',
        description:
          'Validators stamp every tap with their own clock and fares depend on it (early-entry discount before 07:00, the 4-hour limit, the natural month of the rail discount, fare-table effective dates). ' +
          "The skew is the device's SyncRequest.deviceTimeMs minus the gateway clock at ingest, measured at every sync (GET /v1/devices shows it for every device); a device leaves this list at its next sync with a good clock.",
        security: BEARER,
        querystring: SkewQuery,
        response: {
          200: withExamples(
            SkewAnswer,
            { skewed: { summary: 'One gate running 5 minutes 12 seconds ahead', value: { thresholdSeconds: 120, devices: [SKEWED_DEVICE] } } },
            'Skewed devices, worst first',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const defaultSeconds = Math.max(1, Math.round(policies.deviceClockSkewAlertMs / 1_000));
      const thresholdSeconds = queryInt(request.query.thresholdSeconds, defaultSeconds, 'thresholdSeconds', 31_536_000, 1);
      const limit = queryInt(request.query.limit, 1_000, 'limit', 1_000, 1);
      const devices = await store.transaction((tx) => clockSkewedDevices(tx, thresholdSeconds * 1_000, limit), { readOnly: true });
      return { thresholdSeconds, devices: devices.map(deviceWire) };
    },
  );

  app.get(
    '/v1/ops/audit',
    {
      schema: {
        tags: ['ops'],
        summary: 'Audit log of operator and counter actions, ascending id',
        description:
          'Every state-changing request of an operator or a counter, whatever its outcome, written before the answer leaves. Page with after = the last id read.',
        security: BEARER,
        querystring: AuditQuery,
        response: {
          200: withExamples(
            AuditAnswer,
            {
              page: {
                summary: 'A loss report taken at a counter',
                value: {
                  entries: [
                    withIso(
                      {
                        id: 17,
                        atMs: EXAMPLE_MS,
                        role: 'counter',
                        subject: 'teller-07',
                        branchId: 'xidan',
                        method: 'POST',
                        route: '/v1/cards/:cardNo/loss-reports',
                        target: '1000000000000016',
                        statusCode: 201,
                        requestId: '7d1f4c1e-2f7a-4d0c-9a51-3c2b8e0f6a11',
                      },
                      'atMs',
                    ),
                  ],
                },
              },
            },
            'Audit entries after `after`',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const after = queryInt(request.query.after, 0, 'after');
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      const entries = await store.transaction((tx) => listAudit(tx, after, limit), { readOnly: true });
      return { entries: entries.map((entry) => withIso(entry, 'atMs')) };
    },
  );

  app.get(
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
        security: BEARER,
        querystring: AnomalyQuery,
        response: {
          200: withExamples(
            AnomalyPage,
            {
              page: {
                summary: 'An open ATC gap, the last page',
                value: {
                  anomalies: [
                    withIso(
                      {
                        id: 5,
                        kind: 'atc-gap',
                        cardNo: '1000000000000016',
                        atc: 41,
                        deviceId: null,
                        deviceSeq: null,
                        loadId: null,
                        open: true,
                        detail: 'debits arrived above offline ATC 41, which has not been uploaded',
                        atMs: EXAMPLE_MS,
                      },
                      'atMs',
                    ),
                  ],
                  more: false,
                  nextAfter: 5,
                },
              },
            },
            'Anomalies after `after`, ascending id',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const { kind, cardNo } = request.query;
      const afterId = queryInt(request.query.after, 0, 'after');
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      const page = await store.transaction((tx) => listMoneyAnomalies(tx, { kind, cardNo, afterId, limit }), { readOnly: true });
      return { ...page, anomalies: page.anomalies.map((anomaly) => withIso(anomaly, 'atMs')) };
    },
  );
}
