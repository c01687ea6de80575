/**
 * Enrolment and renewal as the validator does them (issue 9).
 *
 * - `enrolWithCode`: the operator gave the device a one-time code; the device makes its key
 *   pair and CSR, sends the CSR with the code to the main API
 *   (POST /v1/devices/{id}/certificate) and installs the certificate and the CA it must pin.
 * - `enrolWithCredential`: the same with the device's existing bearer credential (devices
 *   registered before the CA existed).
 * - `enrolDevice`: both operator and device steps, for the demo and `npm start` fleets.
 * - `renewCertificate`: a new key and CSR over the mutual-TLS device listener, authenticated by
 *   the current certificate (POST /v1/devices/{id}/certificate/renewal).
 * Errors name the gateway's problem code; no key, code or credential is put in a message.
 */
import {
  createCertificateRequestAsync,
  installCertificate,
  loadDeviceIdentity,
  needsRenewal,
  type CertificateAnswer,
  type DeviceIdentity,
} from './device-identity.ts';
import { createMtlsFetch } from './mtls-fetch.ts';

export class EnrolmentError extends Error {
  override readonly name = 'EnrolmentError';
  constructor(
    message: string,
    readonly status: number | null,
    /** The gateway's stable problem code, when it answered one. */
    readonly code: string | null,
  ) {
    super(message);
  }
}

const trimUrl = (url: string): string => url.replace(/\/+$/, '');

async function answerOf<T>(res: Response, expected: number, what: string): Promise<T> {
  const text = await res.text();
  if (res.status === expected) return JSON.parse(text) as T;
  let code: string | null = null;
  let detail = text.slice(0, 300);
  try {
    const problem = JSON.parse(text) as { code?: string; detail?: string };
    code = problem.code ?? null;
    detail = problem.detail ?? detail;
  } catch {
    // not a problem document: keep the text
  }
  throw new EnrolmentError(`${what} failed: ${res.status}${code ? ` ${code}` : ''}: ${detail}`, res.status, code);
}

/** Operator step: a one-time enrolment code for a registered device. */
export async function requestEnrolmentCode(
  gatewayUrl: string,
  operatorToken: string,
  deviceId: string,
  fetchFn: typeof fetch = fetch,
): Promise<{ enrolmentCode: string; expiresMs: number }> {
  const res = await fetchFn(`${trimUrl(gatewayUrl)}/v1/devices/${encodeURIComponent(deviceId)}/enrolment`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}` },
  });
  return answerOf(res, 201, `enrolment code for ${deviceId}`);
}

export interface EnrolOptions {
  /** The device's folder (the identity file is written there, mode 0600). */
  dir: string;
  /** The main API (http://127.0.0.1:8080 by default). */
  gatewayUrl: string;
  deviceId: string;
  fetch?: typeof fetch;
}

async function submitCsr(options: EnrolOptions, body: Record<string, string>, headers: Record<string, string>): Promise<DeviceIdentity> {
  const fetchFn = options.fetch ?? fetch;
  const { csrPem } = await createCertificateRequestAsync(options.dir, options.deviceId);
  const res = await fetchFn(`${trimUrl(options.gatewayUrl)}/v1/devices/${encodeURIComponent(options.deviceId)}/certificate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ csr: csrPem, ...body }),
  });
  const answer = await answerOf<CertificateAnswer>(res, 201, `certificate for ${options.deviceId}`);
  return installCertificate(options.dir, options.deviceId, answer);
}

export function enrolWithCode(options: EnrolOptions & { enrolmentCode: string }): Promise<DeviceIdentity> {
  return submitCsr(options, { enrolmentCode: options.enrolmentCode }, {});
}

export function enrolWithCredential(options: EnrolOptions & { credential: string }): Promise<DeviceIdentity> {
  return submitCsr(options, {}, { authorization: `Bearer ${options.credential}` });
}

/** Operator and device steps together (demo, simulated fleets): code, key, CSR, certificate. */
export async function enrolDevice(options: EnrolOptions & { operatorToken: string }): Promise<DeviceIdentity> {
  const { enrolmentCode } = await requestEnrolmentCode(options.gatewayUrl, options.operatorToken, options.deviceId, options.fetch ?? fetch);
  return enrolWithCode({ ...options, enrolmentCode });
}

export interface RenewOptions {
  dir: string;
  /** The device listener URL; default the one the gateway announced at enrolment. */
  deviceUrl?: string;
  /** Injected for tests; default a mutual-TLS fetch with the current identity. */
  fetch?: typeof fetch;
}

/** Renews over mutual TLS with the current certificate; installs and returns the new identity. */
export async function renewCertificate(options: RenewOptions): Promise<DeviceIdentity> {
  const identity = loadDeviceIdentity(options.dir);
  if (!identity) throw new EnrolmentError('the device has no certificate to renew: enrol it first', null, null);
  const deviceUrl = options.deviceUrl ?? identity.deviceUrl;
  if (!deviceUrl) throw new EnrolmentError('no device listener URL: pass deviceUrl', null, null);
  const owned = options.fetch ? null : createMtlsFetch(identity, { keepAlive: false });
  const fetchFn = options.fetch ?? owned!;
  try {
    const { csrPem } = await createCertificateRequestAsync(options.dir, identity.deviceId);
    const res = await fetchFn(`${trimUrl(deviceUrl)}/v1/devices/${encodeURIComponent(identity.deviceId)}/certificate/renewal`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: csrPem }),
    });
    const answer = await answerOf<CertificateAnswer>(res, 201, `renewal for ${identity.deviceId}`);
    return installCertificate(options.dir, identity.deviceId, { ...answer, deviceUrl: answer.deviceUrl ?? deviceUrl });
  } finally {
    owned?.close();
  }
}

/** Renews when a third of the lifetime is left; returns the identity in force afterwards. */
export async function renewIfDue(options: RenewOptions & { nowMs: number }): Promise<{ identity: DeviceIdentity; renewed: boolean }> {
  const identity = loadDeviceIdentity(options.dir);
  if (!identity) throw new EnrolmentError('the device has no certificate: enrol it first', null, null);
  if (!needsRenewal(identity, options.nowMs)) return { identity, renewed: false };
  return { identity: await renewCertificate(options), renewed: true };
}
