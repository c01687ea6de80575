/**
 * The clearing centre's signing key (issue 18, docs/settlement.md): an RSA key (PKCS#8 PEM,
 * `clearing-centre.key.pem`, mode 0600) in the secrets folder and its self-signed certificate
 * (`clearing-centre.cert.pem`, public, served by GET /v1/settlement/certificate) beside it, mode 0600 too. It signs every closed business day's summary
 * (RSA PKCS#1 v1.5 over SHA-256; the certificate is made and read with node-forge, the library the
 * device CA uses, the RSA arithmetic done by node:crypto) and
 * the clearing files sent to other issuers; counterparties verify with the certificate. The key
 * never leaves this object: no getter returns it, nothing logs it.
 *
 * Without a key folder (tests, the demo) an ephemeral key is made on first use.
 */
import { createPrivateKey, sign as cryptoSign, verify as cryptoVerify, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

export const CLEARING_KEY_FILE = 'clearing-centre.key.pem';
export const CLEARING_CERT_FILE = 'clearing-centre.cert.pem';
export const CLEARING_CENTRE_CN = 'Beijing transit card clearing centre';
const VALIDITY_MS = 10 * 365 * 24 * 60 * 60 * 1000;

export class ClearingKeyError extends Error {
  override readonly name = 'ClearingKeyError';
}

export interface ClearingSigner {
  /** Base64 RSA-SHA256 signature of `text` (UTF-8). */
  sign(text: string): string;
  /** The certificate counterparties verify with (PEM). */
  readonly certificatePem: string;
  /** SHA-256 of the certificate's DER, hex. */
  readonly fingerprint: string;
}

/** Verifies a base64 RSA-SHA256 signature of `text` against a certificate (PEM); false on any mismatch. */
export function verifySignature(certificatePem: string, text: string, signatureBase64: string): boolean {
  try {
    // node:crypto for the RSA arithmetic (forge's pure-JS RSA takes ~200 ms a signature); the same PKCS#1 v1.5 signature.
    return cryptoVerify('sha256', Buffer.from(text, 'utf8'), new X509Certificate(certificatePem).publicKey, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}

function fingerprintOf(cert: forge.pki.Certificate): string {
  const der = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  const md = forge.md.sha256.create();
  md.update(der);
  return md.digest().toHex();
}

function selfSigned(keyPem: string, nowMs: number): string {
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(8))}`;
  cert.validity.notBefore = new Date(nowMs - 60_000);
  cert.validity.notAfter = new Date(nowMs + VALIDITY_MS);
  const attrs = [{ name: 'commonName', value: CLEARING_CENTRE_CN }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(key, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function newKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A signer over a key and certificate held in memory. */
export function clearingSignerOf(keyPem: string, certificatePem: string): ClearingSigner {
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.certificateFromPem(certificatePem);
  if ((cert.publicKey as forge.pki.rsa.PublicKey).n.compareTo(key.n) !== 0)
    throw new ClearingKeyError(`${CLEARING_KEY_FILE} does not match ${CLEARING_CERT_FILE}`);
  // Signing with node:crypto: RSA PKCS#1 v1.5 over SHA-256, the same bytes forge gives, without forge's ~200 ms of pure-JS RSA.
  const nodeKey = createPrivateKey(keyPem);
  return {
    certificatePem,
    fingerprint: fingerprintOf(cert),
    sign(text: string): string {
      return cryptoSign('sha256', Buffer.from(text, 'utf8'), nodeKey).toString('base64');
    },
  };
}

/** A fresh key and certificate in memory (tests, the demo, the simulated counterparty). */
export function ephemeralClearingSigner(nowMs = Date.now()): ClearingSigner {
  const keyPem = newKeyPem();
  return clearingSignerOf(keyPem, selfSigned(keyPem, nowMs));
}

let processSigner: ClearingSigner | undefined;
/**
 * One ephemeral key per process, made on first use: what buildGateway uses without a configured
 * key (tests, the demo), so many gateways in one process do not each pay for an RSA key.
 */
export function processEphemeralClearingSigner(): ClearingSigner {
  processSigner ??= ephemeralClearingSigner();
  return processSigner;
}

/** Made on first use: buildGateway without a configured key does not pay for a key it may never need. */
export function lazyClearingSigner(make: () => ClearingSigner): ClearingSigner {
  let signer: ClearingSigner | undefined;
  const get = (): ClearingSigner => (signer ??= make());
  return {
    sign: (text) => get().sign(text),
    get certificatePem() {
      return get().certificatePem;
    },
    get fingerprint() {
      return get().fingerprint;
    },
  };
}

/**
 * The key in `keyDir` and the certificate in `certDir` (both the secrets folder by default),
 * made there on first start (key mode 0600, written then renamed). A key readable by group or
 * others is refused.
 */
export function clearingSignerFromFolder(keyDir: string, certDir: string, nowMs: number, created: (path: string) => void = () => {}): ClearingSigner {
  const keyPath = join(keyDir, CLEARING_KEY_FILE);
  const certPath = join(certDir, CLEARING_CERT_FILE);
  if (!existsSync(keyPath)) {
    if (existsSync(certPath))
      throw new ClearingKeyError(`${certPath} exists without its key ${keyPath}: restore the key from the backup of the secrets folder`);
    const keyPem = newKeyPem();
    const certPem = selfSigned(keyPem, nowMs);
    created(keyPath);
    created(certPath);
    const tmp = `${keyPath}.${process.pid}.tmp`;
    writeFileSync(tmp, keyPem, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, keyPath);
    // 0600 like every file of the secrets folder (secrets.ts refuses others); GET /v1/settlement/certificate serves it.
    writeFileSync(certPath, certPem, { mode: 0o600 });
    chmodSync(certPath, 0o600);
  }
  const mode = statSync(keyPath).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new ClearingKeyError(`${keyPath} is readable by group or others (mode ${mode.toString(8)}); run chmod 600 on it`);
  if (!existsSync(certPath)) throw new ClearingKeyError(`${certPath} is missing: restore it from the backup of the secrets folder`);
  return clearingSignerOf(readFileSync(keyPath, 'utf8'), readFileSync(certPath, 'utf8'));
}
