/**
 * The exact bytes each purse MAC and TAC covers (DOMAIN.md section 3), built in one place so
 * the card simulator, the PSAM, the issuer key service and the gateway's TAC check cannot
 * disagree. Amounts and balances are 4 bytes big-endian; balances are the *effective* balance
 * (balance - overdraft used) as a signed 32-bit value, so a card in overdraft reports a
 * negative number (the card keeps balance and overdraft used never both non-zero, so the
 * effective balance says everything). Dates are 4 bytes BCD YYYYMMDD, times 3 bytes BCD hhmmss.
 */
import { TRANSACTION_TYPE } from '../card/card-image.ts';
import { CardFormatError } from '../card/card-format-error.ts';
import { checkDate, checkTime, isValidDate, isValidTime, readBcd, writeBcd } from '../card/card-fields.ts';
import { hexToBytes } from '../crypto/bytes.ts';

function checkU32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`${name} must be a u32, got ${value}`);
}

function checkI32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`${name} must be an i32, got ${value}`);
}

function checkTerminalId(terminalId: Uint8Array): void {
  if (!(terminalId instanceof Uint8Array) || terminalId.length !== 6) throw new RangeError('terminalId must be 6 bytes');
}

function putU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

/** Transaction date YYYYMMDD as 4 bytes BCD. */
export function transactionDateBytes(date: number): Uint8Array {
  return transactionDateBytesInto(date, new Uint8Array(4));
}

/** transactionDateBytes written into `out` (4 bytes, from offset 0); returns `out`. */
export function transactionDateBytesInto(date: number, out: Uint8Array): Uint8Array {
  checkDate(date, 'transaction date');
  writeBcd(out, 0, date, 4);
  return out;
}

/** Transaction time hhmmss as 3 bytes BCD. */
export function transactionTimeBytes(time: number): Uint8Array {
  return transactionTimeBytesInto(time, new Uint8Array(3));
}

/** transactionTimeBytes written into `out` (3 bytes, from offset 0); returns `out`. */
export function transactionTimeBytesInto(time: number, out: Uint8Array): Uint8Array {
  checkTime(time, 'transaction time');
  writeBcd(out, 0, time, 3);
  return out;
}

/** Parses a 4-byte BCD date; null when malformed (the card answers 6700 then). */
export function parseTransactionDate(bytes: Uint8Array): number | null {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 4) return null;
  try {
    const value = readBcd(bytes, 0, 4, 'date');
    return isValidDate(value) ? value : null;
  } catch (error) {
    if (error instanceof CardFormatError) return null;
    throw error;
  }
}

/** Parses a 3-byte BCD time; null when malformed. */
export function parseTransactionTime(bytes: Uint8Array): number | null {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 3) return null;
  try {
    const value = readBcd(bytes, 0, 3, 'time');
    return isValidTime(value) ? value : null;
  } catch (error) {
    if (error instanceof CardFormatError) return null;
    throw error;
  }
}

/** 4-byte big-endian amount (MAC2 of a purchase covers exactly this). */
export function amountBytes(amountFen: number): Uint8Array {
  return amountBytesInto(amountFen, new Uint8Array(4));
}

/** As amountBytes, written into `out` (4 bytes; returned): for the PSAM's reused buffers. */
export function amountBytesInto(amountFen: number, out: Uint8Array): Uint8Array {
  checkU32(amountFen, 'amountFen');
  if (!(out instanceof Uint8Array) || out.length !== 4) throw new RangeError('amountBytesInto: out must be 4 bytes');
  putU32(out, 0, amountFen);
  return out;
}

/** Purchase MAC1: amount(4) || type(1) || terminalId(6) || date(4) || time(3). */
export function purchaseMac1Data(amountFen: number, transactionType: number, terminalId: Uint8Array, date: Uint8Array, time: Uint8Array): Uint8Array {
  return purchaseMac1DataInto(amountFen, transactionType, terminalId, date, time, new Uint8Array(18));
}

/** As purchaseMac1Data, written into `out` (18 bytes; returned): for the PSAM's reused buffers. */
export function purchaseMac1DataInto(
  amountFen: number,
  transactionType: number,
  terminalId: Uint8Array,
  date: Uint8Array,
  time: Uint8Array,
  out: Uint8Array,
): Uint8Array {
  checkU32(amountFen, 'amountFen');
  checkTerminalId(terminalId);
  if (!(out instanceof Uint8Array) || out.length !== 18) throw new RangeError('purchaseMac1DataInto: out must be 18 bytes');
  // Exact lengths: a reused buffer must not keep bytes of an earlier call.
  if (!(date instanceof Uint8Array) || date.length !== 4) throw new RangeError('purchaseMac1Data: date must be 4 bytes BCD');
  if (!(time instanceof Uint8Array) || time.length !== 3) throw new RangeError('purchaseMac1Data: time must be 3 bytes BCD');
  putU32(out, 0, amountFen);
  out[4] = transactionType;
  out.set(terminalId, 5);
  out.set(date, 11);
  out.set(time, 15);
  return out;
}

/** Fields of a purchase as the journal record carries them (JournalRecord has all of these). */
export interface PurchaseTacFields {
  amountFen: number;
  transactionType: number;
  /** 12 hex digits. */
  terminalId: string;
  tsn: number;
  /** YYYYMMDD and hhmmss. */
  date: number;
  time: number;
}

/** Purchase TAC: amount(4) || type(1) || terminalId(6) || TSN(4) || date(4) || time(3). */
export function purchaseTacData(fields: PurchaseTacFields): Uint8Array {
  return purchaseTacDataBytes(
    fields.amountFen,
    fields.transactionType,
    hexToBytes(fields.terminalId),
    fields.tsn,
    transactionDateBytes(fields.date),
    transactionTimeBytes(fields.time),
  );
}

/** Purchase TAC data from the raw command fields (what the card itself has). */
export function purchaseTacDataBytes(
  amountFen: number,
  transactionType: number,
  terminalId: Uint8Array,
  tsn: number,
  date: Uint8Array,
  time: Uint8Array,
): Uint8Array {
  checkU32(amountFen, 'amountFen');
  checkU32(tsn, 'tsn');
  checkTerminalId(terminalId);
  const out = new Uint8Array(22);
  putU32(out, 0, amountFen);
  out[4] = transactionType;
  out.set(terminalId, 5);
  putU32(out, 11, tsn);
  out.set(date, 15);
  out.set(time, 19);
  return out;
}

/** Load MAC1 (card -> issuer): oldBalance(4, signed effective) || amount(4) || type 02 || terminalId(6). */
export function loadMac1Data(balanceBeforeFen: number, amountFen: number, terminalId: Uint8Array): Uint8Array {
  checkI32(balanceBeforeFen, 'balanceBeforeFen');
  checkU32(amountFen, 'amountFen');
  checkTerminalId(terminalId);
  const out = new Uint8Array(15);
  putU32(out, 0, balanceBeforeFen >>> 0);
  putU32(out, 4, amountFen);
  out[8] = TRANSACTION_TYPE.load;
  out.set(terminalId, 9);
  return out;
}

/** Load MAC2 (issuer -> card): amount(4) || type 02 || terminalId(6) || date(4) || time(3). */
export function loadMac2Data(amountFen: number, terminalId: Uint8Array, date: Uint8Array, time: Uint8Array): Uint8Array {
  return purchaseMac1Data(amountFen, TRANSACTION_TYPE.load, terminalId, date, time);
}

export interface LoadTacFields {
  /** Effective balance after the credit (signed). */
  balanceAfterFen: number;
  /** Online ATC as INITIALIZE FOR LOAD returned it (before the increment). */
  onlineAtc: number;
  amountFen: number;
  /** 12 hex digits. */
  terminalId: string;
  date: number;
  time: number;
}

/** Load TAC: newBalance(4) || onlineATC(2) || amount(4) || type 02 || terminalId(6) || date(4) || time(3). */
export function loadTacData(fields: LoadTacFields): Uint8Array {
  return loadTacDataBytes(
    fields.balanceAfterFen,
    fields.onlineAtc,
    fields.amountFen,
    hexToBytes(fields.terminalId),
    transactionDateBytes(fields.date),
    transactionTimeBytes(fields.time),
  );
}

export function loadTacDataBytes(
  balanceAfterFen: number,
  onlineAtc: number,
  amountFen: number,
  terminalId: Uint8Array,
  date: Uint8Array,
  time: Uint8Array,
): Uint8Array {
  checkI32(balanceAfterFen, 'balanceAfterFen');
  checkU32(amountFen, 'amountFen');
  if (!Number.isInteger(onlineAtc) || onlineAtc < 0 || onlineAtc > 0xffff) throw new RangeError(`onlineAtc must be a u16, got ${onlineAtc}`);
  checkTerminalId(terminalId);
  const out = new Uint8Array(24);
  putU32(out, 0, balanceAfterFen >>> 0);
  out[4] = onlineAtc >>> 8;
  out[5] = onlineAtc & 0xff;
  putU32(out, 6, amountFen);
  out[10] = TRANSACTION_TYPE.load;
  out.set(terminalId, 11);
  out.set(date, 17);
  out.set(time, 21);
  return out;
}

/** Aliases with the names the issue brief uses. */
export const tacDataForPurchase = purchaseTacData;
export const tacDataForLoad = loadTacData;
