/**
 * Strict shape check of a sync upload (core/src/sync/sync-messages.ts) after msgpack decoding.
 * Every field of every record is checked for type and range, and the first reasons are
 * returned, so a malformed batch is a 400 that changes nothing. Unknown extra fields are
 * ignored: the journal contract only ever adds fields at the end (forward compatibility).
 */
import { LIMITS, SYNC_PROTOCOL_VERSION, isCardNo, type JournalRecord, type SyncRequest } from '#core';

const DEVICE_KINDS = new Set(['subway-entry', 'subway-exit', 'bus', 'suburban-entry', 'suburban-exit', 'pr-entry', 'pr-exit', 'park-gate']);
const OPERATORS = new Set(['subway', 'bus', 'pr', 'park', 'suburban']);
const CARD_ACTIONS = new Set(['debit', 'block', 'none']);
const ALGORITHMS = new Set(['3des', 'sm4']);
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const TERMINAL_ID = /^[0-9A-Fa-f]{12}$/;
const TAC = /^[0-9A-Fa-f]{8}$/;
const MAX_REASONS = 10;

export type SyncRequestCheck = { ok: true; request: SyncRequest } | { ok: false; reasons: string[] };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

function isDate(value: unknown): value is number {
  if (!isInt(value, 19_000_101, 29_991_231)) return false;
  const month = Math.floor(value / 100) % 100;
  const day = value % 100;
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

function isTime(value: unknown): value is number {
  if (!isInt(value, 0, 235_959)) return false;
  return Math.floor(value / 100) % 100 < 60 && value % 100 < 60;
}

/** Called once per field with whether it is valid; `field` and `what` name it for a reason. */
type FieldCheck = (ok: boolean, field: string, what: string) => void;

/** Every field rule of a journal record, each reported to `need`. */
function checkRecordFields(r: Record<string, unknown>, need: FieldCheck): void {
  need(typeof r.deviceId === 'string' && DEVICE_ID.test(r.deviceId), 'deviceId', 'device id string');
  need(isInt(r.deviceSeq, 0, Number.MAX_SAFE_INTEGER), 'deviceSeq', 'non-negative integer');
  need(typeof r.deviceKind === 'string' && DEVICE_KINDS.has(r.deviceKind), 'deviceKind', 'known device kind');
  need(typeof r.operator === 'string' && OPERATORS.has(r.operator), 'operator', 'subway|bus|pr|park|suburban');
  need(isInt(r.resultCode, 0, 0xffff), 'resultCode', 'integer 0..65535');
  need(isCardNo(r.cardNo), 'cardNo', '16 digits or 19 starting 31');
  need(typeof r.cardAction === 'string' && CARD_ACTIONS.has(r.cardAction), 'cardAction', 'debit|block|none');
  const debit = r.cardAction === 'debit';
  need(
    debit ? r.transactionType === 0x06 || r.transactionType === 0x09 : isInt(r.transactionType, 0, 0xff),
    'transactionType',
    debit ? '6 or 9 for a debit' : 'byte',
  );
  need(isInt(r.amountFen, 0, LIMITS.balanceCapFen + LIMITS.overdraftLimitFen), 'amountFen', 'fen within the purse range');
  need(isInt(r.balanceBeforeFen, -LIMITS.balanceCapFen, LIMITS.balanceCapFen), 'balanceBeforeFen', 'fen within the purse range');
  need(isInt(r.balanceAfterFen, -LIMITS.balanceCapFen, LIMITS.balanceCapFen), 'balanceAfterFen', 'fen within the purse range');
  need(isInt(r.offlineAtc, 0, 0xffff), 'offlineAtc', 'integer 0..65535');
  need(isInt(r.onlineAtc, 0, 0xffff), 'onlineAtc', 'integer 0..65535');
  need(typeof r.terminalId === 'string' && TERMINAL_ID.test(r.terminalId), 'terminalId', '12 hex digits');
  need(isInt(r.tsn, 0, 0xffff_ffff), 'tsn', 'u32');
  need(debit ? isDate(r.date) : isInt(r.date, 0, 29_991_231), 'date', 'YYYYMMDD');
  need(debit ? isTime(r.time) : isInt(r.time, 0, 235_959), 'time', 'hhmmss');
  need(typeof r.tac === 'string' && (debit ? TAC.test(r.tac) : r.tac === '' || TAC.test(r.tac)), 'tac', debit ? '8 hex digits' : "'' or 8 hex digits");
  need(isInt(r.keyVersion, 0, 0xff), 'keyVersion', 'byte');
  need(typeof r.algorithm === 'string' && ALGORITHMS.has(r.algorithm), 'algorithm', '3des|sm4');
  need(isInt(r.fareTableVersion, 0, Number.MAX_SAFE_INTEGER), 'fareTableVersion', 'non-negative integer');
  need(isInt(r.place, 0, Number.MAX_SAFE_INTEGER), 'place', 'non-negative integer');
  need(isInt(r.line, 0, Number.MAX_SAFE_INTEGER), 'line', 'non-negative integer');
  need(isInt(r.occurredAtMs, 0, Number.MAX_SAFE_INTEGER), 'occurredAtMs', 'epoch ms');
  need(typeof r.recovered === 'boolean', 'recovered', 'boolean');
  need(r.recoveredAtMs === undefined || isInt(r.recoveredAtMs, 0, Number.MAX_SAFE_INTEGER), 'recoveredAtMs', 'epoch ms (or absent)');
  need(r.journeyEntryPlace === undefined || isInt(r.journeyEntryPlace, 0, 0xffff), 'journeyEntryPlace', 'station code 0..65535 (or absent)');
  need(
    r.overtimeFen === undefined ||
      (isInt(r.overtimeFen, 0, LIMITS.balanceCapFen + LIMITS.overdraftLimitFen) && (typeof r.amountFen !== 'number' || r.overtimeFen <= r.amountFen)),
    'overtimeFen',
    'fen from 0 to amountFen (or absent)',
  );
}

// The allocation-free verdict of checkRecordFields, for the usual all-valid record of a batch
// (checked 5,000 times per sync); the reasons are worked out only for a record that fails.
let allFieldsValid = true;
const noteField: FieldCheck = (ok) => {
  if (!ok) allFieldsValid = false;
};

/** True when every field rule holds (the same rules journalRecordProblems reports on). */
function recordFieldsValid(value: unknown): boolean {
  if (!isObject(value)) return false;
  allFieldsValid = true;
  checkRecordFields(value, noteField);
  return allFieldsValid;
}

/** Reasons why `value` is not a JournalRecord of `deviceId`, empty when it is one. */
export function journalRecordProblems(value: unknown, at: string): string[] {
  if (!isObject(value)) return [`${at}: not a map`];
  const problems: string[] = [];
  checkRecordFields(value, (ok, field, what) => {
    if (!ok) problems.push(`${at}.${field}: ${what}`);
  });
  return problems;
}

export function isJournalRecord(value: unknown): value is JournalRecord {
  return journalRecordProblems(value, 'record').length === 0;
}

/** Checks a decoded sync body against the caller's device id. */
export function checkSyncRequest(value: unknown, deviceId: string): SyncRequestCheck {
  if (!isObject(value)) return { ok: false, reasons: ['body: not a map'] };
  const reasons: string[] = [];
  if (value.protocolVersion !== SYNC_PROTOCOL_VERSION) reasons.push(`protocolVersion: must be ${SYNC_PROTOCOL_VERSION}`);
  if (value.deviceId !== deviceId) reasons.push('deviceId: must be the device of the path and credential');
  if (!isInt(value.blacklistVersion, 0, Number.MAX_SAFE_INTEGER)) reasons.push('blacklistVersion: non-negative integer');
  if (!isInt(value.fareTableVersion, 0, Number.MAX_SAFE_INTEGER)) reasons.push('fareTableVersion: non-negative integer');
  if (!isInt(value.deviceTimeMs, 0, Number.MAX_SAFE_INTEGER)) reasons.push('deviceTimeMs: epoch ms');
  if (value.journalMore !== undefined && typeof value.journalMore !== 'boolean') reasons.push('journalMore: boolean (or absent)');
  const records = value.records;
  if (!Array.isArray(records)) {
    reasons.push('records: not an array');
  } else if (records.length > LIMITS.syncBatchRecords) {
    reasons.push(`records: at most ${LIMITS.syncBatchRecords} per batch`);
  } else {
    let previousSeq = -1;
    for (let i = 0; i < records.length && reasons.length < MAX_REASONS; i++) {
      const problems = recordFieldsValid(records[i]) ? [] : journalRecordProblems(records[i], `records[${i}]`);
      if (problems.length > 0) {
        reasons.push(...problems.slice(0, MAX_REASONS - reasons.length));
        continue;
      }
      const record = records[i] as JournalRecord;
      if (record.deviceId !== deviceId) reasons.push(`records[${i}].deviceId: a device uploads only its own records`);
      if (record.deviceSeq <= previousSeq) reasons.push(`records[${i}].deviceSeq: must be strictly ascending`);
      previousSeq = record.deviceSeq;
    }
  }
  if (reasons.length > 0) return { ok: false, reasons: reasons.slice(0, MAX_REASONS) };
  return { ok: true, request: value as unknown as SyncRequest };
}
