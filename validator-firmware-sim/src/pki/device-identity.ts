/**
 * The validator's own identity (issue 9): an RSA key pair generated on the device, a CSR the
 * gateway's device CA signs, and the resulting certificate plus the CA certificate the device
 * pins for the gateway's device listener. The private key never leaves the device folder.
 *
 * Files (in the device's folder, e.g. next to its SQLite database):
 *   device-identity.json      { deviceId, keyPem, certPem, caPem, deviceUrl }, mode 0600,
 *                             replaced atomically (write + rename), so key and certificate
 *                             always match even if the device dies mid-renewal
 *   device-identity.next.pem  the key of a pending CSR (mode 0600) until its certificate arrives
 */
import { createPrivateKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

export const IDENTITY_FILE = 'device-identity.json';
export const PENDING_KEY_FILE = 'device-identity.next.pem';
export const DEVICE_RSA_BITS = 2048;
const FORMAT = 'transit-device-identity/1';

export class DeviceIdentityError extends Error {
  override readonly name = 'DeviceIdentityError';
}

export interface DeviceIdentity {
  deviceId: string;
  keyPem: string;
  certPem: string;
  caPem: string;
  /** https URL of the gateway's device listener, as the gateway announced it (may be null). */
  deviceUrl: string | null;
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

/** What the gateway answers to an enrolment or a renewal. */
export interface CertificateAnswer {
  deviceId: string;
  serial: string;
  certificate: string;
  caCertificate: string;
  notBeforeMs: number;
  notAfterMs: number;
  deviceUrl: string | null;
}

function writePrivate(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function commonNameOf(x509: X509Certificate): string | null {
  const names = x509.subject.split('\n').filter((l) => l.startsWith('CN='));
  return names.length === 1 ? names[0].slice(3) : null;
}

function describe(deviceId: string, keyPem: string, certPem: string, caPem: string, deviceUrl: string | null): DeviceIdentity {
  const x509 = new X509Certificate(certPem);
  return {
    deviceId,
    keyPem,
    certPem,
    caPem,
    deviceUrl,
    serial: x509.serialNumber.toLowerCase(),
    notBeforeMs: Date.parse(x509.validFrom),
    notAfterMs: Date.parse(x509.validTo),
  };
}

/** The installed identity, or null when the device has not been enrolled. */
export function loadDeviceIdentity(dir: string): DeviceIdentity | null {
  const path = join(dir, IDENTITY_FILE);
  if (!existsSync(path)) return null;
  const doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  if (
    doc.format !== FORMAT ||
    typeof doc.deviceId !== 'string' ||
    typeof doc.keyPem !== 'string' ||
    typeof doc.certPem !== 'string' ||
    typeof doc.caPem !== 'string'
  ) {
    throw new DeviceIdentityError(`${path} is not a ${FORMAT} file`);
  }
  return describe(doc.deviceId, doc.keyPem, doc.certPem, doc.caPem, typeof doc.deviceUrl === 'string' ? doc.deviceUrl : null);
}

/**
 * Generates a new key pair (kept in the pending key file, mode 0600) and returns a CSR for it:
 * subject CN = device id, SHA-256. Renewal makes a new key too, so a key is never used longer
 * than one certificate lifetime.
 */
export function createCertificateRequest(dir: string, deviceId: string): { csrPem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: DEVICE_RSA_BITS, e: 0x10001 });
  return csrFor(dir, deviceId, keys.privateKey, keys.publicKey);
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * The same, with the key generated on libuv's thread pool: a fleet of simulated validators
 * enrolling at once (the demo) generates its keys in parallel instead of one after another.
 */
export async function createCertificateRequestAsync(dir: string, deviceId: string): Promise<{ csrPem: string }> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: DEVICE_RSA_BITS,
    publicExponent: 0x10001,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return csrFor(dir, deviceId, forgeKey, forge.pki.rsa.setPublicKey(forgeKey.n, forgeKey.e));
}

function csrFor(dir: string, deviceId: string, privateKey: forge.pki.rsa.PrivateKey, publicKey: forge.pki.rsa.PublicKey): { csrPem: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = publicKey;
  csr.setSubject([{ name: 'commonName', value: deviceId }]);
  csr.sign(privateKey, forge.md.sha256.create());
  writePrivate(join(dir, PENDING_KEY_FILE), forge.pki.privateKeyToPem(privateKey));
  return { csrPem: forge.pki.certificationRequestToPem(csr) };
}

/**
 * Checks the gateway's answer against the pending key (same public key, CN = device id, issued
 * by the CA in the answer, which must be the pinned CA when one is pinned) and installs it.
 */
export function installCertificate(dir: string, deviceId: string, answer: CertificateAnswer): DeviceIdentity {
  const pendingPath = join(dir, PENDING_KEY_FILE);
  if (!existsSync(pendingPath)) throw new DeviceIdentityError('no pending key: create a certificate request first');
  const keyPem = readFileSync(pendingPath, 'utf8');
  const current = loadDeviceIdentity(dir);
  const cert = new X509Certificate(answer.certificate);
  const ca = new X509Certificate(answer.caCertificate);
  if (current && new X509Certificate(current.caPem).fingerprint256 !== ca.fingerprint256) {
    throw new DeviceIdentityError('the answer names a different device CA than the pinned one');
  }
  if (!ca.ca || !cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new DeviceIdentityError('the certificate was not issued by the device CA');
  if (commonNameOf(cert) !== deviceId) throw new DeviceIdentityError(`the certificate does not name device ${deviceId}`);
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new DeviceIdentityError('the certificate is not for the pending key');
  }
  const deviceUrl = answer.deviceUrl ?? current?.deviceUrl ?? null;
  const doc = { format: FORMAT, deviceId, keyPem, certPem: answer.certificate, caPem: answer.caCertificate, deviceUrl };
  writePrivate(join(dir, IDENTITY_FILE), `${JSON.stringify(doc, null, 2)}\n`);
  rmSync(pendingPath, { force: true });
  return describe(deviceId, keyPem, answer.certificate, answer.caCertificate, deviceUrl);
}

/** Renew when less than this share of the lifetime is left (or the window below, whichever is larger). */
export const RENEW_WHEN_REMAINING_SHARE = 1 / 3;

/** True when the certificate should be renewed now (a third of its lifetime left, or expired). */
export function needsRenewal(identity: DeviceIdentity, nowMs: number): boolean {
  const lifetimeMs = identity.notAfterMs - identity.notBeforeMs;
  return identity.notAfterMs - nowMs <= lifetimeMs * RENEW_WHEN_REMAINING_SHARE;
}
