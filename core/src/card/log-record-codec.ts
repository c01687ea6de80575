/**
 * The 23-byte transaction log record (DOMAIN.md section 2, [S C4]):
 * ATC(2) overdraft(3) amount(4) type(1) terminal(6) date(4 BCD YYYYMMDD) time(3 BCD hhmmss).
 * `overdraftFen` is the overdraft used after the transaction (the card simulator's choice).
 */
import { TRANSACTION_TYPE, type TransactionLogRecord, type TransactionType } from './card-image.ts';
import {
  checkDate,
  checkHex,
  checkLength,
  checkTime,
  checkUint,
  fail,
  readDate,
  readHex,
  readTime,
  readU16,
  readU24,
  readU32,
  writeBcd,
  writeHex,
  writeU16,
  writeU24,
  writeU32,
} from './card-fields.ts';

export const LOG_RECORD_BYTES = 23;

export function isTransactionType(value: unknown): value is TransactionType {
  return value === TRANSACTION_TYPE.load || value === TRANSACTION_TYPE.purchase || value === TRANSACTION_TYPE.compositePurchase;
}

export function validateLogRecord(record: TransactionLogRecord): void {
  if (record === null || typeof record !== 'object') fail('log record must be an object');
  checkUint(record.atc, 0xffff, 'log record atc');
  checkUint(record.overdraftFen, 0xffffff, 'log record overdraftFen');
  checkUint(record.amountFen, 0xffffffff, 'log record amountFen');
  if (!isTransactionType(record.type)) fail(`log record type must be 02, 06 or 09, got ${String(record.type)}`);
  checkHex(record.terminalId, 6, 'log record terminalId');
  checkDate(record.date, 'log record date');
  checkTime(record.time, 'log record time');
}

/** Writes a validated record at `offset` (used by the card view codec too). */
export function writeLogRecordAt(out: Uint8Array, offset: number, record: TransactionLogRecord): void {
  writeU16(out, offset, record.atc);
  writeU24(out, offset + 2, record.overdraftFen);
  writeU32(out, offset + 5, record.amountFen);
  out[offset + 9] = record.type;
  writeHex(out, offset + 10, record.terminalId);
  writeBcd(out, offset + 16, record.date, 4);
  writeBcd(out, offset + 20, record.time, 3);
}

export function readLogRecordAt(bytes: Uint8Array, offset: number): TransactionLogRecord {
  const type = bytes[offset + 9];
  if (!isTransactionType(type)) fail(`log record type must be 02, 06 or 09, got 0x${type.toString(16).padStart(2, '0')}`);
  return {
    atc: readU16(bytes, offset),
    overdraftFen: readU24(bytes, offset + 2),
    amountFen: readU32(bytes, offset + 5),
    type,
    terminalId: readHex(bytes, offset + 10, 6),
    date: readDate(bytes, offset + 16, 'log record date'),
    time: readTime(bytes, offset + 20, 'log record time'),
  };
}

export function encodeLogRecord(record: TransactionLogRecord): Uint8Array {
  validateLogRecord(record);
  const out = new Uint8Array(LOG_RECORD_BYTES);
  writeLogRecordAt(out, 0, record);
  return out;
}

export function parseLogRecord(bytes: Uint8Array): TransactionLogRecord {
  checkLength(bytes, LOG_RECORD_BYTES, 'log record');
  return readLogRecordAt(bytes, 0);
}
