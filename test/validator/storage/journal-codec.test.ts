import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { flatRecordMatches, writeFlatRecord } from '#validator/storage/journal-codec';
import { encodeJournalRecord, decodeJournalRecord } from '#validator/storage/journal-store';
import type { JournalRecord } from '#core';

function sampleRecord(deviceSeq: number, overrides: Partial<JournalRecord> = {}): JournalRecord {
  return {
    deviceId: 'dev-1',
    deviceSeq,
    deviceKind: 'subway-exit',
    operator: 'subway',
    resultCode: 0,
    cardNo: '1000000000000001',
    cardAction: 'debit',
    transactionType: 0x09,
    amountFen: 300,
    balanceBeforeFen: 1000,
    balanceAfterFen: 700,
    offlineAtc: deviceSeq & 0xffff,
    onlineAtc: 1,
    terminalId: '000000000001',
    tsn: deviceSeq >>> 0,
    date: 20260115,
    time: 83000,
    tac: 'deadbeef',
    keyVersion: 1,
    algorithm: '3des',
    fareTableVersion: 1,
    place: 101,
    line: 0,
    occurredAtMs: 1_768_000_000_000 + deviceSeq,
    recovered: false,
    ...overrides,
  };
}

const scratch = new Uint8Array(16 * 1024);

/** Numbers at every msgpack width boundary, negative ones, doubles, -0, large integers. */
const anyNumber = fc.oneof(
  fc.integer({ min: -0x80000000, max: 0xffffffff }),
  fc.constantFrom(
    0,
    -0,
    0x1f,
    0x20,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x10000,
    0xffffffff,
    0x100000000,
    -1,
    -0x20,
    -0x21,
    -0x80,
    -0x81,
    -0x8000,
    -0x8001,
    -0x80000000,
    -0x80000001,
  ),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ noNaN: false }),
);
const asciiString = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 300 });
const anyString = fc.oneof(asciiString, fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 10 }));

describe('journal codec (the tap path writes msgpack itself)', () => {
  it('writes exactly what msgpackr pack writes for flat records, or declines (-1)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          asciiString.filter((k) => k !== '__proto__'),
          fc.oneof(anyNumber, anyString, fc.boolean()),
          { maxKeys: 30 },
        ),
        (record) => {
          const length = writeFlatRecord(scratch, record);
          const expected = pack(record);
          const asciiOnly = Object.entries(record).every(
            ([k, v]) => k.length <= 255 && /^[\x00-\x7f]*$/.test(k) && (typeof v !== 'string' || (v.length <= 255 && /^[\x00-\x7f]*$/.test(v))),
          );
          if (asciiOnly) expect(length).toBeGreaterThanOrEqual(0);
          if (length >= 0) expect(Buffer.from(scratch.subarray(0, length)).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes a journal record byte for byte as msgpackr, negative balances and large numbers included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: -0x7fffffff, max: 0xffffffff }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.boolean(),
        (seq, balance, at, recovered) => {
          const record = sampleRecord(seq, { balanceBeforeFen: balance, balanceAfterFen: balance - 300, occurredAtMs: at, recovered });
          const length = writeFlatRecord(scratch, record);
          expect(Buffer.from(scratch.subarray(0, length)).equals(pack(record))).toBe(true);
          expect(encodeJournalRecord(record).equals(pack(record))).toBe(true);
          expect(decodeJournalRecord(encodeJournalRecord(record))).toEqual(record);
          expect(flatRecordMatches(scratch, length, record)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('declines nested values, undefined and non-ASCII strings; encodeJournalRecord then uses msgpackr', () => {
    expect(writeFlatRecord(scratch, { a: { b: 1 } })).toBe(-1);
    expect(writeFlatRecord(scratch, { a: undefined })).toBe(-1);
    expect(writeFlatRecord(scratch, { a: null })).toBe(-1);
    const record = sampleRecord(7, { deviceId: '北京-站-1' });
    expect(writeFlatRecord(scratch, record)).toBe(-1);
    expect(encodeJournalRecord(record).equals(pack(record))).toBe(true);
    expect(unpack(encodeJournalRecord(record))).toEqual(record);
  });

  it('declines when the buffer has no room', () => {
    expect(writeFlatRecord(new Uint8Array(64), sampleRecord(1))).toBe(-1);
  });

  it('the read-back check fails on another record, a truncation, a flipped field or a foreign type', () => {
    const record = sampleRecord(42);
    const length = writeFlatRecord(scratch, record);
    expect(flatRecordMatches(scratch, length, record)).toBe(true);
    expect(flatRecordMatches(scratch, length, { ...record, deviceSeq: 43 })).toBe(false);
    expect(flatRecordMatches(scratch, length, { ...record, amountFen: 301 })).toBe(false);
    expect(flatRecordMatches(scratch, length, { ...record, cardNo: '1000000000000002' })).toBe(false);
    for (let cut = 0; cut < length; cut++) expect(flatRecordMatches(scratch, cut, record)).toBe(false);
    // A record missing one of the checked fields does not match.
    const { cardNo: _dropped, ...withoutCardNo } = record;
    const shortLength = writeFlatRecord(scratch, withoutCardNo);
    expect(flatRecordMatches(scratch, shortLength, record)).toBe(false);
    // A nested map (not what the writer produces) is refused.
    const nested = pack({ deviceSeq: 42, amountFen: 300, cardNo: record.cardNo, x: { y: 1 } });
    expect(flatRecordMatches(nested, nested.length, record)).toBe(false);
    // The check reads msgpackr's own bytes the same way.
    const theirs = pack(record);
    expect(flatRecordMatches(theirs, theirs.length, record)).toBe(true);
  });
});
