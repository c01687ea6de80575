/**
 * Composition helpers for `npm start`, the demo and tests (issue 9, issue 14.4):
 *
 *   const pki = initDevicePki(pkiConfig);                      // create the CA if missing (pki init, demo)
 *   const pki = devicePkiFromConfig(pkiConfig);                // npm start: the existing CA, or null
 *   const app = await buildGateway({ ..., devicePki: pki });    // main API (enrolment, revocation)
 *   const devices = await startDevicePkiListener(app, pki, pkiConfig);   // mutual TLS, sync
 *
 * Devices then enrol over HTTP with `enrolDevice({ dir, gatewayUrl, operatorToken, deviceId })`
 * (validator-firmware-sim/src/pki/enrolment.ts) and sync with `deviceTlsFor(dbPath)` or
 * `createMtlsFetch(identity)` as SyncClient's fetch, against `pki.deviceUrl`.
 */
import type { FastifyInstance } from 'fastify';
import { deviceCaExists, deviceCaPartlyExists, ensureDeviceCa, ensureServerTls, loadDeviceCa } from './device-ca.ts';
import { startDeviceListener, type StartedDeviceListener } from './device-listener.ts';
import { makeDevicePki, type DevicePki } from './device-pki.ts';
import type { DevicePkiConfig } from './pki-config.ts';

type PkiFolders = Pick<DevicePkiConfig, 'dir' | 'certificateValidityMs' | 'enrolmentCodeTtlMs'> & { keyDir?: string };

/**
 * Creates the device CA when the folders hold none, else loads it: the explicit opt-in of
 * `npm run gateway -- pki init` and of the demo. `npm start` never calls it.
 */
export function initDevicePki(config: PkiFolders, nowMs?: number): DevicePki {
  const ca = ensureDeviceCa(config.dir, { nowMs, keyDir: config.keyDir });
  return makeDevicePki(ca, { certificateValidityMs: config.certificateValidityMs, enrolmentCodeTtlMs: config.enrolmentCodeTtlMs });
}

/** Loads an existing device CA (throws DevicePkiError when there is none). */
export function openDevicePki(config: PkiFolders): DevicePki {
  const ca = loadDeviceCa(config.dir, { keyDir: config.keyDir });
  return makeDevicePki(ca, { certificateValidityMs: config.certificateValidityMs, enrolmentCodeTtlMs: config.enrolmentCodeTtlMs });
}

/**
 * The PKI the configuration asks for at start, never creating a CA: null when off or when no CA
 * exists (auto); GATEWAY_DEVICE_PKI=on without a CA, or half a CA, throws.
 */
export function devicePkiFromConfig(config: DevicePkiConfig): DevicePki | null {
  if (config.mode === 'off') return null;
  if (!deviceCaExists(config.dir, config.keyDir)) {
    if (config.mode === 'auto' && !deviceCaPartlyExists(config.dir, config.keyDir)) return null;
    // on without a CA, or one of its two files missing: loadDeviceCa names what is wrong.
  }
  return openDevicePki(config);
}

/** Starts the mutual-TLS listener next to a built main API; sets `pki.deviceUrl`. */
export async function startDevicePkiListener(
  app: FastifyInstance,
  pki: DevicePki,
  config: Pick<DevicePkiConfig, 'deviceHost' | 'devicePort' | 'advertisedHost' | 'hostnames'>,
  logger?: boolean | Record<string, unknown>,
): Promise<StartedDeviceListener> {
  const tls = ensureServerTls(pki.ca, config.hostnames);
  return startDeviceListener({
    gateway: app.gateway,
    pki,
    tls,
    host: config.deviceHost,
    port: config.devicePort,
    advertisedHost: config.advertisedHost,
    logger,
    metrics: app.gatewayMetrics,
  });
}
