/**
 * Authentication on the device listener: the TLS client certificate is the credential.
 *
 * The listener runs with `requestCert: true, rejectUnauthorized: false`: the TLS stack still
 * checks that the client holds the certificate's private key (CertificateVerify), and reports
 * whether the chain verifies against the device CA; this hook then decides, so a refused device
 * gets a problem+json with a stable code instead of a bare handshake failure it cannot log.
 * A certificate is accepted only when
 *   1. it chains to the device CA (native signature check, and the TLS stack agrees up to time);
 *   2. the CA recorded its serial and fingerprint (a certificate the gateway never issued is
 *      refused even if signed with the CA key);
 *   3. it is not revoked (looked up on every request: a revocation stops the next sync, even on
 *      a kept-alive connection);
 *   4. the gateway's clock (injected, so tests advance it) is within notBefore..notAfter;
 *   5. its CN names the device id of the URL.
 * Node's own time errors are not trusted to decide: validity is judged by the gateway clock.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../http/problem.ts';
import type { Principal } from '../auth/principal.ts';
import type { DeviceCa } from './device-ca.ts';
import { findCertificate, type DeviceCertificateRecord } from './device-certificates.ts';

/** Verification errors of the TLS stack that only concern time: judged by the gateway clock instead. */
const TIME_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

interface PeerIdentity {
  x509: X509Certificate;
  commonName: string;
  serial: string;
  fingerprint: string;
  chained: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified device certificate on the device listener (null elsewhere). */
    deviceCertificate: DeviceCertificateRecord | null;
  }
}

export function commonNameOf(x509: X509Certificate): string | null {
  const names = x509.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
  return names.length === 1 ? names[0] : null;
}

/** Parsed and chain-checked once per TLS connection; revocation and time are checked per request. */
const peerCache = new WeakMap<TLSSocket, PeerIdentity | null>();

function peerIdentity(socket: TLSSocket, ca: DeviceCa): PeerIdentity | null {
  if (peerCache.has(socket)) return peerCache.get(socket) ?? null;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : null;
  let identity: PeerIdentity | null = null;
  if (peer?.raw && peer.raw.length > 0) {
    const x509 = new X509Certificate(peer.raw);
    const stackError = socket.authorized ? null : String(socket.authorizationError ?? 'unknown');
    const stackAgrees = stackError === null || TIME_ERRORS.has(stackError);
    identity = {
      x509,
      commonName: commonNameOf(x509) ?? '',
      serial: x509.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''),
      fingerprint: x509.fingerprint256.replace(/:/g, '').toLowerCase(),
      chained: stackAgrees && ca.issued(x509) && !x509.ca,
    };
  }
  peerCache.set(socket, identity);
  return identity;
}

function deviceIdParam(request: FastifyRequest): string | null {
  const params = (request.params ?? {}) as Record<string, unknown>;
  return typeof params.deviceId === 'string' ? params.deviceId : null;
}

export function registerMtlsAuthHook(app: FastifyInstance, ca: DeviceCa): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('deviceCertificate', null);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === undefined || request.routeOptions.config?.public) return;
    const socket = request.raw.socket as TLSSocket;
    const peer = peerIdentity(socket, ca);
    if (!peer)
      throw new ApiError('client-certificate-required', 'this port serves devices only: connect with the device certificate the gateway issued (mutual TLS)');
    if (!peer.chained) throw new ApiError('client-certificate-untrusted', "the client certificate does not chain to this gateway's device CA");
    const { store, clock } = app.gateway;
    const record = await store.transaction((tx) => findCertificate(tx, peer.serial), { readOnly: true });
    if (!record || record.fingerprint !== peer.fingerprint || record.deviceId !== peer.commonName) {
      throw new ApiError('client-certificate-untrusted', 'the client certificate is not one this gateway issued');
    }
    if (record.revokedMs !== null) {
      throw new ApiError(
        'client-certificate-revoked',
        `certificate ${record.serial} of device ${record.deviceId} was revoked; the device must be enrolled again by an operator`,
      );
    }
    const nowMs = clock();
    if (nowMs < record.notBeforeMs || nowMs > record.notAfterMs) {
      throw new ApiError(
        'client-certificate-expired',
        `certificate ${record.serial} is valid from ${new Date(record.notBeforeMs).toISOString()} to ${new Date(record.notAfterMs).toISOString()}; enrol again with a new code`,
      );
    }
    const urlDeviceId = deviceIdParam(request);
    if (urlDeviceId !== null && urlDeviceId !== peer.commonName) {
      throw new ApiError('client-certificate-wrong-device', `the certificate names device ${peer.commonName}, the URL names ${urlDeviceId}`);
    }
    const principal: Principal = { role: 'device', subject: peer.commonName, branchId: null, mustChangePassword: false, organisation: null, staffRole: null };
    request.principal = principal;
    request.deviceCertificate = record;
  });
}
