/** What a validator is: kind, where it stands, whose revenue it collects. */
import type { BlacklistReason } from '../sync/sync-messages.ts';
import type { DeviceKind, Operator } from './journal-record.ts';

export interface DeviceConfig {
  deviceId: string;
  kind: DeviceKind;
  operator: Operator;
  /** Subway gates: subway station code; suburban gates: suburban station code. 0 otherwise. */
  stationCode: number;
  /** Bus validators: line id, and the current stop index (from the bus's location). 0 otherwise. */
  busLine: number;
  busStop: number;
  /** P+R gates: lot id. 0 otherwise. */
  lotId: number;
  /** Park gates: park id. 0 otherwise. */
  parkId: number;
}

/** The blacklist answer the shell prefetched for the card. */
export type BlacklistAnswer = { listed: false } | { listed: true; reason: BlacklistReason };

export const NOT_LISTED: BlacklistAnswer = Object.freeze({ listed: false }) as BlacklistAnswer;

/** A device config with every field set (stable shape); fill what the kind needs. */
export function deviceConfig(fields: Partial<DeviceConfig> & Pick<DeviceConfig, 'deviceId' | 'kind'>): DeviceConfig {
  const defaultOperator: Record<DeviceKind, Operator> = {
    'subway-entry': 'subway',
    'subway-exit': 'subway',
    bus: 'bus',
    'suburban-entry': 'suburban',
    'suburban-exit': 'suburban',
    'pr-entry': 'pr',
    'pr-exit': 'pr',
    'park-gate': 'park',
  };
  return {
    deviceId: fields.deviceId,
    kind: fields.kind,
    operator: fields.operator ?? defaultOperator[fields.kind],
    stationCode: fields.stationCode ?? 0,
    busLine: fields.busLine ?? 0,
    busStop: fields.busStop ?? 0,
    lotId: fields.lotId ?? 0,
    parkId: fields.parkId ?? 0,
  };
}
