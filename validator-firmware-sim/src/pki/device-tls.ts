/**
 * How the validator CLI (and the demo) wire the device identity into sync (issue 9):
 *
 * - the identity lives next to the device database, in `<db>.pki/` (like `<db>.psam.json`);
 * - `deviceTlsFor(dbPath)` returns `{}` for a device without a certificate (SyncClient keeps its
 *   bearer credential and the main API URL), or `{ gatewayUrl, fetch }` to sync over mutual TLS
 *   with the device listener. Spread it into the SyncClient options:
 *     new SyncClient({ device, gatewayUrl: link.url, credential: link.credential, ...deviceTlsFor(dbPath) })
 * - its fetch renews the certificate before a request once a third of the lifetime is left
 *   (through the same mutual-TLS channel; a failed renewal is retried at most once a minute and
 *   never blocks the sync, the current certificate stays valid until its end).
 * - `runPkiCommand('enrol' | 'renew', ...)` implements `validator enrol` and `validator renew`.
 */
import { existsSync } from 'node:fs';
import { enrolDevice, enrolWithCode, enrolWithCredential, renewCertificate } from './enrolment.ts';
import { IDENTITY_FILE, loadDeviceIdentity, needsRenewal, type DeviceIdentity } from './device-identity.ts';
import { createMtlsFetch, type MtlsFetch } from './mtls-fetch.ts';
import { join } from 'node:path';

/** The options of `validator enrol` (its help text and the full help's "enrol" section). */
export const ENROL_OPTIONS_HELP = `  --code CODE               the one-time enrolment code an operator created
                            (POST /v1/devices/{id}/enrolment on the gateway)
  --operator-token TOKEN    or: create the code and enrol in one go (default env GATEWAY_ADMIN_TOKEN)
                            without either, the device's own credential from "init" is used
  --gateway URL             the main API (default: the gateway the device was registered with)
  The device makes its own RSA key and CSR; the key stays in <db>.pki/ (mode 0600). Once enrolled,
  sync goes to the gateway's mutual-TLS device port (DEVICE_PORT, default 8443).
`;

/** The options of `validator renew`. */
export const RENEW_OPTIONS_HELP = `  --device-url URL          the device port (default: the one announced at enrolment)
  --if-due                  renew only when a third of the certificate's lifetime is left
`;

export const PKI_HELP = `enrol\n${ENROL_OPTIONS_HELP}renew\n${RENEW_OPTIONS_HELP}`;

export function identityDirFor(dbPath: string): string {
  return `${dbPath}.pki`;
}

export function hasDeviceIdentity(dbPath: string): boolean {
  return existsSync(join(identityDirFor(dbPath), IDENTITY_FILE));
}

const RENEW_RETRY_MS = 60_000;

/** A mutual-TLS fetch that renews the certificate when due, before the request it serves. */
export function renewingMtlsFetch(dir: string, clock: () => number = Date.now): MtlsFetch {
  let lastAttemptMs = -Infinity;
  let renewing: Promise<unknown> | null = null;
  const current = (): DeviceIdentity => {
    const identity = loadDeviceIdentity(dir);
    if (!identity) throw new Error(`the device identity in ${dir} disappeared`);
    return identity;
  };
  const inner = createMtlsFetch(current);
  const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const nowMs = clock();
    if (renewing === null && nowMs - lastAttemptMs >= RENEW_RETRY_MS && needsRenewal(current(), nowMs)) {
      lastAttemptMs = nowMs;
      renewing = renewCertificate({ dir })
        .catch(() => undefined)
        .finally(() => {
          renewing = null;
        });
    }
    if (renewing !== null) await renewing;
    return inner(input, init);
  };
  return Object.assign(wrapped, { close: () => inner.close() }) as unknown as MtlsFetch;
}

/** SyncClient options for mutual TLS when the device holds a certificate; `{}` otherwise. */
export function deviceTlsFor(dbPath: string, options: { clock?: () => number } = {}): { gatewayUrl?: string; fetch?: MtlsFetch } {
  const dir = identityDirFor(dbPath);
  const identity = loadDeviceIdentity(dir);
  if (!identity?.deviceUrl) return {};
  return { gatewayUrl: identity.deviceUrl, fetch: renewingMtlsFetch(dir, options.clock) };
}

export interface PkiCommandInput {
  dbPath: string;
  deviceId: string;
  /** The main API and the device credential stored at init, if any. */
  link: { url: string; credential: string } | undefined;
  code?: string;
  operatorToken?: string;
  gatewayUrl?: string;
  deviceUrl?: string;
  ifDue?: boolean;
  nowMs?: number;
}

/** `validator enrol` / `validator renew`; returns a JSON-able summary (no key, code or credential). */
export async function runPkiCommand(command: 'enrol' | 'renew', input: PkiCommandInput): Promise<Record<string, unknown>> {
  const dir = identityDirFor(input.dbPath);
  let identity: DeviceIdentity;
  let renewed = true;
  if (command === 'enrol') {
    const gatewayUrl = input.gatewayUrl ?? input.link?.url;
    if (!gatewayUrl) throw new Error('enrol needs --gateway URL (the device has no gateway link)');
    const base = { dir, gatewayUrl, deviceId: input.deviceId };
    if (input.code) identity = await enrolWithCode({ ...base, enrolmentCode: input.code });
    else if (input.operatorToken) identity = await enrolDevice({ ...base, operatorToken: input.operatorToken });
    else if (input.link?.credential) identity = await enrolWithCredential({ ...base, credential: input.link.credential });
    else throw new Error('enrol needs --code, --operator-token, or a device credential from "validator init --gateway"');
  } else {
    const current = loadDeviceIdentity(dir);
    if (!current) throw new Error('this device has no certificate: run "validator enrol" first');
    if (input.ifDue && !needsRenewal(current, input.nowMs ?? Date.now())) {
      identity = current;
      renewed = false;
    } else identity = await renewCertificate({ dir, deviceUrl: input.deviceUrl });
  }
  return {
    command,
    deviceId: identity.deviceId,
    serial: identity.serial,
    notAfter: new Date(identity.notAfterMs).toISOString(),
    deviceUrl: identity.deviceUrl,
    identityDir: dir,
    ...(command === 'renew' ? { renewed } : {}),
  };
}

/**
 * One call for simulated fleets (the demo): enrols the device if it holds no certificate yet (or
 * only an expired one), then returns the SyncClient options for mutual TLS:
 *   const sync = new SyncClient({ device, credential, ...(await enrolForSync({ dbPath, gatewayUrl, operatorToken, deviceId, clock })) });
 */
export async function enrolForSync(input: {
  dbPath: string;
  gatewayUrl: string;
  operatorToken: string;
  deviceId: string;
  clock?: () => number;
}): Promise<{ gatewayUrl: string; fetch: MtlsFetch }> {
  const dir = identityDirFor(input.dbPath);
  const clock = input.clock ?? Date.now;
  const current = loadDeviceIdentity(dir);
  if (!current || current.deviceId !== input.deviceId || current.notAfterMs <= clock() || !current.deviceUrl) {
    await enrolDevice({ dir, gatewayUrl: input.gatewayUrl, operatorToken: input.operatorToken, deviceId: input.deviceId });
  }
  const identity = loadDeviceIdentity(dir)!;
  if (!identity.deviceUrl) throw new Error('the gateway announced no device listener URL (is the device listener started?)');
  return { gatewayUrl: identity.deviceUrl, fetch: renewingMtlsFetch(dir, clock) };
}
