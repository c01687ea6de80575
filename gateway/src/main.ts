/**
 * `npm start`: the gateway on the embedded default (SQLite file), or PostgreSQL when
 * GATEWAY_DATABASE_URL is set. Secrets are never printed: a generated admin token goes to a
 * file next to the database (mode 0600) and the log says only where it is; master keys come
 * from the key file (generated on first run, mode 0600).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildGateway } from './app.ts';
import { newToken } from './auth/tokens.ts';
import { readConfig } from './config.ts';
import { issuerKeyServiceFromFile } from '#issuer/key-file';
import { createStore } from './store/create-store.ts';
import { readPkiConfig } from './pki/pki-config.ts';
import { devicePkiFromConfig, startDevicePkiListener } from './pki/start-device-pki.ts';

/** The admin token from the environment, else the one in the token file, else a new one written there. */
function adminTokenFrom(config: ReturnType<typeof readConfig>): { token: string; source: 'env' | 'file' | 'generated' } {
  if (config.adminToken) return { token: config.adminToken, source: 'env' };
  if (existsSync(config.adminTokenFile)) {
    const token = readFileSync(config.adminTokenFile, 'utf8').trim();
    if (token.length >= 16) return { token, source: 'file' };
  }
  mkdirSync(dirname(config.adminTokenFile), { recursive: true });
  const token = newToken();
  writeFileSync(config.adminTokenFile, `${token}\n`, { mode: 0o600 });
  chmodSync(config.adminTokenFile, 0o600);
  return { token, source: 'generated' };
}

async function main(): Promise<void> {
  const config = readConfig();
  mkdirSync(dirname(config.sqlitePath), { recursive: true });
  const store = await createStore({ sqlitePath: config.sqlitePath, databaseUrl: config.databaseUrl });
  const keys = issuerKeyServiceFromFile(config.keyFile);
  const admin = adminTokenFrom(config);
  // Device PKI (issue 9): the CA is created on first run; sync then moves to the mutual-TLS port.
  const pkiConfig = readPkiConfig(process.env, process.cwd(), config.sqlitePath);
  const devicePki = devicePkiFromConfig(pkiConfig);
  const app = await buildGateway({
    store,
    keys,
    adminToken: admin.token,
    logger: { level: config.logLevel },
    subwayNetworkCsvPath: config.subwayNetworkCsvPath,
    devicePki,
    policies: config.clockSkewAlertMs === undefined ? {} : { deviceClockSkewAlertMs: config.clockSkewAlertMs },
  });
  if (admin.source !== 'env') app.log.info({ adminTokenFile: config.adminTokenFile }, 'operator token is in this file (mode 0600)');
  app.log.info({ store: store.dialect, keyFile: config.keyFile }, 'gateway starting');
  if (devicePki) {
    app.log.info(
      { pkiDir: pkiConfig.dir, caFingerprint: devicePki.ca.fingerprint, created: devicePki.ca.created },
      devicePki.ca.created ? 'device CA created (key mode 0600)' : 'device CA loaded',
    );
  } else {
    app.log.warn(
      { pkiDir: pkiConfig.dir },
      'no device CA (GATEWAY_DEVICE_PKI=off, or none in the folder: npm run gateway -- pki init): validators sync on the main API with bearer credentials',
    );
  }
  if (!['127.0.0.1', '::1', 'localhost'].includes(config.host)) {
    app.log.warn({ host: config.host }, 'the main API serves plain HTTP beyond loopback: terminate TLS in front of it (load balancer)');
  }

  let deviceListener: Awaited<ReturnType<typeof startDevicePkiListener>> | null = null;
  const shutdown = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    await deviceListener?.close();
    await app.close();
    await store.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ host: config.host, port: config.port });
  if (devicePki) {
    deviceListener = await startDevicePkiListener(app, devicePki, pkiConfig, { level: config.logLevel });
    app.log.info({ deviceUrl: deviceListener.url }, 'device listener (mutual TLS) serves validator sync and certificate renewal');
  }
}

main().catch((error: unknown) => {
  // Startup errors name files and settings, never secret values.
  console.error(`gateway failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
