/**
 * What `validator init` asks the gateway (operator side): register the device and receive its
 * credential (POST /v1/devices, shown once). The device keeps the credential in its config.
 */
import type { DeviceKind } from '#core';
import type { DeviceProfile } from './device-profile.ts';

/** The gateway registry's coarser device kinds. */
export function gatewayDeviceKind(kind: DeviceKind): 'subway-gate' | 'bus-validator' | 'pr-gate' | 'park-gate' {
  if (kind === 'bus') return 'bus-validator';
  if (kind === 'pr-entry' || kind === 'pr-exit') return 'pr-gate';
  if (kind === 'park-gate') return 'park-gate';
  return 'subway-gate';
}

export class GatewayAdminError extends Error {
  override readonly name = 'GatewayAdminError';
}

/** Registers the device; returns its credential. `operatorToken` is an operator's Bearer token. */
export async function registerDevice(gatewayUrl: string, operatorToken: string, profile: DeviceProfile, fetchFn: typeof fetch = fetch): Promise<string> {
  const place: Record<string, string> = {};
  if (profile.kind === 'bus') place.line = String(profile.busLine);
  else if (profile.kind === 'pr-entry' || profile.kind === 'pr-exit') place.lot = String(profile.lotId);
  else if (profile.kind === 'park-gate') place.park = String(profile.parkId);
  else place.station = profile.stationName || String(profile.stationCode);
  const res = await fetchFn(`${gatewayUrl.replace(/\/+$/, '')}/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId: profile.deviceId, kind: gatewayDeviceKind(profile.kind), ...place }),
  });
  const text = await res.text();
  if (res.status !== 201) throw new GatewayAdminError(`registering ${profile.deviceId} failed: ${res.status} ${text.slice(0, 300)}`);
  const credential = (JSON.parse(text) as { credential?: unknown }).credential;
  if (typeof credential !== 'string') throw new GatewayAdminError('the gateway answered no credential');
  return credential;
}
