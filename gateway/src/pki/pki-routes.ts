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
import type { FastifyInstance } from 'fastify';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { principalForToken } from '../auth/tokens.ts';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, queryInt, queryIntSchema, withProblems } from '../http/schemas.ts';
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
import { certificateAnswerSchema, csrBodySchema, issueDeviceCertificate, requirePki } from './device-pki.ts';

const DEVICE_ID_PARAM_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{16,256})$/;

const deviceIdParams = {
  type: 'object',
  required: ['deviceId'],
  properties: { deviceId: { type: 'string', pattern: DEVICE_ID_PARAM_PATTERN } },
} as const;

export const deviceCertificateSchema = {
  type: 'object',
  required: ['serial', 'deviceId', 'kind', 'notBeforeMs', 'notAfterMs', 'issuedMs', 'issuedVia', 'status', 'revokedMs'],
  properties: {
    serial: { type: 'string' },
    deviceId: { type: 'string' },
    kind: { type: 'string' },
    fingerprint: { type: 'string', description: 'SHA-256 of the certificate DER, hex' },
    notBeforeMs: { type: 'integer' },
    notAfterMs: { type: 'integer' },
    issuedMs: { type: 'integer' },
    issuedVia: { type: 'string', enum: ['enrolment', 'credential', 'renewal'] },
    status: { type: 'string', enum: ['active', 'expired', 'not-yet-valid', 'revoked'] },
    revokedMs: { type: ['integer', 'null'] },
    revokedBy: { type: ['string', 'null'] },
    revokedReason: { type: ['string', 'null'] },
  },
} as const;

function withStatus(record: DeviceCertificateRecord, nowMs: number) {
  return { ...record, status: certificateStatus(record, nowMs) };
}

export async function devicePkiRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock } = app.gateway;

  app.post<{ Params: { deviceId: string } }>(
    '/v1/devices/:deviceId/enrolment',
    {
      schema: {
        tags: ['device-pki'],
        summary: 'Create a one-time enrolment code for a registered device (shown once; a new code cancels the previous one)',
        security: bearerSecurity,
        params: deviceIdParams,
        response: withProblems(
          {
            201: {
              type: 'object',
              required: ['deviceId', 'enrolmentCode', 'expiresMs'],
              properties: {
                deviceId: { type: 'string' },
                enrolmentCode: { type: 'string', description: 'give it to the device; stored only as a hash' },
                expiresMs: { type: 'integer' },
              },
            },
          },
          [404, 409],
        ),
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
      return { deviceId, enrolmentCode: answer.code, expiresMs: answer.expiresMs };
    },
  );

  app.post<{ Params: { deviceId: string }; Body: { csr: string; enrolmentCode?: string } }>(
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
          'A refused request changes nothing (the enrolment code stays usable).',
        security: [{}, { bearerAuth: [] }],
        params: deviceIdParams,
        body: {
          type: 'object',
          required: ['csr'],
          additionalProperties: false,
          properties: { csr: csrBodySchema, enrolmentCode: { type: 'string', pattern: ENROLMENT_CODE_PATTERN } },
        },
        response: withProblems({ 201: certificateAnswerSchema }, [404, 409]),
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
        const match = BEARER.exec(request.headers.authorization ?? '');
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

  app.post<{ Params: { deviceId: string }; Body: { reason?: string } }>(
    '/v1/devices/:deviceId/revocation',
    {
      schema: {
        tags: ['device-pki'],
        summary: 'Revoke a device (stolen validator): its certificates, open enrolment codes and bearer credentials',
        security: bearerSecurity,
        params: deviceIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: 200 } },
        },
        response: withProblems(
          {
            200: {
              type: 'object',
              required: ['deviceId', 'revokedMs', 'revokedSerials', 'credentialsRevoked'],
              properties: {
                deviceId: { type: 'string' },
                revokedMs: { type: 'integer' },
                revokedSerials: { type: 'array', items: { type: 'string' } },
                credentialsRevoked: { type: 'integer' },
              },
            },
          },
          [404],
        ),
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
      return { deviceId, revokedMs: nowMs, revokedSerials: result.serials, credentialsRevoked: result.credentialsRevoked };
    },
  );

  app.get<{ Params: { deviceId: string } }>(
    '/v1/devices/:deviceId/certificates',
    {
      schema: {
        tags: ['device-pki'],
        summary: "A device's certificates, newest first, and its identity status",
        security: bearerSecurity,
        params: deviceIdParams,
        response: withProblems(
          {
            200: {
              type: 'object',
              required: ['deviceId', 'status', 'enrolmentPendingUntilMs', 'certificates'],
              properties: {
                deviceId: { type: 'string' },
                status: { type: 'string', enum: ['none', 'enrolment-pending', 'active', 'expired', 'revoked'] },
                enrolmentPendingUntilMs: { type: ['integer', 'null'] },
                certificates: { type: 'array', items: deviceCertificateSchema },
              },
            },
          },
          [404],
        ),
      },
    },
    async (request) => {
      const { deviceId } = request.params;
      const nowMs = clock();
      return store.transaction(
        async (tx) => {
          if (!(await findDevice(tx, deviceId))) throw new ApiError('device-not-found', `device ${deviceId} is not registered`);
          const certificates = (await certificatesOf(tx, deviceId)).map((c) => withStatus(c, nowMs));
          const pending = await pendingEnrolmentOf(tx, deviceId, nowMs);
          let status: 'none' | 'enrolment-pending' | 'active' | 'expired' | 'revoked' = 'none';
          if (certificates.some((c) => c.status === 'active')) status = 'active';
          else if (pending) status = 'enrolment-pending';
          else if (certificates.length > 0) status = certificates[0].status === 'revoked' ? 'revoked' : 'expired';
          return { deviceId, status, enrolmentPendingUntilMs: pending?.expiresMs ?? null, certificates };
        },
        { readOnly: true },
      );
    },
  );

  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/v1/ops/devices/certificates',
    {
      schema: {
        tags: ['ops', 'device-pki'],
        summary: 'Every device certificate with its status (revocations included), by device id',
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
          200: { type: 'object', required: ['certificates'], properties: { certificates: { type: 'array', items: deviceCertificateSchema } } },
        }),
      },
    },
    async (request) => {
      const limit = queryInt(request.query.limit, 100, 'limit', 1_000, 1);
      const nowMs = clock();
      const rows = await store.transaction((tx) => listCertificates(tx, request.query.after ?? '', limit), { readOnly: true });
      return { certificates: rows.map((c) => withStatus(c, nowMs)) };
    },
  );
}
