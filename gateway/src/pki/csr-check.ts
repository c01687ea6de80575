/**
 * Certificate signing request checks before the CA signs anything (issue 9): the PEM parses,
 * the self-signature verifies (forge `csr.verify()`: proof that the requester holds the private
 * key and that nobody altered the request), the signature uses SHA-256 or stronger, the subject
 * CN equals the device id of the URL, and the key is RSA of an acceptable size. Results are
 * data: a refusal names its reason and changes nothing.
 */
import forge from 'node-forge';

export const CSR_PEM_MAX_CHARS = 16_384;
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 4096;

/** Signature algorithms accepted on a CSR: RSA PKCS#1 v1.5 with SHA-256/384/512. */
const ACCEPTED_SIGNATURE_OIDS = new Set([
  forge.pki.oids.sha256WithRSAEncryption,
  forge.pki.oids.sha384WithRSAEncryption,
  forge.pki.oids.sha512WithRSAEncryption,
]);

export type CsrRefusal = 'csr-unreadable' | 'csr-signature-invalid' | 'csr-weak-signature' | 'csr-common-name-mismatch' | 'csr-key-unsupported';

export type CsrCheck =
  | { ok: true; publicKey: forge.pki.rsa.PublicKey; commonName: string; keyBits: number }
  | { ok: false; reason: CsrRefusal; detail: string };

export function checkCsr(pem: string, deviceId: string): CsrCheck {
  if (typeof pem !== 'string' || pem.length > CSR_PEM_MAX_CHARS || !pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    return { ok: false, reason: 'csr-unreadable', detail: 'the CSR is not a PEM "CERTIFICATE REQUEST" of at most 16 KiB' };
  }
  let csr: forge.pki.CertificateSigningRequest;
  try {
    // forge throws on keys it cannot read (e.g. EC); the message names the problem.
    csr = forge.pki.certificationRequestFromPem(pem);
  } catch (error) {
    const message = (error as Error).message ?? '';
    if (/public key|OID is not RSA/i.test(message)) return { ok: false, reason: 'csr-key-unsupported', detail: 'the CSR key must be RSA (2048..4096 bits)' };
    return { ok: false, reason: 'csr-unreadable', detail: `the CSR does not parse: ${message.slice(0, 120)}` };
  }
  let verified = false;
  try {
    verified = csr.verify();
  } catch {
    verified = false;
  }
  if (!verified)
    return { ok: false, reason: 'csr-signature-invalid', detail: 'the CSR signature does not verify with its own public key (altered or corrupt request)' };
  if (!csr.signatureOid || !ACCEPTED_SIGNATURE_OIDS.has(csr.signatureOid)) {
    return { ok: false, reason: 'csr-weak-signature', detail: 'the CSR must be signed with SHA-256, SHA-384 or SHA-512 (RSA)' };
  }
  const cnFields = csr.subject.attributes.filter((a) => a.name === 'commonName' || a.shortName === 'CN');
  const commonName = cnFields.length === 1 ? String(cnFields[0].value) : '';
  if (commonName !== deviceId) {
    return {
      ok: false,
      reason: 'csr-common-name-mismatch',
      detail: cnFields.length === 1 ? `the CSR subject CN must be the device id ${deviceId}` : 'the CSR subject must have exactly one CN, the device id',
    };
  }
  const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!publicKey || typeof (publicKey as { n?: unknown }).n !== 'object')
    return { ok: false, reason: 'csr-key-unsupported', detail: 'the CSR key must be RSA' };
  const keyBits = publicKey.n.bitLength();
  if (keyBits < MIN_RSA_BITS || keyBits > MAX_RSA_BITS) {
    return { ok: false, reason: 'csr-key-unsupported', detail: `the CSR key has ${keyBits} bits; RSA ${MIN_RSA_BITS}..${MAX_RSA_BITS} is required` };
  }
  if (publicKey.e.intValue() !== 0x10001) return { ok: false, reason: 'csr-key-unsupported', detail: 'the CSR key must use the public exponent 65537' };
  return { ok: true, publicKey, commonName, keyBits };
}
