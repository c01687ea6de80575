/**
 * `npm run gateway -- <command>`: operator commands run on the gateway host, against the same
 * configuration as `npm start` (GATEWAY_DB / GATEWAY_DATABASE_URL, GATEWAY_PKI_DIR, ...).
 * Nothing secret is printed except what the operator asked for: an enrolment code (shown once,
 * meant to be handed to the device). The CA key is never printed.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfig } from './config.ts';
import { deviceCaExists, ensureDeviceCa, ensureServerTls, CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE } from './pki/device-ca.ts';
import { certificateStatus, certificatesOf, createEnrolmentCode, listCertificates, revokeDevice } from './pki/device-certificates.ts';
import { readPkiConfig } from './pki/pki-config.ts';
import { createStore } from './store/create-store.ts';
import type { Store } from './store/store-port.ts';

export const HELP = `gateway: operator commands for the transit purse gateway

Usage: npm run gateway -- <command> [options]

Device PKI (issue 9)
  pki init                  create the device CA (RSA 2048, key mode 0600) and the device
                            listener's TLS certificate, if missing; prints the CA fingerprint
  pki status                the CA (fingerprint, validity, files) and certificate counts
  pki enrol DEVICE_ID       a one-time enrolment code for a registered device (printed once)
  pki revoke DEVICE_ID [--reason TEXT]
                            revoke the device's certificates, enrolment codes and credentials
  pki list [--device DEVICE_ID]
                            certificates with status (active, expired, revoked)

Options
  --dir PATH                the PKI folder (default GATEWAY_PKI_DIR, else <database folder>/pki)

Environment: the same as npm start (GATEWAY_DB, GATEWAY_DATABASE_URL, GATEWAY_PKI_DIR, DEVICE_PORT,
DEVICE_HOST, DEVICE_PUBLIC_HOST, GATEWAY_DEVICE_HOSTNAMES, GATEWAY_DEVICE_CERT_DAYS,
GATEWAY_ENROLMENT_CODE_HOURS, GATEWAY_DEVICE_PKI).
Exit status: 0 success, 1 failure, 2 usage error.
`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseArgs(argv: string[]): { positional: string[]; options: Record<string, string | true> } {
  const positional: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') options.help = true;
    else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) options[arg.slice(2, eq)] = arg.slice(eq + 1);
      else {
        const value = argv[i + 1];
        if (value === undefined || value.startsWith('--')) throw new UsageError(`${arg} needs a value`);
        options[arg.slice(2)] = value;
        i++;
      }
    } else positional.push(arg);
  }
  return { positional, options };
}

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const config = readConfig();
  const store = await createStore({ sqlitePath: config.sqlitePath, databaseUrl: config.databaseUrl });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

export async function main(
  argv: string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  try {
    const { positional, options } = parseArgs(argv);
    const [area, command, target] = positional;
    if (options.help === true || area === undefined || area === 'help') {
      out(HELP);
      return area === undefined && options.help !== true ? 2 : 0;
    }
    if (area !== 'pki') throw new UsageError(`unknown command "${area}" (try --help)`);
    const config = readConfig();
    const pkiConfig = readPkiConfig(process.env, process.cwd(), config.sqlitePath);
    const dir = typeof options.dir === 'string' ? resolve(options.dir) : pkiConfig.dir;
    const nowMs = Date.now();
    switch (command) {
      case 'init': {
        const existed = deviceCaExists(dir);
        const ca = ensureDeviceCa(dir);
        const tls = ensureServerTls(ca, pkiConfig.hostnames);
        out(
          JSON.stringify(
            {
              created: !existed,
              dir,
              caFingerprintSha256: ca.fingerprint,
              caNotAfter: new Date(ca.notAfterMs).toISOString(),
              files: {
                caKey: `${CA_KEY_FILE} (mode 0600)`,
                caCertificate: CA_CERT_FILE,
                listenerKey: `${SERVER_KEY_FILE} (mode 0600)`,
                listenerCertificate: SERVER_CERT_FILE,
              },
              listenerHostnames: tls.hostnames,
            },
            null,
            2,
          ),
        );
        return 0;
      }
      case 'status': {
        if (!deviceCaExists(dir)) {
          out(JSON.stringify({ dir, ca: null, hint: 'npm run gateway -- pki init' }));
          return 1;
        }
        const ca = ensureDeviceCa(dir);
        const counts = await withStore((store) =>
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
        out(JSON.stringify({ dir, ca: ca.toJSON(), certificates: Object.fromEntries(counts.map((c) => [c.status, Number(c.n)])) }, null, 2));
        return 0;
      }
      case 'enrol': {
        if (!target) throw new UsageError('pki enrol DEVICE_ID');
        if (!deviceCaExists(dir)) throw new UsageError(`no device CA in ${dir}: run "npm run gateway -- pki init" first`);
        const answer = await withStore((store) =>
          store.transaction(async (tx) => {
            const device = await tx.get('SELECT device_id FROM devices WHERE device_id = ?', [target]);
            if (!device) throw new UsageError(`device ${target} is not registered (POST /v1/devices)`);
            return createEnrolmentCode(tx, target, 'operator:cli', nowMs, pkiConfig.enrolmentCodeTtlMs);
          }),
        );
        // Printed once for the operator to hand to the device; stored only as a hash.
        out(JSON.stringify({ deviceId: target, enrolmentCode: answer.code, expires: new Date(answer.expiresMs).toISOString() }));
        return 0;
      }
      case 'revoke': {
        if (!target) throw new UsageError('pki revoke DEVICE_ID [--reason TEXT]');
        const reason = typeof options.reason === 'string' ? options.reason : 'revoked by operator (cli)';
        const result = await withStore((store) =>
          store.transaction(async (tx) => {
            const device = await tx.get('SELECT device_id FROM devices WHERE device_id = ?', [target]);
            if (!device) throw new UsageError(`device ${target} is not registered`);
            return revokeDevice(tx, target, 'operator:cli', reason, nowMs);
          }),
        );
        out(JSON.stringify({ deviceId: target, revokedSerials: result.serials, credentialsRevoked: result.credentialsRevoked }));
        return 0;
      }
      case 'list': {
        const device = typeof options.device === 'string' ? options.device : null;
        const rows = await withStore((store) =>
          store.transaction((tx) => (device ? certificatesOf(tx, device, 1_000) : listCertificates(tx, '', 10_000)), { readOnly: true }),
        );
        for (const row of rows) {
          out(
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
        return 0;
      }
      default:
        throw new UsageError(`unknown pki command "${command ?? ''}" (init, status, enrol, revoke, list)`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      err(`gateway: ${error.message}`);
      return 2;
    }
    // Messages name files and settings, never key material.
    err(`gateway: ${(error as Error).message}`);
    return 1;
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
