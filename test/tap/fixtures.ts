import { buildFareTables, type CardView, defaultFareTablesSpec, emptyParkPass, emptyTripRecord, epochMsFromBeijing, type FareTables } from '#core';
import { SUBWAY_CSV } from '../fare/subway-data.ts';

export const FARES: FareTables = buildFareTables(defaultFareTablesSpec(SUBWAY_CSV, 3, 0));

/** Wednesday 2026-11-25, Beijing time. */
export const wed = (hhmmss: number): number => epochMsFromBeijing(20261125, hhmmss);
export const sec = (ms: number): number => Math.floor(ms / 1000);

export function makeCard(overrides: Partial<CardView> = {}): CardView {
  return {
    cardNo: '1000000000000018',
    issuerCode: '1000',
    issuerId: '01011000FFFFFFFF',
    startDate: 20151225,
    generation: 3,
    profile: 'adult',
    transitOpened: true,
    suburbanOpened: false,
    expiryDate: 20351231,
    balanceFen: 5_000,
    overdraftUsedFen: 0,
    overdraftLimitFen: 2_000,
    offlineAtc: 5,
    onlineAtc: 1,
    keyVersion: 1,
    algorithm: '3des',
    log: [],
    trip: emptyTripRecord(),
    parkPasses: [emptyParkPass(), emptyParkPass()],
    locked: false,
    ...overrides,
  };
}
