/**
 * The device certificate authority (issue 9), built with node-forge.
 *
 * Files: the private keys in the key folder (the gateway's secrets folder, GATEWAY_SECRETS_DIR),
 * the certificates in the PKI folder (GATEWAY_PKI_DIR, default next to the database):
 *   <keys>/device-ca.key.pem       CA private key (PKCS#8 PEM), mode 0600, never printed or logged
 *   <pki>/device-ca.cert.pem       self-signed CA certificate (devices pin it)
 *   <keys>/device-server.key.pem   TLS key of the device listener, mode 0600
 *   <pki>/device-server.cert.pem   its certificate, issued by the CA (CN gateway-device-listener)
 * Without a key folder both sit in the PKI folder (tests, tools).
 *
 * The CA is created only on request (`ensureDeviceCa`: `npm run gateway -- pki init`, the demo);
 * the gateway loads an existing one with `loadDeviceCa`.
 *
 * The CA key lives only in a private field of `DeviceCa`; `toJSON`/inspect show public data
 * only, so an accidental `log.info({ ca })` cannot leak it. A key file that group or others can
 * read is refused (chmod 600), like the issuer key file.
 *
 * RSA 2048: forge does RSA only; its keygen uses node:crypto's native generator when present
 * (about 0.1 s), signing is forge's own (a few ms per certificate, fine for enrolments).
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

export const CA_KEY_FILE = 'device-ca.key.pem';
export const CA_CERT_FILE = 'device-ca.cert.pem';
export const SERVER_KEY_FILE = 'device-server.key.pem';
export const SERVER_CERT_FILE = 'device-server.cert.pem';

export const CA_RSA_BITS = 2048;
export const DAY_MS = 24 * 60 * 60 * 1000;
/** The CA outlives many device certificates; rotating it means re-enrolling the fleet. */
export const CA_VALIDITY_MS = 10 * 365 * DAY_MS;
export const SERVER_CERT_VALIDITY_MS = 365 * DAY_MS;
/** A server certificate closer than this to its end is replaced at start. */
export const SERVER_CERT_RENEW_BEFORE_MS = 30 * DAY_MS;
/** Backdating covers clock skew between the gateway and validators. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

export const DEVICE_CERT_ORGANIZATION = 'Transit purse devices';
export const SERVER_CERT_CN = 'gateway-device-listener';

export class DevicePkiError extends Error {
  override readonly name = 'DevicePkiError';
}

export interface IssuedCertificate {
  pem: string;
  /** Hex, lower case, positive (top bit clear). */
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
  /** SHA-256 of the DER, hex. */
  fingerprint: string;
}

export interface DeviceCertificateRequest {
  /** The device's public key, taken from a CSR that checkCsr accepted. */
  publicKey: forge.pki.rsa.PublicKey;
  deviceId: string;
  /** The registry kind (subway-gate, bus-validator, ...), written as the OU. */
  kind: string;
  nowMs: number;
  validityMs: number;
}

function newSerialHex(): string {
  const bytes = randomBytes(16);
  // 0x40..0x7f first: the DER INTEGER stays positive and every tool prints the same 32 hex digits.
  bytes[0] = 0x40 | (bytes[0] & 0x3f);
  return bytes.toString('hex');
}

export function fingerprintOfPem(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

function derOf(cert: forge.pki.Certificate): Buffer {
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

function writeSecret(path: string, text: string): void {
  // Write then rename: a crash never leaves a half-written key under the real name.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function writePublic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

function readSecret(path: string): string {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new DevicePkiError(`${path} is readable by group or others (mode ${mode.toString(8)}); run chmod 600 on it`);
  return readFileSync(path, 'utf8');
}

function subjectAttrs(commonName: string, unit?: string): forge.pki.CertificateField[] {
  const attrs: forge.pki.CertificateField[] = [{ name: 'organizationName', value: DEVICE_CERT_ORGANIZATION }];
  if (unit !== undefined) attrs.push({ shortName: 'OU', value: unit });
  attrs.push({ name: 'commonName', value: commonName });
  return attrs;
}

export class DeviceCa {
  readonly certificatePem: string;
  readonly fingerprint: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** True when this call created the CA (first run). */
  readonly created: boolean;
  /** Certificates (public). */
  readonly dir: string;
  /** Private keys (mode 0600). */
  readonly keyDir: string;
  readonly #key: forge.pki.rsa.PrivateKey;
  readonly #cert: forge.pki.Certificate;
  readonly #x509: X509Certificate;

  constructor(dir: string, keyPem: string, certPem: string, created: boolean, keyDir: string = dir) {
    this.dir = dir;
    this.keyDir = keyDir;
    this.#key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
    this.#cert = forge.pki.certificateFromPem(certPem);
    this.#x509 = new X509Certificate(certPem);
    const pub = this.#cert.publicKey as forge.pki.rsa.PublicKey;
    if (pub.n.compareTo(this.#key.n) !== 0) throw new DevicePkiError(`${CA_KEY_FILE} does not match ${CA_CERT_FILE}`);
    if (!this.#x509.ca) throw new DevicePkiError(`${CA_CERT_FILE} is not a CA certificate`);
    this.certificatePem = certPem;
    this.fingerprint = fingerprintOfPem(certPem);
    this.notBeforeMs = this.#cert.validity.notBefore.getTime();
    this.notAfterMs = this.#cert.validity.notAfter.getTime();
    this.created = created;
  }

  /** The CA certificate as node:crypto sees it (chain checks on the device listener). */
  get x509(): X509Certificate {
    return this.#x509;
  }

  /** True when `cert` was issued and signed by this CA (signature checked natively). */
  issued(cert: X509Certificate): boolean {
    return cert.checkIssued(this.#x509) && cert.verify(this.#x509.publicKey);
  }

  /** Issues a device (TLS client) certificate: CN = device id, OU = kind. */
  issueDeviceCertificate(request: DeviceCertificateRequest): IssuedCertificate {
    return this.#issue({
      publicKey: request.publicKey,
      subject: subjectAttrs(request.deviceId, request.kind),
      nowMs: request.nowMs,
      validityMs: request.validityMs,
      extKeyUsage: { clientAuth: true },
      altNames: [{ type: 6, value: `urn:transit-purse:device:${request.kind}:${request.deviceId}` }],
    });
  }

  /** Issues the device listener's TLS server certificate for these host names / IP addresses. */
  issueServerCertificate(
    publicKey: forge.pki.rsa.PublicKey,
    hostnames: readonly string[],
    nowMs: number,
    validityMs: number = SERVER_CERT_VALIDITY_MS,
  ): IssuedCertificate {
    const altNames = hostnames.map((h) => (/^[0-9.]+$/.test(h) || h.includes(':') ? { type: 7, ip: h } : { type: 2, value: h }));
    return this.#issue({ publicKey, subject: subjectAttrs(SERVER_CERT_CN), nowMs, validityMs, extKeyUsage: { serverAuth: true }, altNames });
  }

  #issue(input: {
    publicKey: forge.pki.rsa.PublicKey;
    subject: forge.pki.CertificateField[];
    nowMs: number;
    validityMs: number;
    extKeyUsage: Record<string, boolean>;
    altNames: Array<Record<string, unknown>>;
  }): IssuedCertificate {
    if (!Number.isSafeInteger(input.validityMs) || input.validityMs <= 0) throw new RangeError('validityMs must be a positive integer');
    const notBeforeMs = Math.max(input.nowMs - CLOCK_SKEW_MS, this.notBeforeMs);
    // Never beyond the CA itself: a chain is only as valid as its shortest link.
    const notAfterMs = Math.min(input.nowMs + input.validityMs, this.notAfterMs);
    if (notAfterMs <= input.nowMs)
      throw new DevicePkiError('the device CA has expired; move the PKI directory aside, run `npm run gateway -- pki init` and re-enrol the devices');
    const cert = forge.pki.createCertificate();
    cert.publicKey = input.publicKey;
    cert.serialNumber = newSerialHex();
    // Whole seconds: X.509 times have no milliseconds, so the stored numbers match the certificate.
    cert.validity.notBefore = new Date(Math.ceil(notBeforeMs / 1000) * 1000);
    cert.validity.notAfter = new Date(Math.floor(notAfterMs / 1000) * 1000);
    cert.setSubject(input.subject);
    cert.setIssuer(this.#cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', ...input.extKeyUsage },
      { name: 'subjectAltName', altNames: input.altNames },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.#key, forge.md.sha256.create());
    const pem = forge.pki.certificateToPem(cert);
    return {
      pem,
      serial: cert.serialNumber.toLowerCase(),
      notBeforeMs: cert.validity.notBefore.getTime(),
      notAfterMs: cert.validity.notAfter.getTime(),
      fingerprint: createHash('sha256').update(derOf(cert)).digest('hex'),
    };
  }

  toJSON(): Record<string, unknown> {
    return { dir: this.dir, keyDir: this.keyDir, fingerprint: this.fingerprint, notBeforeMs: this.notBeforeMs, notAfterMs: this.notAfterMs };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DeviceCa ${JSON.stringify(this.toJSON())}`;
  }
}

export interface EnsureDeviceCaOptions {
  /** Epoch ms for the CA validity (default Date.now; the TLS stack checks real time). */
  nowMs?: number;
  commonName?: string;
  /** Folder of the private keys (default: the certificate folder). */
  keyDir?: string;
}

export function deviceCaExists(dir: string, keyDir: string = dir): boolean {
  return existsSync(join(keyDir, CA_KEY_FILE)) && existsSync(join(dir, CA_CERT_FILE));
}

/** Is any part of a device CA in these folders (a key or a certificate)? */
export function deviceCaPartlyExists(dir: string, keyDir: string = dir): boolean {
  return existsSync(join(keyDir, CA_KEY_FILE)) || existsSync(join(dir, CA_CERT_FILE));
}

const CREATE_LOCK_FILE = '.device-ca.create.lock';
const CREATE_WAIT_MS = 15_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Loads an existing CA; never creates one. A missing or half-present CA (key without
 * certificate or the other way round) is a DevicePkiError naming the files.
 */
export function loadDeviceCa(dir: string, options: { keyDir?: string } = {}): DeviceCa {
  const keyDir = options.keyDir ?? dir;
  const keyPath = join(keyDir, CA_KEY_FILE);
  const certPath = join(dir, CA_CERT_FILE);
  if (!existsSync(keyPath) && !existsSync(certPath)) throw new DevicePkiError(`no device CA (${keyPath}, ${certPath}): run "npm run gateway -- pki init"`);
  if (!existsSync(keyPath)) throw new DevicePkiError(`${certPath} is there but its key ${keyPath} is not; restore the key or remove both`);
  if (!existsSync(certPath)) throw new DevicePkiError(`${keyPath} is there but its certificate ${certPath} is not; restore the certificate or remove both`);
  return new DeviceCa(dir, readSecret(keyPath), readFileSync(certPath, 'utf8'), false, keyDir);
}

/**
 * Loads the CA, creating key and self-signed certificate when there is none (`pki init`, the
 * demo; never `npm start`). Processes running at once on one folder agree on one CA: the creator
 * holds an exclusive lock file, the others wait for it to finish and load what it wrote.
 */
export function ensureDeviceCa(dir: string, options: EnsureDeviceCaOptions = {}): DeviceCa {
  const keyDir = options.keyDir ?? dir;
  const keyPath = join(keyDir, CA_KEY_FILE);
  const certPath = join(dir, CA_CERT_FILE);
  const lockPath = join(keyDir, CREATE_LOCK_FILE);
  const load = (): DeviceCa => {
    if (!existsSync(keyPath) && !existsSync(certPath)) {
      throw new DevicePkiError(`no device CA in ${dir} and ${lockPath} is held; if no gateway is creating the CA right now, remove that file`);
    }
    return loadDeviceCa(dir, { keyDir });
  };
  const deadline = Date.now() + CREATE_WAIT_MS;
  while (existsSync(lockPath) && Date.now() < deadline) sleepSync(50);
  if (existsSync(keyPath) || existsSync(certPath)) return load();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  let lock: number;
  try {
    lock = openSync(lockPath, 'wx', 0o600);
  } catch {
    // Another process is creating it right now.
    while (existsSync(lockPath) && Date.now() < deadline) sleepSync(50);
    return load();
  }
  try {
    return createDeviceCa(dir, keyDir, keyPath, certPath, options);
  } finally {
    closeSync(lock);
    rmSync(lockPath, { force: true });
  }
}

function createDeviceCa(dir: string, keyDir: string, keyPath: string, certPath: string, options: EnsureDeviceCaOptions): DeviceCa {
  const nowMs = options.nowMs ?? Date.now();
  const keys = forge.pki.rsa.generateKeyPair({ bits: CA_RSA_BITS, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = newSerialHex();
  // Valid at both the injected time (device certificates are judged by it) and the real time
  // (the validators' TLS stack checks the chain of the listener certificate by the wall clock),
  // so a simulated day in another year still works.
  const realMs = Date.now();
  cert.validity.notBefore = new Date(Math.floor((Math.min(nowMs, realMs) - DAY_MS) / 1000) * 1000);
  cert.validity.notAfter = new Date(Math.floor((Math.max(nowMs, realMs) + CA_VALIDITY_MS) / 1000) * 1000);
  const subject = subjectAttrs(options.commonName ?? 'Transit purse device CA');
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    // pathLen 0: the CA signs device and listener certificates only, never another CA.
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const keyPem = forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keys.privateKey)));
  const certPem = forge.pki.certificateToPem(cert);
  writeSecret(keyPath, keyPem);
  writePublic(certPath, certPem);
  return new DeviceCa(dir, keyPem, certPem, true, keyDir);
}

export interface ServerTlsMaterial {
  keyPem: string;
  certPem: string;
  hostnames: string[];
  notAfterMs: number;
}

/**
 * The device listener's key and certificate, issued by the CA; replaced when missing, near its
 * end, issued by another CA, or not covering the configured host names.
 */
export function ensureServerTls(ca: DeviceCa, hostnames: readonly string[], nowMs: number = Date.now()): ServerTlsMaterial {
  const keyPath = join(ca.keyDir, SERVER_KEY_FILE);
  const certPath = join(ca.dir, SERVER_CERT_FILE);
  const wanted = [...new Set(hostnames)].sort();
  if (existsSync(keyPath) && existsSync(certPath)) {
    const keyPem = readSecret(keyPath);
    const certPem = readFileSync(certPath, 'utf8');
    const x509 = new X509Certificate(certPem);
    const names = (x509.subjectAltName ?? '')
      .split(', ')
      .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
      .filter((entry) => entry.length > 0);
    const notAfterMs = Date.parse(x509.validTo);
    const covers = wanted.every((h) => names.includes(h));
    if (ca.issued(x509) && covers && notAfterMs - nowMs > SERVER_CERT_RENEW_BEFORE_MS) return { keyPem, certPem, hostnames: names, notAfterMs };
  }
  const keys = forge.pki.rsa.generateKeyPair({ bits: CA_RSA_BITS, e: 0x10001 });
  const issued = ca.issueServerCertificate(keys.publicKey, wanted, nowMs);
  const keyPem = forge.pki.privateKeyToPem(keys.privateKey);
  writeSecret(keyPath, keyPem);
  writePublic(certPath, issued.pem);
  return { keyPem, certPem: issued.pem, hostnames: wanted, notAfterMs: issued.notAfterMs };
}
