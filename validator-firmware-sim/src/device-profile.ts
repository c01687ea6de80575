/**
 * What a device is and where it stands, stored in the device database's config table at
 * `validator init`, read at every start. The tap engine's DeviceConfig is derived from it.
 */
import { deviceConfig, type DeviceConfig, type DeviceKind, type Operator } from '#core';

export const DEVICE_KINDS: readonly DeviceKind[] = [
  'subway-entry',
  'subway-exit',
  'bus',
  'suburban-entry',
  'suburban-exit',
  'pr-entry',
  'pr-exit',
  'park-gate',
];

export interface DeviceProfile {
  deviceId: string;
  kind: DeviceKind;
  operator: Operator;
  /** Subway/suburban station code (0 otherwise) and its name, for display. */
  stationCode: number;
  stationName: string;
  /** Bus line id and the current stop index (a bus validator moves). */
  busLine: number;
  busStop: number;
  lotId: number;
  parkId: number;
  /** The PSAM's 6-byte terminal id as 12 hex digits. */
  terminalIdHex: string;
}

export function isDeviceKind(value: unknown): value is DeviceKind {
  return typeof value === 'string' && (DEVICE_KINDS as readonly string[]).includes(value);
}

export function profileToDeviceConfig(profile: DeviceProfile): DeviceConfig {
  return deviceConfig({
    deviceId: profile.deviceId,
    kind: profile.kind,
    operator: profile.operator,
    stationCode: profile.stationCode,
    busLine: profile.busLine,
    busStop: profile.busStop,
    lotId: profile.lotId,
    parkId: profile.parkId,
  });
}

/** A terminal id derived from the device id (stable, 6 bytes): FNV-1a over the id, 48 bits. */
export function terminalIdFor(deviceId: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < deviceId.length; i++) {
    h1 = Math.imul(h1 ^ deviceId.charCodeAt(i), 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ deviceId.charCodeAt(i), 0x811c9dc5) >>> 0;
  }
  return (h1.toString(16).padStart(8, '0') + (h2 & 0xffff).toString(16).padStart(4, '0')).toUpperCase();
}
