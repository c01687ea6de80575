/**
 * The INITIALIZE answers as bytes and back (DOMAIN.md section 3):
 * purchase: balance(4) offlineATC(2) overdraftLimit(3) keyVersion(1) algorithmId(1) random(4), 15 bytes;
 * load:     balance(4) onlineATC(2) keyVersion(1) algorithmId(1) random(4) MAC1(4), 16 bytes.
 * `balance` is the effective balance as a signed 32-bit value (see purse-data.ts).
 */
import type { LoadInit, PurchaseInit } from '../ports/card-port.ts';

export const PURCHASE_INIT_BYTES = 15;
export const LOAD_INIT_BYTES = 16;

function i32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3] | 0;
}

function putI32(out: Uint8Array, o: number, value: number): void {
  out[o] = (value >>> 24) & 0xff;
  out[o + 1] = (value >>> 16) & 0xff;
  out[o + 2] = (value >>> 8) & 0xff;
  out[o + 3] = value & 0xff;
}

export function encodePurchaseInit(init: PurchaseInit): Uint8Array {
  const out = new Uint8Array(PURCHASE_INIT_BYTES);
  putI32(out, 0, init.balanceFen);
  out[4] = init.offlineAtc >>> 8;
  out[5] = init.offlineAtc & 0xff;
  out[6] = (init.overdraftLimitFen >>> 16) & 0xff;
  out[7] = (init.overdraftLimitFen >>> 8) & 0xff;
  out[8] = init.overdraftLimitFen & 0xff;
  out[9] = init.keyVersion;
  out[10] = init.algorithmId;
  out.set(init.random, 11);
  return out;
}

/** Null when the answer has the wrong length. */
export function parsePurchaseInit(data: Uint8Array): PurchaseInit | null {
  if (!(data instanceof Uint8Array) || data.length !== PURCHASE_INIT_BYTES) return null;
  return {
    balanceFen: i32(data, 0),
    offlineAtc: (data[4] << 8) | data[5],
    overdraftLimitFen: (data[6] << 16) | (data[7] << 8) | data[8],
    keyVersion: data[9],
    algorithmId: data[10],
    random: data.slice(11, 15),
  };
}

export function encodeLoadInit(init: LoadInit): Uint8Array {
  const out = new Uint8Array(LOAD_INIT_BYTES);
  putI32(out, 0, init.balanceFen);
  out[4] = init.onlineAtc >>> 8;
  out[5] = init.onlineAtc & 0xff;
  out[6] = init.keyVersion;
  out[7] = init.algorithmId;
  out.set(init.random, 8);
  out.set(init.mac1, 12);
  return out;
}

export function parseLoadInit(data: Uint8Array): LoadInit | null {
  if (!(data instanceof Uint8Array) || data.length !== LOAD_INIT_BYTES) return null;
  return {
    balanceFen: i32(data, 0),
    onlineAtc: (data[4] << 8) | data[5],
    keyVersion: data[6],
    algorithmId: data[7],
    random: data.slice(8, 12),
    mac1: data.slice(12, 16),
  };
}
