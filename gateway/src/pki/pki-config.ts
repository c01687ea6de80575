/**
 * Device PKI settings from the environment (issue 9). Defaults run the embedded setup out of the
 * box: the CA in `<database folder>/pki`, the device listener on 127.0.0.1:8443.
 *
 *   GATEWAY_DEVICE_PKI          auto (default): the embedded default (SQLite) creates the CA on
 *                               first run; with PostgreSQL (several instances) the CA is used only
 *                               if it exists (made once with `npm run gateway -- pki init` and
 *                               shared through GATEWAY_PKI_DIR), because instances that each made
 *                               their own CA would refuse each other's devices.
 *                               on: create if missing, whatever the store. off: no device CA (sync
 *                               stays on the main API with the bearer credential).
 *   GATEWAY_PKI_DIR             CA and listener key/certificate folder (default <db dir>/pki)
 *   DEVICE_PORT                 mutual-TLS device listener port (default 8443; 0 = ephemeral)
 *   DEVICE_HOST                 its bind address (default HOST, else 127.0.0.1)
 *   DEVICE_PUBLIC_HOST          the host name validators use, announced at enrolment and put in
 *                               the listener certificate (default the bind address)
 *   GATEWAY_DEVICE_HOSTNAMES    more names/IPs for the listener certificate, comma-separated
 *   GATEWAY_DEVICE_CERT_DAYS    device certificate lifetime in days (default 7, 1..90)
 *   GATEWAY_ENROLMENT_CODE_HOURS  enrolment code lifetime (default 72, 1..720)
 */
import { dirname, join, resolve } from 'node:path';
import { DAY_MS } from './device-ca.ts';
import { DEFAULT_DEVICE_PORT } from './device-pki.ts';

export interface DevicePkiConfig {
  enabled: boolean;
  /** Create the CA when the folder has none (else run without PKI until `pki init`). */
  createIfMissing: boolean;
  dir: string;
  devicePort: number;
  deviceHost: string;
  advertisedHost: string;
  hostnames: string[];
  certificateValidityMs: number;
  enrolmentCodeTtlMs: number;
}

export class PkiConfigError extends Error {
  override readonly name = 'PkiConfigError';
}

function intIn(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new PkiConfigError(`${name} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`);
  return value;
}

export function readPkiConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), sqlitePath?: string): DevicePkiConfig {
  const dataDir = dirname(resolve(cwd, sqlitePath ?? env.GATEWAY_DB ?? './var/gateway.db'));
  const deviceHost = env.DEVICE_HOST || env.HOST || '127.0.0.1';
  const wildcard = deviceHost === '0.0.0.0' || deviceHost === '::';
  const advertisedHost = env.DEVICE_PUBLIC_HOST || (wildcard ? 'localhost' : deviceHost);
  const extra = (env.GATEWAY_DEVICE_HOSTNAMES ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
  const hostnames = [...new Set(['localhost', '127.0.0.1', '::1', ...(wildcard ? [] : [deviceHost]), advertisedHost, ...extra])];
  const mode = (env.GATEWAY_DEVICE_PKI || 'auto').toLowerCase();
  if (!['auto', 'on', 'off'].includes(mode)) throw new PkiConfigError('GATEWAY_DEVICE_PKI must be auto, on or off');
  const embedded = !env.GATEWAY_DATABASE_URL;
  return {
    enabled: mode !== 'off',
    createIfMissing: mode === 'on' || (mode === 'auto' && embedded),
    dir: resolve(cwd, env.GATEWAY_PKI_DIR || join(dataDir, 'pki')),
    devicePort: intIn(env, 'DEVICE_PORT', DEFAULT_DEVICE_PORT, 0, 65_535),
    deviceHost,
    advertisedHost,
    hostnames,
    certificateValidityMs: intIn(env, 'GATEWAY_DEVICE_CERT_DAYS', 7, 1, 90) * DAY_MS,
    enrolmentCodeTtlMs: intIn(env, 'GATEWAY_ENROLMENT_CODE_HOURS', 72, 1, 720) * 60 * 60 * 1000,
  };
}
