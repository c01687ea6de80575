/**
 * Device PKI routes on the main API (issue 9):
 *
 *   POST /v1/devices/{deviceId}/enrolment     operator: a one-time enrolment code (shown once)
 *   POST /v1/devices/{deviceId}/certificate   the device: CSR + enrolment code (or its bearer
 *                                             credential) -> certificate and the CA to pin
 *   POST /v1/devices/{deviceId}/revocation    operator: stolen validator; the next sync is refused
 *   GET  /v1/devices/{deviceId}/certificates  operator: the device's certificates and status
 *   GET  /v1/ops/devices/certificates         operator: every certificate with its status
 *
 * Renewal runs on the device listener (device-listener.ts), authenticated by the current
 * certificate.
 */
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { principalForToken } from '../auth/tokens.ts';
import { ApiError } from '../http/problem.ts';
import { queryInt } from '../http/schemas.ts';
import {
  AUTHENTICATED,
  BEARER,
  type GatewayApp,
  Nullable,
  nullableTimestamp,
  deviceIdPageQuery,
  problems,
  PUBLIC,
  type Static,
  StringEnum,
  timestamp,
  Type,
  WITH_BODY,
  withExamples,
  withIso,
} from '../http/wire.ts';
import { findDevice } from '../services/devices.ts';
import {
  certificateStatus,
  certificatesOf,
  createEnrolmentCode,
  ENROLMENT_CODE_PATTERN,
  listCertificates,
  pendingEnrolmentOf,
  revokeDevice,
  type DeviceCertificateRecord,
} from './device-certificates.ts';
import {
  CertificateAnswer,
  csrBodySchema,
  DEFAULT_DEVICE_CERT_VALIDITY_MS,
  DEFAULT_ENROLMENT_CODE_TTL_MS,
  issueDeviceCertificate,
  requirePki,
} from './device-pki.ts';

const DEVICE_ID_PARAM_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
const BEARER_HEADER = /^Bearer ([A-Za-z0-9._~+/=-]{16,256})$/;

const DeviceIdParams = Type.Object(
  { deviceId: Type.String({ pattern: DEVICE_ID_PARAM_PATTERN, description: 'device id', examples: ['gate-0101'] }) },
  { additionalProperties: false },
);

const ISSUED_MS = Date.UTC(2026, 2, 10, 1, 55, 0);
const EXAMPLE_SERIAL = '5A0E3C9B1F2D4E6A';
const EXAMPLE_CODE = 'Q2xhc3NpY0Vucm9sbWVudENvZGVGb3JUaGVHYXRlMDE';
const PEM_CSR = '-----BEGIN CERTIFICATE REQUEST-----\nMIIC…\n-----END CERTIFICATE REQUEST-----\n';

const CERTIFICATE_STATUSES = ['active', 'expired', 'not-yet-valid', 'revoked'] as const;
const IDENTITY_STATUSES = ['none', 'enrolment-pending', 'active', 'expired', 'revoked'] as const;

export const DeviceCertificate = Type.Object({
  serial: Type.String({ description: 'certificate serial, hex', examples: [EXAMPLE_SERIAL] }),
  deviceId: Type.String({ description: 'the device', examples: ['gate-0101'] }),
  kind: Type.String({ description: 'device kind (the certificate OU)', examples: ['subway-gate'] }),
  fingerprint: Type.String({ description: 'SHA-256 of the certificate DER, hex' }),
  ...timestamp('notBeforeMs', 'valid from', ISSUED_MS),
  ...timestamp('notAfterMs', 'valid until', ISSUED_MS + DEFAULT_DEVICE_CERT_VALIDITY_MS),
  ...timestamp('issuedMs', 'when it was issued', ISSUED_MS),
  issuedVia: StringEnum(['enrolment', 'credential', 'renewal'], { description: 'how the device proved who it is' }),
  status: StringEnum(CERTIFICATE_STATUSES, { description: 'status at the gateway clock' }),
  ...nullableTimestamp('revokedMs', 'when it was revoked', ISSUED_MS),
  revokedBy: Nullable(Type.String({ description: 'role:subject of the operator who revoked it' })),
  revokedReason: Nullable(Type.String({ description: 'why it was revoked' })),
});
export type DeviceCertificate = Static<typeof DeviceCertificate>;

/** The wire form of a certificate record with its status at `nowMs`, each timestamp with its ISO form. */
function certificateWire(record: DeviceCertificateRecord, nowMs: number): DeviceCertificate {
  return withIso({ ...record, status: certificateStatus(record, nowMs) }, 'notBeforeMs', 'notAfterMs', 'issuedMs', 'revokedMs');
}

const CERTIFICATE_EXAMPLE: DeviceCertificate = certificateWire(
  {
    serial: EXAMPLE_SERIAL,
    deviceId: 'gate-0101',
    kind: 'subway-gate',
    fingerprint: '3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555',
    notBeforeMs: ISSUED_MS,
    notAfterMs: ISSUED_MS + DEFAULT_DEVICE_CERT_VALIDITY_MS,
    issuedMs: ISSUED_MS,
    issuedVia: 'enrolment',
    revokedMs: null,
    revokedBy: null,
    revokedReason: null,
  },
  ISSUED_MS + 60_000,
);

const Enrolment = Type.Object({
  deviceId: Type.String({ description: 'the device', examples: ['gate-0101'] }),
  enrolmentCode: Type.String({ description: 'give it to the device; stored only as a hash; usable once', examples: [EXAMPLE_CODE] }),
  ...timestamp('expiresMs', 'the code expires', ISSUED_MS + DEFAULT_ENROLMENT_CODE_TTL_MS),
});

const CertificateRequest = Type.Object(
  {
    csr: csrBodySchema,
    enrolmentCode: Type.Optional(
      Type.String({
        pattern: ENROLMENT_CODE_PATTERN,
        description: 'the one-time enrolment code; without it, send the device credential as Authorization: Bearer',
        examples: [EXAMPLE_CODE],
      }),
    ),
  },
  { additionalProperties: false },
);

const RevocationRequest = Type.Object(
  {
    reason: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'why (default: revoked by operator)', examples: ['validator stolen from bus 42'] }),
    ),
  },
  { additionalProperties: false },
);
const Revocation = Type.Object({
  deviceId: Type.String({ description: 'the device', examples: ['gate-0101'] }),
  ...timestamp('revokedMs', 'when it was revoked', ISSUED_MS),
  revokedSerials: Type.Array(Type.String({ description: 'certificate serial, hex' }), { description: 'certificates revoked now' }),
  credentialsRevoked: Type.Integer({ description: 'bearer credentials of the device revoked now', examples: [1] }),
});

const DeviceCertificates = Type.Object({
  deviceId: Type.String({ description: 'the device', examples: ['gate-0101'] }),
  status: StringEnum(IDENTITY_STATUSES, {
    description: "the device's identity: an active certificate, an open enrolment code, or what its latest certificate became",
  }),
  ...nullableTimestamp('enrolmentPendingUntilMs', 'an open enrolment code expires', ISSUED_MS),
  certificates: Type.Array(DeviceCertificate, { description: 'newest first' }),
});

const CertificateListQuery = deviceIdPageQuery('at most 1000, default 100');
const CertificateList = Type.Object({ certificates: Type.Array(DeviceCertificate, { description: 'by device id' }) });

export async function devicePkiRoutes(app: GatewayApp): Promise<void> {
  const { store, clock } = app.gateway;

  app.post(
    '/v1/devices/:deviceId/enrolment',
    {
      schema: {
        tags: ['device-pki'],
        summary: 'Create a one-time enrolment code for a registered device (shown once; a new code cancels the previous one)',
        description:
          'Operators only. The code lets the device request its first certificate (POST /v1/devices/{deviceId}/certificate): usable once, until it expires; stored only as a hash. ' +
          'A new code cancels the open one. 404 device-not-found for a device that is not registered; 409 device-pki-disabled when the gateway has no device CA.',
        security: BEARER,
        params: DeviceIdParams,
        response: {
          201: withExamples(
            Enrolment,
            {
              code: {
                summary: 'A code valid for three days',
                value: {
                  deviceId: 'gate-0101',
                  enrolmentCode: EXAMPLE_CODE,
                  ...withIso({ expiresMs: ISSUED_MS + DEFAULT_ENROLMENT_CODE_TTL_MS }, 'expiresMs'),
                },
              },
            },
            'The enrolment code (shown once)',
          ),
          ...problems(...AUTHENTICATED, 'device-not-found', 'device-pki-disabled'),
        },
      },
    },
    async (request, reply) => {
      const pki = requirePki(app);
      const principal = requirePrincipal(request);
      const { deviceId } = request.params;
      const nowMs = clock();
      const answer = await store.transaction(async (tx) => {
        if (!(await findDevice(tx, deviceId))) throw new ApiError('device-not-found', `device ${deviceId} is not registered`);
        return createEnrolmentCode(tx, deviceId, actorOf(principal), nowMs, pki.enrolmentCodeTtlMs);
      });
      reply.code(201);
      return { deviceId, enrolmentCode: answer.code, ...withIso({ expiresMs: answer.expiresMs }, 'expiresMs') };
    },
  );

  app.post(
    '/v1/devices/:deviceId/certificate',
    {
      // Authenticated here, not by the auth hook: either the one-time enrolment code in the body
      // or the device's own bearer credential (devices enrolled before the CA existed).
      config: { public: true },
      schema: {
        tags: ['device-pki'],
        summary: 'The device submits its CSR with an enrolment code (or its bearer credential) and receives its certificate',
        description:
          'The device generates its key pair itself; only the CSR travels. Checks: CSR signature, CN = device id, RSA 2048..4096, SHA-256+. ' +
          'No bearer token is needed: the device proves who it is with the one-time `enrolmentCode` in the body, or, without a code, with its own device credential as `Authorization: Bearer` ' +
          '(401 unauthenticated without either, 401 enrolment-code-invalid for a code that is unknown, used, expired, cancelled or for another device; 403 forbidden for a credential of another caller). ' +
          'A refused request changes nothing (the enrolment code stays usable). 409 device-pki-disabled when the gateway has no device CA.',
        security: PUBLIC,
        params: DeviceIdParams,
        body: withExamples(CertificateRequest, {
          enrolment: { summary: 'With the enrolment code', value: { csr: PEM_CSR, enrolmentCode: EXAMPLE_CODE } },
          credential: { summary: 'With the device credential (Authorization: Bearer)', value: { csr: PEM_CSR } },
        }),
        response: {
          201: withExamples(
            CertificateAnswer,
            {
              issued: {
                summary: 'A seven-day certificate',
                value: {
                  deviceId: 'gate-0101',
                  serial: EXAMPLE_SERIAL,
                  certificate: '-----BEGIN CERTIFICATE-----\nMIID…\n-----END CERTIFICATE-----\n',
                  caCertificate: '-----BEGIN CERTIFICATE-----\nMIIF…\n-----END CERTIFICATE-----\n',
                  ...withIso({ notBeforeMs: ISSUED_MS, notAfterMs: ISSUED_MS + DEFAULT_DEVICE_CERT_VALIDITY_MS }, 'notBeforeMs', 'notAfterMs'),
                  deviceUrl: 'https://gateway.example:8443',
                },
              },
            },
            'The certificate and the CA to pin',
          ),
          ...problems(
            400,
            401,
            403,
            500,
            ...WITH_BODY,
            'invalid-csr',
            'unauthenticated',
            'enrolment-code-invalid',
            'forbidden',
            'device-not-found',
            'device-pki-disabled',
          ),
        },
      },
    },
    async (request, reply) => {
      const pki = requirePki(app);
      const { deviceId } = request.params;
      const nowMs = clock();
      let authorisation: { via: 'enrolment'; code: string } | { via: 'credential' };
      if (request.body.enrolmentCode !== undefined) {
        authorisation = { via: 'enrolment', code: request.body.enrolmentCode };
      } else {
        const match = BEARER_HEADER.exec(request.headers.authorization ?? '');
        if (!match) throw new ApiError('unauthenticated', 'send the enrolment code in the body, or Authorization: Bearer <device credential>');
        const principal = await store.transaction((tx) => principalForToken(tx, match[1], nowMs), { readOnly: true });
        if (!principal) throw new ApiError('unauthenticated', 'the credential is unknown, revoked or expired');
        if (principal.role !== 'device' || principal.subject !== deviceId)
          throw new ApiError('forbidden', 'only the device itself may request its certificate with a credential');
        authorisation = { via: 'credential' };
      }
      const answer = await issueDeviceCertificate(store, pki, { deviceId, csrPem: request.body.csr, authorisation, nowMs });
      request.log.info({ deviceId, serial: answer.serial, via: authorisation.via }, 'device certificate issued');
      reply.code(201);
      return answer;
    },
  );

  app.post(
    '/v1/devices/:deviceId/revocation',
    {
      schema: {
        tags: ['device-pki'],
        summary: 'Revoke a device (stolen validator): its certificates, open enrolment codes and bearer credentials',
        description:
          'Operators only. Revokes every certificate of the device, cancels its open enrolment codes and revokes its bearer credentials: its next sync is refused. ' +
          'Register the replacement validator under a new device id. 404 device-not-found for a device that is not registered.',
        security: BEARER,
        params: DeviceIdParams,
        body: withExamples(RevocationRequest, { stolen: { summary: 'A stolen validator', value: { reason: 'validator stolen from bus 42' } } }),
        response: {
          200: withExamples(
            Revocation,
            {
              revoked: {
                summary: 'One certificate and one credential revoked',
                value: { deviceId: 'gate-0101', ...withIso({ revokedMs: ISSUED_MS }, 'revokedMs'), revokedSerials: [EXAMPLE_SERIAL], credentialsRevoked: 1 },
              },
            },
            'What was revoked',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, 'device-not-found'),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const { deviceId } = request.params;
      const nowMs = clock();
      const reason = request.body?.reason ?? 'revoked by operator';
      const result = await store.transaction(async (tx) => {
        if (!(await findDevice(tx, deviceId))) throw new ApiError('device-not-found', `device ${deviceId} is not registered`);
        return revokeDevice(tx, deviceId, actorOf(principal), reason, nowMs);
      });
      request.log.info({ deviceId, serials: result.serials.length }, 'device revoked');
      return { deviceId, ...withIso({ revokedMs: nowMs }, 'revokedMs'), revokedSerials: result.serials, credentialsRevoked: result.credentialsRevoked };
    },
  );

  app.get(
    '/v1/devices/:deviceId/certificates',
    {
      schema: {
        tags: ['device-pki'],
        summary: "A device's certificates, newest first, and its identity status",
        description:
          "Operators only. Every certificate of the device with its status at the gateway clock, newest first, and the device's identity status: active (a valid certificate), enrolment-pending (an open code), " +
          'else what its latest certificate became (expired, revoked), or none. 404 device-not-found for a device that is not registered.',
        security: BEARER,
        params: DeviceIdParams,
        response: {
          200: withExamples(
            DeviceCertificates,
            {
              active: {
                summary: 'One active certificate',
                value: {
                  deviceId: 'gate-0101',
                  status: 'active',
                  enrolmentPendingUntilMs: null,
                  enrolmentPendingUntilAt: null,
                  certificates: [CERTIFICATE_EXAMPLE],
                },
              },
            },
            "The device's certificates and identity status",
          ),
          ...problems(...AUTHENTICATED, 'device-not-found'),
        },
      },
    },
    async (request) => {
      const { deviceId } = request.params;
      const nowMs = clock();
      return store.transaction(
        async (tx) => {
          if (!(await findDevice(tx, deviceId))) throw new ApiError('device-not-found', `device ${deviceId} is not registered`);
          const certificates = (await certificatesOf(tx, deviceId)).map((c) => certificateWire(c, nowMs));
          const pending = await pendingEnrolmentOf(tx, deviceId, nowMs);
          let status: (typeof IDENTITY_STATUSES)[number] = 'none';
          if (certificates.some((c) => c.status === 'active')) status = 'active';
          else if (pending) status = 'enrolment-pending';
          else if (certificates.length > 0) status = certificates[0].status === 'revoked' ? 'revoked' : 'expired';
          return { deviceId, status, ...withIso({ enrolmentPendingUntilMs: pending?.expiresMs ?? null }, 'enrolmentPendingUntilMs'), certificates };
        },
        { readOnly: true },
      );
    },
  );

  app.get(
    '/v1/ops/devices/certificates',
    {
      schema: {
        tags: ['ops', 'device-pki'],
        summary: 'Every device certificate with its status (revocations included), by device id',
        description:
          'Operators only. Every certificate issued to any device, with its status at the gateway clock, by device id; page with after = the last device id read.',
        security: BEARER,
        querystring: CertificateListQuery,
        response: {
          200: withExamples(
            CertificateList,
            { page: { summary: 'One certificate', value: { certificates: [CERTIFICATE_EXAMPLE] } } },
            'Certificates after `after`',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (request) => {
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      const nowMs = clock();
      const rows = await store.transaction((tx) => listCertificates(tx, request.query.after ?? '', limit), { readOnly: true });
      return { certificates: rows.map((c) => certificateWire(c, nowMs)) };
    },
  );
}
