/**
 * `npm run gateway -- <command>`: operator commands run on the gateway host, against the same
 * configuration as `npm start` (config.ts: the environment, optionally GATEWAY_CONFIG_FILE).
 * Nothing secret is printed except what the operator asked for: an enrolment code (shown once,
 * meant to be handed to the device). Tokens, passwords in the database URL and the CA key never.
 *
 * Arguments are read by the shared kit (tools/src/cli.ts): `--help` on every command, unknown
 * flags and missing values exit 2 with one line and the usage; a missing file is one line naming
 * the path, exit 1.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { type CliIo, EXIT_FAILED, EXIT_OK, FileError, isEntryScript, parseCommandLine, processIo, runCli, UsageError } from '#tools/cli';
import { ConfigError, describeConfig, type GatewayConfig, type LoadedConfig, loadConfig } from './config.ts';
import { CA_CERT_FILE, CA_KEY_FILE, deviceCaExists, ensureServerTls, loadDeviceCa, SERVER_CERT_FILE, SERVER_KEY_FILE } from './pki/device-ca.ts';
import { certificateStatus, certificatesOf, createEnrolmentCode, listCertificates, revokeDevice } from './pki/device-certificates.ts';
import { initDevicePki } from './pki/start-device-pki.ts';
import { assertSecretsSafe, SecretsError, secretsProblems, StartupFiles } from './secrets.ts';
import { issueToken } from './auth/tokens.ts';
import { CHANNEL_KINDS, type ChannelKind, STAFF_ROLES, type StaffRole } from './services/channel-rules.ts';
import { createOrganisation, listOrganisations, requireOrganisation } from './services/organisations.ts';
import { PARTNER_BANK_IDS } from './services/partner-banks.ts';
import { createStore } from './store/create-store.ts';
import type { Store } from './store/store-port.ts';

const EXIT_CODES = 'Exit status: 0 success, 1 the command failed (including a bad configuration or a missing file), 2 usage error.';

export const HELP = `gateway: operator commands for the transit purse gateway

Usage: npm run gateway -- <command> [options]

Commands
  config                    print the effective configuration (JSON, secrets redacted)
  pki init                  create the device CA and the device listener's certificate, if missing
  pki status                the CA (fingerprint, validity, files) and certificate counts
  pki enrol DEVICE_ID       a one-time enrolment code for a registered device (printed once)
  pki revoke DEVICE_ID [--reason TEXT]
                            revoke the device's certificates, enrolment codes and credentials
  pki list [--device DEVICE_ID]
                            certificates with status (active, expired, revoked)
  org create ID --kind KIND --name NAME [--bank BANK --branch BRANCH]
                            an organisation counters work for (its channel kind)
  org list                  every organisation (JSON lines)
  org token ORG_ID --label TEXT [--staff-role teller|supervisor] [--ttl-minutes N]
                            a counter token for the organisation (printed once)
  backup --to FILE          an online copy of the SQLite database (SQLite's backup API), safe
                            while the gateway runs; checked with PRAGMA integrity_check

Every command answers --help. The configuration is the one of npm start: environment variables
and, optionally, the JSON file named by GATEWAY_CONFIG_FILE (table in docs/operations.md).
${EXIT_CODES}
`;

export const CONFIG_HELP = `Usage: npm run gateway -- config

Prints the effective configuration as JSON: every setting with its value and where it came from
(env, file, default), the files it implies (database, secrets folder, key files, certificates),
warnings (unknown GATEWAY_* variables) and problems of the secrets folder. The admin token and the
database URL's password are redacted. Exit 1 when a value is wrong (each problem on one line).
${EXIT_CODES}
`;

export const PKI_HELP = `Usage: npm run gateway -- pki <init|status|enrol|revoke|list> [options]

  init                      create the device CA (RSA 2048) and the device listener's TLS
                            certificate if missing; private keys go to the secrets folder
                            (GATEWAY_SECRETS_DIR, mode 0600), certificates to GATEWAY_PKI_DIR.
                            npm start never creates a CA: its device listener runs when one exists
  status                    the CA and certificate counts (exit 1 when there is no CA)
  enrol DEVICE_ID           a one-time enrolment code for a registered device
  revoke DEVICE_ID [--reason TEXT]
  list [--device DEVICE_ID]

Run "npm run gateway -- pki <command> --help" for one command.
${EXIT_CODES}
`;

export const BACKUP_HELP = `Usage: npm run gateway -- backup --to FILE

Copies the embedded SQLite database (GATEWAY_DB) to FILE with SQLite's online backup API, page by
page, while the gateway keeps serving (a consistent snapshot: writes committed after the copy
began are not in it). FILE must not exist. The copy is then opened and checked (PRAGMA
integrity_check, migrations recorded) before the command reports success. The secrets folder is
not in the copy: back it up separately. On PostgreSQL use pg_dump (docs/operations.md).
\${EXIT_CODES}
`;

export const ORG_HELP = `Usage: npm run gateway -- org <create|list|token> [options]

  create ID --kind KIND --name NAME [--bank BANK --branch BRANCH]
                            KIND: ${CHANNEL_KINDS.join(', ')}; a bank-branch names
                            its partner bank (BANK: ${PARTNER_BANK_IDS.join(', ')})
                            and its branch id; other kinds name no bank
  list                      one JSON line per organisation
  token ORG_ID --label TEXT [--staff-role teller|supervisor] [--ttl-minutes N]
                            a counter token working for ORG_ID, printed once (stored only as a
                            hash); what it may do follows the organisation's channel kind
${EXIT_CODES}
`;

const PKI_COMMAND_HELP: Record<string, string> = {
  init: `Usage: npm run gateway -- pki init

Creates the device CA if the folders hold none (else loads it) and the device listener's key and
certificate for DEVICE_PUBLIC_HOST, DEVICE_HOST and GATEWAY_DEVICE_HOSTNAMES. Prints the CA
fingerprint and the files; never a key. Restart the gateway to start the device listener.
${EXIT_CODES}
`,
  status: `Usage: npm run gateway -- pki status

The device CA (fingerprint, validity, folders) and the device certificates by status. Exit 1
when there is no CA.
${EXIT_CODES}
`,
  enrol: `Usage: npm run gateway -- pki enrol DEVICE_ID

Prints a one-time enrolment code for a device registered with POST /v1/devices (valid
GATEWAY_ENROLMENT_CODE_HOURS; a newer code cancels an older one). Hand it to the device:
npm run validator -- enrol --db <device db> --code <code>.
${EXIT_CODES}
`,
  revoke: `Usage: npm run gateway -- pki revoke DEVICE_ID [--reason TEXT]

Revokes the device's certificates, open enrolment codes and bearer credentials; its next sync is
refused (client-certificate-revoked).
  --reason TEXT             recorded with the revocation (default "revoked by operator (cli)")
${EXIT_CODES}
`,
  list: `Usage: npm run gateway -- pki list [--device DEVICE_ID]

One JSON line per device certificate: device, serial, kind, status (active, expired, revoked),
notAfter, revokedReason.
  --device DEVICE_ID        only this device's certificates
${EXIT_CODES}
`,
};

/** The usage text for the command words at the start of `argv`. */
function usageFor(argv: readonly string[]): string {
  const [area, command] = argv;
  if (area === 'config') return CONFIG_HELP;
  if (area === 'backup') return BACKUP_HELP;
  if (area === 'org') return ORG_HELP;
  if (area === 'pki') return (command !== undefined && PKI_COMMAND_HELP[command]) || PKI_HELP;
  return HELP;
}

function configOrThrow(): LoadedConfig {
  return loadConfig();
}

async function withStore<T>(config: GatewayConfig, fn: (store: Store) => Promise<T>): Promise<T> {
  if (!config.databaseUrl && !existsSync(config.sqlitePath)) {
    throw new FileError(config.sqlitePath, 'no such database (GATEWAY_DB; start the gateway once with npm start)');
  }
  const store = await createStore({ sqlitePath: config.sqlitePath, databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A registered device, or a failure naming it. */
async function requireDevice(store: Store, deviceId: string): Promise<void> {
  const device = await store.transaction((tx) => tx.get('SELECT device_id FROM devices WHERE device_id = ?', [deviceId]), { readOnly: true });
  if (!device) throw new Error(`device ${deviceId} is not registered (POST /v1/devices)`);
}

async function pkiCommand(command: string | undefined, args: string[], io: CliIo): Promise<number> {
  if (command === undefined) throw new UsageError('pki needs a command: init, status, enrol, revoke or list');
  if (command === '--help' || command === '-h') {
    io.out(PKI_HELP);
    return EXIT_OK;
  }
  const help = PKI_COMMAND_HELP[command];
  if (help === undefined) throw new UsageError(`unknown pki command "${command}" (init, status, enrol, revoke, list)`);
  const parsed = parseCommandLine(args, { reason: { type: 'string' }, device: { type: 'string' } }, command === 'enrol' || command === 'revoke' ? 1 : 0);
  if (parsed.values.help) {
    io.out(help);
    return EXIT_OK;
  }
  if (parsed.values.reason !== undefined && command !== 'revoke') throw new UsageError(`--reason is an option of pki revoke only`);
  if (parsed.values.device !== undefined && command !== 'list') throw new UsageError(`--device is an option of pki list only`);
  const target = parsed.positionals[0];
  if ((command === 'enrol' || command === 'revoke') && target === undefined) throw new UsageError(`pki ${command} needs a DEVICE_ID`);

  const { config } = configOrThrow();
  assertSecretsSafe(config);
  const { pki } = config;
  const nowMs = Date.now();
  switch (command) {
    case 'init': {
      const existed = deviceCaExists(pki.dir, pki.keyDir);
      const files = new StartupFiles();
      files.mkdir(pki.keyDir, 0o700);
      const devicePki = initDevicePki(pki);
      const tls = ensureServerTls(devicePki.ca, pki.hostnames);
      io.out(
        JSON.stringify(
          {
            created: !existed,
            caFingerprintSha256: devicePki.ca.fingerprint,
            caNotAfter: new Date(devicePki.ca.notAfterMs).toISOString(),
            files: {
              caKey: `${join(pki.keyDir, CA_KEY_FILE)} (mode 0600)`,
              caCertificate: join(pki.dir, CA_CERT_FILE),
              listenerKey: `${join(pki.keyDir, SERVER_KEY_FILE)} (mode 0600)`,
              listenerCertificate: join(pki.dir, SERVER_CERT_FILE),
            },
            listenerHostnames: tls.hostnames,
            ...(pki.mode === 'off' ? { note: 'GATEWAY_DEVICE_PKI=off: npm start will not use this CA' } : {}),
          },
          null,
          2,
        ),
      );
      return EXIT_OK;
    }
    case 'status': {
      if (!deviceCaExists(pki.dir, pki.keyDir)) {
        io.out(JSON.stringify({ dir: pki.dir, keyDir: pki.keyDir, ca: null, hint: 'npm run gateway -- pki init' }));
        return EXIT_FAILED;
      }
      const ca = loadDeviceCa(pki.dir, { keyDir: pki.keyDir });
      const counts = await withStore(config, (store) =>
        store.transaction(
          (tx) =>
            tx.all<{ status: string; n: number }>(
              `SELECT CASE WHEN revoked_ms IS NOT NULL THEN 'revoked' WHEN not_after_ms < ? THEN 'expired' ELSE 'active' END AS status, COUNT(*) AS n
               FROM device_certificates GROUP BY 1 ORDER BY 1`,
              [nowMs],
            ),
          { readOnly: true },
        ),
      );
      io.out(JSON.stringify({ mode: pki.mode, ca: ca.toJSON(), certificates: Object.fromEntries(counts.map((c) => [c.status, Number(c.n)])) }, null, 2));
      return EXIT_OK;
    }
    case 'enrol': {
      const deviceId = target as string;
      if (!deviceCaExists(pki.dir, pki.keyDir)) throw new Error(`no device CA (${pki.dir}): run "npm run gateway -- pki init" first`);
      const answer = await withStore(config, async (store) => {
        await requireDevice(store, deviceId);
        return store.transaction((tx) => createEnrolmentCode(tx, deviceId, 'operator:cli', nowMs, pki.enrolmentCodeTtlMs));
      });
      // Printed once for the operator to hand to the device; stored only as a hash.
      io.out(JSON.stringify({ deviceId, enrolmentCode: answer.code, expires: new Date(answer.expiresMs).toISOString() }));
      return EXIT_OK;
    }
    case 'revoke': {
      const deviceId = target as string;
      const reason = parsed.values.reason ?? 'revoked by operator (cli)';
      const result = await withStore(config, async (store) => {
        await requireDevice(store, deviceId);
        return store.transaction((tx) => revokeDevice(tx, deviceId, 'operator:cli', reason, nowMs));
      });
      io.out(JSON.stringify({ deviceId, revokedSerials: result.serials, credentialsRevoked: result.credentialsRevoked }));
      return EXIT_OK;
    }
    default: {
      const device = parsed.values.device ?? null;
      const rows = await withStore(config, (store) =>
        store.transaction((tx) => (device ? certificatesOf(tx, device, 1_000) : listCertificates(tx, '', 10_000)), { readOnly: true }),
      );
      for (const row of rows) {
        io.out(
          JSON.stringify({
            deviceId: row.deviceId,
            serial: row.serial,
            kind: row.kind,
            status: certificateStatus(row, nowMs),
            notAfter: new Date(row.notAfterMs).toISOString(),
            revokedReason: row.revokedReason,
          }),
        );
      }
      return EXIT_OK;
    }
  }
}

/** `backup --to FILE`: SQLite's online backup API on a connection of its own, then a check of the copy. */
async function backupCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine(args, { to: { type: 'string' } }, 0);
  if (parsed.values.help) {
    io.out(BACKUP_HELP);
    return EXIT_OK;
  }
  const to = parsed.values.to;
  if (to === undefined || to === '') throw new UsageError('backup needs --to FILE');
  const { config } = configOrThrow();
  if (config.databaseUrl) throw new Error('backup copies the embedded SQLite database; this gateway uses PostgreSQL (GATEWAY_DATABASE_URL): use pg_dump');
  if (!existsSync(config.sqlitePath)) throw new FileError(config.sqlitePath, 'no such database (GATEWAY_DB)');
  const target = resolve(to);
  if (existsSync(target)) throw new Error(`${target} exists: the backup never overwrites a file`);
  if (!existsSync(dirname(target))) throw new FileError(dirname(target), 'no such folder for the backup');
  const started = Date.now();
  const source = new Database(config.sqlitePath, { readonly: true, fileMustExist: true });
  let pages = 0;
  try {
    const result = await source.backup(target);
    pages = result.totalPages;
  } catch (error) {
    rmSync(target, { force: true });
    throw error;
  } finally {
    source.close();
  }
  const copy = new Database(target, { readonly: true, fileMustExist: true });
  try {
    const integrity = copy.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new Error(`the copy ${target} fails PRAGMA integrity_check: ${String(integrity)}`);
    const migrations = copy.prepare('SELECT COUNT(*) AS n, MAX(id) AS latest FROM schema_migrations').get() as { n: number; latest: number | null };
    io.out(
      JSON.stringify(
        {
          from: config.sqlitePath,
          to: target,
          pages,
          bytes: statSync(target).size,
          integrity: 'ok',
          migrations: migrations.n,
          latestMigration: migrations.latest,
          tookMs: Date.now() - started,
        },
        null,
        2,
      ),
    );
  } finally {
    copy.close();
  }
  return EXIT_OK;
}

/** `org create|list|token`: organisations and their counter tokens, on the gateway's store. */
async function orgCommand(command: string | undefined, args: string[], io: CliIo): Promise<number> {
  if (command === undefined) throw new UsageError('org needs a command: create, list or token');
  if (command === '--help' || command === '-h') {
    io.out(ORG_HELP);
    return EXIT_OK;
  }
  if (command !== 'create' && command !== 'list' && command !== 'token') throw new UsageError(`unknown org command "${command}" (create, list, token)`);
  const parsed = parseCommandLine(
    args,
    {
      kind: { type: 'string' },
      name: { type: 'string' },
      bank: { type: 'string' },
      branch: { type: 'string' },
      label: { type: 'string' },
      'staff-role': { type: 'string' },
      'ttl-minutes': { type: 'string' },
    },
    command === 'list' ? 0 : 1,
  );
  if (parsed.values.help) {
    io.out(ORG_HELP);
    return EXIT_OK;
  }
  const target = parsed.positionals[0];
  const { config } = configOrThrow();
  const nowMs = Date.now();
  if (command === 'list') {
    const rows = await withStore(config, (store) => store.transaction((tx) => listOrganisations(tx), { readOnly: true }));
    for (const row of rows) io.out(JSON.stringify(row));
    return EXIT_OK;
  }
  if (target === undefined) throw new UsageError(`org ${command} needs an ${command === 'create' ? 'ID' : 'ORG_ID'}`);
  if (command === 'create') {
    const kind = parsed.values.kind;
    const name = parsed.values.name;
    if (kind === undefined || name === undefined) throw new UsageError('org create needs --kind and --name');
    if (!(CHANNEL_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${CHANNEL_KINDS.join(', ')}`);
    const org = await withStore(config, (store) =>
      store.transaction((tx) =>
        createOrganisation(
          tx,
          { id: target, name, channelKind: kind as ChannelKind, bankId: parsed.values.bank ?? null, branchId: parsed.values.branch ?? null },
          'operator:cli',
          nowMs,
        ),
      ),
    );
    io.out(JSON.stringify(org));
    return EXIT_OK;
  }
  const label = parsed.values.label;
  if (label === undefined || label === '') throw new UsageError('org token needs --label');
  const staffRole = parsed.values['staff-role'] ?? 'teller';
  if (!(STAFF_ROLES as readonly string[]).includes(staffRole)) throw new UsageError('--staff-role must be teller or supervisor');
  const ttl = parsed.values['ttl-minutes'];
  const ttlMinutes = ttl === undefined ? null : Number(ttl);
  if (ttlMinutes !== null && (!Number.isSafeInteger(ttlMinutes) || ttlMinutes < 1)) throw new UsageError('--ttl-minutes must be a positive whole number');
  const answer = await withStore(config, (store) =>
    store.transaction(async (tx) => {
      const org = await requireOrganisation(tx, target);
      const branchId = org.branchId ?? org.id;
      const expiresMs = ttlMinutes === null ? null : nowMs + ttlMinutes * 60_000;
      const token = await issueToken(tx, {
        role: 'counter',
        subject: branchId,
        branchId,
        organisationId: org.id,
        staffRole: staffRole as StaffRole,
        label,
        createdBy: 'operator:cli',
        nowMs,
        expiresMs,
      });
      return { token, organisationId: org.id, channelKind: org.channelKind, staffRole, expiresMs };
    }),
  );
  io.out(JSON.stringify(answer));
  return EXIT_OK;
}

function configCommand(args: string[], io: CliIo): number {
  const parsed = parseCommandLine(args, {}, 0);
  if (parsed.values.help) {
    io.out(CONFIG_HELP);
    return EXIT_OK;
  }
  const loaded = configOrThrow();
  const problems = secretsProblems(loaded.config);
  io.out(JSON.stringify({ ...describeConfig(loaded), problems }, null, 2));
  for (const warning of loaded.warnings) io.err(`gateway: warning: ${warning}`);
  for (const problem of problems) io.err(`gateway: ${problem}`);
  return problems.length === 0 ? EXIT_OK : EXIT_FAILED;
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCli(
    'gateway',
    usageFor(argv),
    async () => {
      const [area, ...rest] = argv;
      try {
        if (area === undefined) throw new UsageError('missing command');
        if (area === '--help' || area === '-h' || area === 'help') {
          parseCommandLine(rest, {}, 0);
          io.out(HELP);
          return EXIT_OK;
        }
        if (area === 'config') return configCommand(rest, io);
        if (area === 'backup') return await backupCommand(rest, io);
        if (area === 'org') return await orgCommand(rest[0], rest.slice(1), io);
        if (area === 'pki') return await pkiCommand(rest[0], rest.slice(1), io);
        if (area.startsWith('-')) parseCommandLine([area], {}, 0);
        throw new UsageError(`unknown command "${area}" (config, pki, org, backup)`);
      } catch (error) {
        // Several configuration or secrets problems: one line each.
        if (error instanceof ConfigError || error instanceof SecretsError) {
          if (error instanceof ConfigError) for (const warning of error.warnings) io.err(`gateway: warning: ${warning}`);
          for (const problem of error.problems) io.err(`gateway: ${problem}`);
          return EXIT_FAILED;
        }
        throw error;
      }
    },
    io,
  );
}

if (isEntryScript(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
