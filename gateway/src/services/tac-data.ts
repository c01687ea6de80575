/**
 * The exact bytes a card's TAC covers (DOMAIN.md section 3), for the gateway's verification.
 * Purchase: amount(4) || type(1) || terminalId(6) || TSN(4) || date(4 BCD) || time(3 BCD).
 * Load:     newBalance(4) || onlineATC(2) || amount(4) || type 02 (1) || terminalId(6) || date(4) || time(3).
 * Hot path of sync ingest: one preallocated-size buffer per call, no intermediate arrays.
 */
import { TRANSACTION_TYPE } from '../../../core/src/index.ts';

function writeBcd(out: Uint8Array, offset: number, value: number, byteLength: number): void {
  let rest = value;
  for (let i = byteLength - 1; i >= 0; i--) {
    const low = rest % 10;
    rest = Math.floor(rest / 10);
    const high = rest % 10;
    rest = Math.floor(rest / 10);
    out[offset + i] = (high << 4) | low;
  }
  if (rest !== 0) throw new RangeError(`${value} does not fit ${byteLength} BCD bytes`);
}

function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

export function purchaseTacData(input: { amountFen: number; transactionType: number; terminalId: Uint8Array; tsn: number; date: number; time: number }): Uint8Array {
  if (input.terminalId.length !== 6) throw new RangeError('terminal id is 6 bytes');
  const out = new Uint8Array(22);
  writeU32(out, 0, input.amountFen);
  out[4] = input.transactionType & 0xff;
  out.set(input.terminalId, 5);
  writeU32(out, 11, input.tsn);
  writeBcd(out, 15, input.date, 4);
  writeBcd(out, 19, input.time, 3);
  return out;
}

export function loadTacData(input: { newBalanceFen: number; onlineAtc: number; amountFen: number; terminalId: Uint8Array; date: number; time: number }): Uint8Array {
  if (input.terminalId.length !== 6) throw new RangeError('terminal id is 6 bytes');
  const out = new Uint8Array(24);
  writeU32(out, 0, input.newBalanceFen);
  out[4] = (input.onlineAtc >>> 8) & 0xff;
  out[5] = input.onlineAtc & 0xff;
  writeU32(out, 6, input.amountFen);
  out[10] = TRANSACTION_TYPE.load;
  out.set(input.terminalId, 11);
  writeBcd(out, 17, input.date, 4);
  writeBcd(out, 21, input.time, 3);
  return out;
}
