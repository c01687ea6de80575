/**
 * The device PKI as the gateway runs it (issue 9): the CA, the policies (certificate lifetime,
 * enrolment code lifetime), where devices reach the mutual-TLS listener, and the one issuing
 * path shared by enrolment (main API) and renewal (device listener).
 *
 * `installDevicePki(app, pki)` is called by buildGateway after the auth hook: it decorates
 * `app.devicePki` and, when a CA is configured, answers the main API's sync route with a
 * problem that points to the device port (validators sync only over mutual TLS then). Only
 * authenticated callers get that answer: without a credential the auth hook's 401 comes first,
 * and tells nothing about the deployment.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import { msAndIso, Nullable, type Static, timestamp, Type } from '../http/wire.ts';
import type { Store, Tx } from '../store/store-port.ts';
import { checkCsr } from './csr-check.ts';
import { DAY_MS, type DeviceCa } from './device-ca.ts';
import { checkEnrolmentCode, consumeEnrolmentCode, insertCertificate, type EnrolmentCodeCheck, type IssuedVia } from './device-certificates.ts';

export const DEFAULT_DEVICE_CERT_VALIDITY_MS = 7 * DAY_MS;
export const DEFAULT_ENROLMENT_CODE_TTL_MS = 3 * DAY_MS;
export const DEFAULT_DEVICE_PORT = 8443;
/** The main API's sync route (routes/sync.ts). */
export const SYNC_ROUTE_URL = '/v1/devices/:deviceId/sync';

export interface DevicePki {
  ca: DeviceCa;
  /** Lifetime of issued device certificates (short: revocation by expiry is the backstop). */
  certificateValidityMs: number;
  enrolmentCodeTtlMs: number;
  /** https://host:port of the mutual-TLS device listener, once known (shown in answers). */
  deviceUrl: string | null;
}

export function makeDevicePki(ca: DeviceCa, options: Partial<Omit<DevicePki, 'ca'>> = {}): DevicePki {
  const pki: DevicePki = {
    ca,
    certificateValidityMs: options.certificateValidityMs ?? DEFAULT_DEVICE_CERT_VALIDITY_MS,
    enrolmentCodeTtlMs: options.enrolmentCodeTtlMs ?? DEFAULT_ENROLMENT_CODE_TTL_MS,
    deviceUrl: options.deviceUrl ?? null,
  };
  if (!Number.isSafeInteger(pki.certificateValidityMs) || pki.certificateValidityMs < 60_000)
    throw new RangeError('certificateValidityMs must be at least one minute');
  if (!Number.isSafeInteger(pki.enrolmentCodeTtlMs) || pki.enrolmentCodeTtlMs < 60_000) throw new RangeError('enrolmentCodeTtlMs must be at least one minute');
  return pki;
}

export const PKI_ERROR_CODES = {
  'invalid-csr': { status: 400, title: 'The certificate signing request is refused' },
  'enrolment-code-invalid': { status: 401, title: 'The enrolment code is unknown, used, expired, cancelled or for another device' },
  'device-pki-disabled': { status: 409, title: 'The gateway has no device CA (npm run gateway -- pki init)' },
  'sync-requires-device-tls': { status: 403, title: 'Validator sync is served only on the mutual-TLS device port' },
  'client-certificate-required': { status: 401, title: 'Present a device certificate issued by the device CA' },
  'client-certificate-untrusted': { status: 401, title: "The client certificate was not issued by this gateway's device CA" },
  'client-certificate-expired': { status: 401, title: 'The client certificate is outside its validity period' },
  'client-certificate-revoked': { status: 403, title: 'The device certificate has been revoked' },
  'client-certificate-wrong-device': { status: 403, title: 'The client certificate names another device' },
} as const;
registerErrorCodes(PKI_ERROR_CODES);

declare module 'fastify' {
  interface FastifyInstance {
    /** The device PKI, or null when the gateway runs without a device CA. */
    devicePki: DevicePki | null;
  }
}

export function installDevicePki(app: FastifyInstance, pki: DevicePki | null | undefined): void {
  app.decorate('devicePki', pki ?? null);
  if (!pki) return;
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url !== SYNC_ROUTE_URL) return;
    const deviceId = String((request.params as { deviceId?: unknown }).deviceId ?? '');
    const where = pki.deviceUrl ? `${pki.deviceUrl}/v1/devices/${encodeURIComponent(deviceId)}/sync` : 'the device port (DEVICE_PORT)';
    throw new ApiError('sync-requires-device-tls', `validator sync is served only over mutual TLS with a device certificate: POST ${where}`, {
      deviceUrl: pki.deviceUrl,
    });
  });
}

export function requirePki(app: FastifyInstance): DevicePki {
  if (!app.devicePki) throw new ApiError('device-pki-disabled', 'this gateway runs without a device CA; run `npm run gateway -- pki init` and restart');
  return app.devicePki;
}

const EXAMPLE_NOT_BEFORE_MS = Date.UTC(2026, 2, 10, 1, 55, 0);

/** What a device receives with a new certificate (enrolment on the main API, renewal on the device port). */
export const CertificateAnswer = Type.Object({
  deviceId: Type.String({ description: 'the device', examples: ['gate-0101'] }),
  serial: Type.String({ description: 'certificate serial, hex', examples: ['5A0E3C9B1F2D4E6A'] }),
  certificate: Type.String({
    description: 'PEM certificate: CN = device id, OU = device kind',
    examples: ['-----BEGIN CERTIFICATE-----\nMIID…\n-----END CERTIFICATE-----\n'],
  }),
  caCertificate: Type.String({
    description: 'PEM device CA certificate: pin it for the device listener',
    examples: ['-----BEGIN CERTIFICATE-----\nMIIF…\n-----END CERTIFICATE-----\n'],
  }),
  ...timestamp('notBeforeMs', 'the certificate is valid from', EXAMPLE_NOT_BEFORE_MS),
  ...timestamp('notAfterMs', 'the certificate is valid until', EXAMPLE_NOT_BEFORE_MS + DEFAULT_DEVICE_CERT_VALIDITY_MS),
  deviceUrl: Nullable(
    Type.String({ description: 'https URL of the mutual-TLS device listener; null when not known yet', examples: ['https://gateway.example:8443'] }),
  ),
});
export type CertificateAnswer = Static<typeof CertificateAnswer>;

export type IssueAuthorisation = { via: 'enrolment'; code: string } | { via: 'credential' | 'renewal' };

const CODE_DETAIL: Record<Exclude<EnrolmentCodeCheck, 'usable'>, string> = {
  unknown: 'the enrolment code is unknown',
  used: 'the enrolment code has been used',
  expired: 'the enrolment code has expired; ask the operator for a new one',
  cancelled: 'the enrolment code was cancelled (a newer code or a revocation)',
  'other-device': 'the enrolment code belongs to another device',
};

async function deviceKindOf(tx: Tx, deviceId: string): Promise<string> {
  const row = await tx.get<{ kind: string }>('SELECT kind FROM devices WHERE device_id = ?', [deviceId]);
  if (!row) throw new ApiError('device-not-found', `device ${deviceId} is not registered`);
  return String(row.kind);
}

/**
 * Checks the CSR, signs outside any transaction (forge signing takes milliseconds and must not
 * hold SQLite's write lock), then records the certificate and consumes the enrolment code in one
 * transaction. Every refusal happens before that transaction, so a refused request changes
 * nothing; a certificate signed but not recorded is worthless (the device listener accepts only
 * recorded serials).
 */
export async function issueDeviceCertificate(
  store: Store,
  pki: DevicePki,
  input: { deviceId: string; csrPem: string; authorisation: IssueAuthorisation; nowMs: number },
): Promise<CertificateAnswer> {
  const csr = checkCsr(input.csrPem, input.deviceId);
  if (!csr.ok) throw new ApiError('invalid-csr', csr.detail, { reason: csr.reason });
  const { authorisation, deviceId, nowMs } = input;
  const kind = await store.transaction(
    async (tx) => {
      const deviceKind = await deviceKindOf(tx, deviceId);
      if (authorisation.via === 'enrolment') {
        const check = await checkEnrolmentCode(tx, authorisation.code, deviceId, nowMs);
        if (check !== 'usable') throw new ApiError('enrolment-code-invalid', CODE_DETAIL[check]);
      }
      return deviceKind;
    },
    { readOnly: true },
  );
  const issued = pki.ca.issueDeviceCertificate({ publicKey: csr.publicKey, deviceId, kind, nowMs, validityMs: pki.certificateValidityMs });
  await store.transaction(async (tx) => {
    if (authorisation.via === 'enrolment') {
      const check = await checkEnrolmentCode(tx, authorisation.code, deviceId, nowMs);
      if (check !== 'usable' || !(await consumeEnrolmentCode(tx, authorisation.code, issued.serial, nowMs))) {
        throw new ApiError('enrolment-code-invalid', check === 'usable' ? CODE_DETAIL.used : CODE_DETAIL[check]);
      }
    }
    await insertCertificate(tx, {
      serial: issued.serial,
      deviceId,
      kind,
      fingerprint: issued.fingerprint,
      notBeforeMs: issued.notBeforeMs,
      notAfterMs: issued.notAfterMs,
      issuedMs: nowMs,
      issuedVia: authorisation.via as IssuedVia,
    });
  });
  return {
    deviceId,
    serial: issued.serial,
    certificate: issued.pem,
    caCertificate: pki.ca.certificatePem,
    ...msAndIso('notBeforeMs', issued.notBeforeMs),
    ...msAndIso('notAfterMs', issued.notAfterMs),
    deviceUrl: pki.deviceUrl,
  };
}

/** The answer schema the device listener's renewal route declares (the same shape). */
export const certificateAnswerSchema = CertificateAnswer;

export const csrBodySchema = Type.String({
  minLength: 1,
  maxLength: 16_384,
  description: 'PEM certificate signing request (PKCS 10); subject CN = device id; RSA 2048..4096; signed with SHA-256+',
  examples: ['-----BEGIN CERTIFICATE REQUEST-----\nMIIC…\n-----END CERTIFICATE REQUEST-----\n'],
});
