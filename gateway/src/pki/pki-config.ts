/**
 * Device PKI settings (issue 9, issue 14.4). They are read and validated with the rest of the
 * gateway's configuration in `../config.ts` (`readConfig(...).pki`); the variables, their
 * defaults and meaning are in the configuration table of docs/operations.md.
 *
 *   GATEWAY_DEVICE_PKI          auto (default): the device listener runs exactly when a device CA
 *                               exists (made once with `npm run gateway -- pki init`; the gateway
 *                               never creates one by itself). on: a CA must exist, else the gateway
 *                               refuses to start. off: do not use a CA even if one exists (sync
 *                               stays on the main API with the bearer credential).
 *   GATEWAY_PKI_DIR             certificates (CA, listener): public (default <db dir>/pki)
 *   GATEWAY_SECRETS_DIR         the CA's and the listener's private keys (with the other secrets)
 *   DEVICE_PORT                 mutual-TLS device listener port (default 8443; 0 = ephemeral)
 *   DEVICE_HOST                 its bind address (default HOST, else 127.0.0.1)
 *   DEVICE_PUBLIC_HOST          the host name validators use, announced at enrolment and put in
 *                               the listener certificate (default the bind address)
 *   GATEWAY_DEVICE_HOSTNAMES    more names/IPs for the listener certificate, comma-separated
 *   GATEWAY_DEVICE_CERT_DAYS    device certificate lifetime in days (default 7, 1..90)
 *   GATEWAY_ENROLMENT_CODE_HOURS  enrolment code lifetime (default 72, 1..720)
 */

export type DevicePkiMode = 'auto' | 'on' | 'off';

export interface DevicePkiConfig {
  /** auto: use the CA when it exists; on: require it; off: never use it. */
  mode: DevicePkiMode;
  /** Certificates (public): device-ca.cert.pem, device-server.cert.pem. */
  dir: string;
  /** Private keys: device-ca.key.pem, device-server.key.pem (the secrets folder). */
  keyDir: string;
  devicePort: number;
  deviceHost: string;
  advertisedHost: string;
  hostnames: string[];
  certificateValidityMs: number;
  enrolmentCodeTtlMs: number;
}
