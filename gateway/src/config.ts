/**
 * Configuration from the environment (issue 5, "Running it"): PORT, HOST, GATEWAY_DB (SQLite
 * path), GATEWAY_ADMIN_TOKEN, GATEWAY_KEY_FILE (master keys), GATEWAY_DATABASE_URL (PostgreSQL),
 * SUBWAY_NETWORK_CSV, GATEWAY_CLOCK_SKEW_ALERT_S (device clock skew alert threshold). Defaults run the embedded store at ./var/gateway.db on 127.0.0.1:8080.
 */
import { dirname, join, resolve } from 'node:path';

export interface GatewayConfig {
  host: string;
  port: number;
  sqlitePath: string;
  databaseUrl: string | undefined;
  adminToken: string | undefined;
  /** Where the generated admin token is written when GATEWAY_ADMIN_TOKEN is not set (mode 0600). */
  adminTokenFile: string;
  keyFile: string;
  subwayNetworkCsvPath: string | undefined;
  logLevel: string;
  /** Device clock skew over this is listed for alerting (GATEWAY_CLOCK_SKEW_ALERT_S); undefined = the policy default. */
  clockSkewAlertMs: number | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function readConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): GatewayConfig {
  const port = env.PORT === undefined || env.PORT === '' ? 8080 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ConfigError(`PORT must be an integer 0..65535, got ${JSON.stringify(env.PORT)}`);
  const sqlitePath = resolve(cwd, env.GATEWAY_DB || './var/gateway.db');
  const dataDir = dirname(sqlitePath);
  const adminToken = env.GATEWAY_ADMIN_TOKEN || undefined;
  if (adminToken !== undefined && !/^[A-Za-z0-9._~+/=-]{16,256}$/.test(adminToken)) {
    throw new ConfigError('GATEWAY_ADMIN_TOKEN must be 16..256 characters of [A-Za-z0-9._~+/=-]');
  }
  const skewSeconds =
    env.GATEWAY_CLOCK_SKEW_ALERT_S === undefined || env.GATEWAY_CLOCK_SKEW_ALERT_S === '' ? undefined : Number(env.GATEWAY_CLOCK_SKEW_ALERT_S);
  if (skewSeconds !== undefined && (!Number.isInteger(skewSeconds) || skewSeconds < 1 || skewSeconds > 31_536_000)) {
    throw new ConfigError(`GATEWAY_CLOCK_SKEW_ALERT_S must be an integer 1..31536000 (seconds), got ${JSON.stringify(env.GATEWAY_CLOCK_SKEW_ALERT_S)}`);
  }
  return {
    host: env.HOST || '127.0.0.1',
    port,
    sqlitePath,
    databaseUrl: env.GATEWAY_DATABASE_URL || undefined,
    adminToken,
    adminTokenFile: join(dataDir, 'admin-token'),
    keyFile: resolve(cwd, env.GATEWAY_KEY_FILE || join(dataDir, 'issuer-keys.json')),
    subwayNetworkCsvPath: env.SUBWAY_NETWORK_CSV ? resolve(cwd, env.SUBWAY_NETWORK_CSV) : undefined,
    logLevel: env.LOG_LEVEL || 'info',
    clockSkewAlertMs: skewSeconds === undefined ? undefined : skewSeconds * 1000,
  };
}
