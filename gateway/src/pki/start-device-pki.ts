/**
 * Composition helpers for `npm start`, the demo and tests (issue 9):
 *
 *   const pki = openDevicePki(pkiConfig);                       // CA created on first run
 *   const app = await buildGateway({ ..., devicePki: pki });    // main API (enrolment, revocation)
 *   const devices = await startDevicePkiListener(app, pki, pkiConfig);   // mutual TLS, sync
 *
 * Devices then enrol over HTTP with `enrolDevice({ dir, gatewayUrl, operatorToken, deviceId })`
 * (validator-firmware-sim/src/pki/enrolment.ts) and sync with `deviceTlsFor(dbPath)` or
 * `createMtlsFetch(identity)` as SyncClient's fetch, against `pki.deviceUrl`.
 */
import type { FastifyInstance } from 'fastify';
import { deviceCaExists, ensureDeviceCa, ensureServerTls } from './device-ca.ts';
import { startDeviceListener, type StartedDeviceListener } from './device-listener.ts';
import { makeDevicePki, type DevicePki } from './device-pki.ts';
import type { DevicePkiConfig } from './pki-config.ts';

export function openDevicePki(config: Pick<DevicePkiConfig, 'dir' | 'certificateValidityMs' | 'enrolmentCodeTtlMs'>, nowMs?: number): DevicePki {
  const ca = ensureDeviceCa(config.dir, { nowMs });
  return makeDevicePki(ca, { certificateValidityMs: config.certificateValidityMs, enrolmentCodeTtlMs: config.enrolmentCodeTtlMs });
}

/** The PKI the configuration asks for: null when off, or when the CA is missing and may not be created here. */
export function devicePkiFromConfig(config: DevicePkiConfig, nowMs?: number): DevicePki | null {
  if (!config.enabled) return null;
  if (!config.createIfMissing && !deviceCaExists(config.dir)) return null;
  return openDevicePki(config, nowMs);
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
  });
}
