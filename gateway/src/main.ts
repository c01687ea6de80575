/**
 * `npm start`: the gateway on the embedded default (SQLite file), or PostgreSQL when
 * GATEWAY_DATABASE_URL is set (docs/operations.md).
 *
 * Start, in this order: the whole configuration is read and validated (config.ts) and the secrets
 * folder checked (secrets.ts) before anything is written; then existing key files and the device
 * CA are loaded (read only); only then are files created (the secrets and database folders, the
 * database, a development key file and admin token on first start), each one recorded, so a start
 * that fails later (port in use, database unreachable) removes what it created. The device CA is
 * never created here (`npm run gateway -- pki init`); the device listener runs when one exists.
 * Secrets are never printed: the log names files, never a token or a key.
 *
 * GATEWAY_SANDBOX=1 (gateway/src/sandbox): the same start on the sandbox's own SQLite file and
 * keys (created and marked on the first start), its movable clock and virtual cards; the start
 * checks refuse anything else, and a gateway without it refuses what the sandbox created.
 *
 * Stop: SIGTERM or SIGINT sets `lifecycle.shuttingDown` (readiness turns 503), closes the
 * listeners to new connections, lets in-flight requests finish for GATEWAY_SHUTDOWN_GRACE_S
 * (default 10 s; then the remaining connections are closed), closes the store (and the PostgreSQL
 * pool) and exits 0. A second signal exits at once: 130 after SIGINT, 143 after SIGTERM.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { issuerKeyServiceFromFile, loadOrCreateSandboxKeyFile, readKeyFile } from '#issuer/key-file';
import { buildGateway } from './app.ts';
import { ConfigError, type GatewayConfig, loadConfig } from './config.ts';
import { SERVER_CERT_FILE, SERVER_KEY_FILE } from './pki/device-ca.ts';
import { devicePkiFromConfig, startDevicePkiListener } from './pki/start-device-pki.ts';
import { buildSandboxGateway, openSandbox, sandboxStartRefusals } from './sandbox/sandbox-start.ts';
import { clearingSignerFromFolder } from './services/clearing-key.ts';
import { adminTokenFor, assertSecretsSafe, holderIdKeyFor, readAdminTokenFile, readHolderKeyFile, SecretsError, StartupFiles } from './secrets.ts';
import { createStore } from './store/create-store.ts';
import type { Store } from './store/store-port.ts';

type DeviceListener = Awaited<ReturnType<typeof startDevicePkiListener>>;

/** Exit status after a second signal: 128 + the signal number, as a shell reports it. */
export const SECOND_SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

class StartError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('; '));
  }
}

/** Checks that can fail without writing anything: secrets' modes, existing key files, the CA. */
function preflight(config: GatewayConfig) {
  assertSecretsSafe(config);
  readAdminTokenFile(config.adminTokenFile);
  readHolderKeyFile(config.holderKeyFile);
  try {
    // An existing key file is read now: a bad one stops the start before anything is created.
    if (config.keyFileExplicit || existsSync(config.keyFile)) readKeyFile(config.keyFile);
  } catch (error) {
    const message = (error as Error).message;
    throw new StartError([message.includes(config.keyFile) ? message : `${config.keyFile}: ${message}`]);
  }
  // The sandbox runs only on its own database and keys; a real gateway never on them.
  const refusals = sandboxStartRefusals(config);
  if (refusals.length > 0) throw new StartError(refusals);
  return devicePkiFromConfig(config.pki);
}

async function start(): Promise<void> {
  const { config, warnings } = loadConfig();
  const devicePki = preflight(config);

  const files = new StartupFiles();
  let store: Store | null = null;
  let app: FastifyInstance | null = null;
  let deviceListener: DeviceListener | null = null;
  // Checked before the store opens the file (which creates it).
  const sandboxDatabaseIsNew = config.sandbox && !existsSync(config.sqlitePath);
  try {
    if (!config.databaseUrl) {
      files.mkdir(dirname(config.sqlitePath), 0o755);
      files.willCreate(config.sqlitePath, `${config.sqlitePath}-wal`, `${config.sqlitePath}-shm`, `${config.sqlitePath}-journal`);
    }
    store = await createStore({ sqlitePath: config.sqlitePath, databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema });
    if (!existsSync(config.keyFile)) {
      // First start at the default path: a development key set, in the secrets folder (0700).
      files.mkdir(dirname(config.keyFile), 0o700);
      files.willCreate(config.keyFile);
      // The sandbox generates sandbox keys (marked so), never a development key set.
      if (config.sandbox) loadOrCreateSandboxKeyFile(config.keyFile);
    }
    const keys = issuerKeyServiceFromFile(config.keyFile);
    const admin = adminTokenFor(config, files);
    const holder = holderIdKeyFor(config, files);
    // The clearing centre's key (closed days, clearing files): made in the secrets folder on first start.
    const clearingSigner = clearingSignerFromFolder(config.clearingKeyDir, config.clearingKeyDir, Date.now(), (path) => files.willCreate(path));
    if (config.jobsIntervalMs !== undefined) process.env.GATEWAY_JOBS_INTERVAL_MS = String(config.jobsIntervalMs);
    const gatewayOptions = {
      store,
      keys,
      adminToken: admin.token,
      holderIdKey: holder.key,
      clearingSigner,
      logger: { level: config.logLevel },
      subwayNetworkCsvPath: config.subwayNetworkCsvPath,
      devicePki,
      policies: {
        ...(config.clockSkewAlertMs === undefined ? {} : { deviceClockSkewAlertMs: config.clockSkewAlertMs }),
        ...(config.lostCardForfeitMs === undefined ? {} : { lostCardForfeitMs: config.lostCardForfeitMs }),
        ...(config.dayCloseCutoffMinutes === undefined ? {} : { dayCloseCutoffMinutes: config.dayCloseCutoffMinutes }),
        ...(config.dayCloseGraceMs === undefined ? {} : { dayCloseGraceMs: config.dayCloseGraceMs }),
        ...(config.settlementLagDays === undefined ? {} : { settlementLagDays: config.settlementLagDays }),
      },
    };
    // The sandbox: its clock, the card service (its own key holder) and the Sandbox header.
    app = config.sandbox
      ? await buildSandboxGateway({ ...gatewayOptions, sandbox: await openSandbox(store, config.keyFile, { created: sandboxDatabaseIsNew }) })
      : await buildGateway(gatewayOptions);
    if (config.sandbox)
      app.log.warn({ database: config.sqlitePath, keyFile: config.keyFile }, 'SANDBOX: sandbox keys and database, movable clock, virtual cards; no real money');
    for (const warning of warnings) app.log.warn(warning);
    if (config.configFile) app.log.info({ configFile: config.configFile }, 'configuration file read (the environment wins over it)');
    if (admin.source !== 'env') {
      app.log.info(
        { adminTokenFile: config.adminTokenFile },
        admin.source === 'generated' ? 'operator token generated into this file (mode 0600)' : 'operator token is in this file',
      );
    }
    if (holder.source === 'generated')
      app.log.info({ holderKeyFile: config.holderKeyFile }, 'holder key generated into this file (mode 0600): back it up with the issuer keys');
    app.log.info({ store: store.dialect, keyFile: config.keyFile, secretsDir: config.secretsDir }, 'gateway starting');
    if (devicePki) {
      app.log.info({ pkiDir: config.pki.dir, caFingerprint: devicePki.ca.fingerprint }, 'device CA loaded');
    } else {
      app.log.warn(
        { pkiDir: config.pki.dir, mode: config.pki.mode },
        config.pki.mode === 'off'
          ? 'device PKI off (GATEWAY_DEVICE_PKI=off): validators sync on the main API with bearer credentials'
          : 'no device CA (create one with: npm run gateway -- pki init): validators sync on the main API with bearer credentials',
      );
    }
    if (!['127.0.0.1', '::1', 'localhost'].includes(config.host)) {
      app.log.warn({ host: config.host }, 'the main API serves plain HTTP beyond loopback: terminate TLS in front of it (load balancer)');
    }

    await app.listen({ host: config.host, port: config.port });
    if (devicePki) {
      files.willCreate(join(config.pki.keyDir, SERVER_KEY_FILE), join(config.pki.dir, SERVER_CERT_FILE));
      deviceListener = await startDevicePkiListener(app, devicePki, config.pki, { level: config.logLevel });
      app.log.info({ deviceUrl: deviceListener.url }, 'device listener (mutual TLS) serves validator sync and certificate renewal');
    }
  } catch (error) {
    // Undo this start: close what was opened, remove what was created, then report.
    await deviceListener?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    files.undo();
    throw error;
  }
  installShutdown(app, deviceListener, store, config.shutdownGraceMs);
}

/**
 * Signals are taken from the very beginning: one that arrives while the gateway is starting stops
 * it gracefully as soon as it is up (or the failed start exits 1); a second one exits at once.
 */
const signals: { stopping: boolean; pending: NodeJS.Signals | null; stop: ((signal: NodeJS.Signals) => void) | null; log: FastifyBaseLogger | null } = {
  stopping: false,
  pending: null,
  stop: null,
  log: null,
};

function onSignal(signal: NodeJS.Signals): void {
  if (signals.stopping) {
    if (signals.log) signals.log.warn({ signal }, 'second signal: exiting at once');
    else process.stderr.write(`gateway: second signal (${signal}): exiting at once\n`);
    process.exit(SECOND_SIGNAL_EXIT[signal as keyof typeof SECOND_SIGNAL_EXIT] ?? 1);
  }
  signals.stopping = true;
  if (signals.stop) signals.stop(signal);
  else signals.pending = signal;
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** SIGTERM/SIGINT: graceful stop within the grace period; a second signal exits at once. */
function installShutdown(app: FastifyInstance, deviceListener: DeviceListener | null, store: Store, graceMs: number): void {
  const log = app.log;
  const servers: Server[] = [app.server as Server, ...(deviceListener ? [deviceListener.app.server as Server] : [])];
  const openConnections = async (): Promise<number> => {
    let total = 0;
    for (const server of servers) total += await new Promise<number>((resolve) => server.getConnections((_error, count) => resolve(count ?? 0)));
    return total;
  };

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    app.gateway.lifecycle.shuttingDown = true;
    // Fastify stops the listeners after its close hooks; the line below is logged only once
    // neither listener accepts a connection (a supervisor or test may act on it at once).
    const closing = Promise.all([app.close(), deviceListener?.close()]);
    closing.catch(() => undefined); // awaited below; this only keeps an early failure from counting as unhandled
    for (let waited = 0; waited < 2_000 && servers.some((server) => server.listening); waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
    log.info({ signal, graceSeconds: graceMs / 1000, openConnections: await openConnections() }, 'shutdown: no new connections; in-flight requests may finish');
    // Kept-alive connections close as soon as their request is answered.
    const sweep = setInterval(() => {
      for (const server of servers) server.closeIdleConnections();
    }, 50);
    const grace = setTimeout(() => {
      void openConnections().then((open) => {
        log.warn({ openConnections: open }, 'shutdown: grace period over, closing the remaining connections');
        for (const server of servers) server.closeAllConnections();
      });
    }, graceMs);
    try {
      await closing;
      log.info('shutdown: main API and device listener closed');
    } finally {
      clearInterval(sweep);
      clearTimeout(grace);
    }
    await store.close();
    log.info({ store: store.dialect }, 'shutdown: store closed');
    log.info('shutdown complete');
    process.exit(0);
  };

  signals.log = log;
  signals.stop = (signal) => {
    shutdown(signal).catch((error: unknown) => {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  // A signal that came while starting.
  if (signals.pending) signals.stop(signals.pending);
}

start().catch((error: unknown) => {
  // Startup errors name files and settings, never secret values.
  const lines =
    error instanceof ConfigError || error instanceof SecretsError
      ? error.problems
      : error instanceof StartError
        ? error.lines
        : [error instanceof Error ? error.message : String(error)];
  if (error instanceof ConfigError) for (const warning of error.warnings) process.stderr.write(`gateway: warning: ${warning}\n`);
  for (const line of lines) process.stderr.write(`gateway failed to start: ${line}\n`);
  process.exit(1);
});
