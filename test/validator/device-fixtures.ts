/** Devices, fare tables, a wallet of cards and a test issuer for the validator tests. */
import { defaultFareTablesSpec, encodeFareTablesJson, stationCode, parseFareTablesJson, type DeviceKind } from '#core';
import { SUBWAY_CSV } from '../fare/subway-data.ts';
import { makeCardImage, makeIssuer } from '../purse/fixtures.ts';
import { Device, initDevice } from '#validator/device';
import { terminalIdFor, type DeviceProfile } from '#validator/device-profile';
import { CardWallet } from '#validator/rider/card-wallet';
import { tempDir } from './temp-db.ts';

export const ISSUER = makeIssuer();
export const FARE_JSON = encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 1, 0));
export const FARES = parseFareTablesJson(FARE_JSON);
export const 花园桥 = stationCode(FARES.subway, '花园桥');
export const 潞城 = stationCode(FARES.subway, '潞城');

/** 2026-11-25 (a Wednesday) 08:00 Beijing = 00:00 UTC. */
export const MORNING_MS = Date.UTC(2026, 10, 25, 0, 0, 0);

export function profile(deviceId: string, kind: DeviceKind, place: Partial<DeviceProfile> = {}): DeviceProfile {
  const operator = kind.startsWith('subway')
    ? 'subway'
    : kind === 'bus'
      ? 'bus'
      : kind.startsWith('suburban')
        ? 'suburban'
        : kind.startsWith('pr')
          ? 'pr'
          : 'park';
  return {
    deviceId,
    kind,
    operator,
    stationCode: 0,
    stationName: '',
    busLine: 0,
    busStop: 0,
    lotId: 0,
    parkId: 0,
    terminalIdHex: terminalIdFor(deviceId),
    ...place,
  };
}

export function createDevice(dbPath: string, p: DeviceProfile, fareJson: string | null = FARE_JSON): Device {
  initDevice(dbPath, { profile: p, fareTablesJson: fareJson ?? undefined, nowMs: MORNING_MS });
  return Device.open(dbPath, { psamKeys: ISSUER.psamKeyMaterial() });
}

export function openDevice(dbPath: string): Device {
  return Device.open(dbPath, { psamKeys: ISSUER.psamKeyMaterial() });
}

export function cardNo(i: number): string {
  return `10007543${String(i).padStart(8, '0')}`;
}

export function issueCards(wallet: CardWallet, count: number, balanceFen = 5_000, first = 1): string[] {
  const numbers: string[] = [];
  for (let i = first; i < first + count; i++) {
    const image = makeCardImage(ISSUER, { cardNo: cardNo(i), effectiveBalanceFen: balanceFen, algorithm: i % 2 === 0 ? 'sm4' : '3des' });
    wallet.put(image);
    numbers.push(image.cardNo);
  }
  return numbers;
}

/** A temp folder with a card wallet, the subway entry GATE-IN-1 at 花园桥 and the exit GATE-OUT-1 at 潞城. */
export interface SubwayGates {
  tmp: ReturnType<typeof tempDir>;
  wallet: CardWallet;
  entry: Device;
  exit: Device;
}

export function openSubwayGates(): SubwayGates {
  const tmp = tempDir();
  return {
    tmp,
    wallet: new CardWallet(tmp.file('cards.db')),
    entry: createDevice(tmp.file('entry.db'), profile('GATE-IN-1', 'subway-entry', { stationCode: 花园桥, stationName: '花园桥' })),
    exit: createDevice(tmp.file('exit.db'), profile('GATE-OUT-1', 'subway-exit', { stationCode: 潞城, stationName: '潞城' })),
  };
}

/** Closes the gates and the wallet and removes the folder: pass the devices the test holds now (it may have reopened them). */
export function closeSubwayGates(g: SubwayGates): void {
  g.entry.close();
  g.exit.close();
  g.wallet.close();
  g.tmp.cleanup();
}
