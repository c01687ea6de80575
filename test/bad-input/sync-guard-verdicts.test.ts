/**
 * checkSyncRequest decides each record with an allocation-free check and works out the reasons
 * (journalRecordProblems) only for a record that fails. The two must agree: a batch is accepted
 * exactly when no record has a problem, and a refused batch names the problems
 * journalRecordProblems names, whichever field is wrong and however.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SYNC_PROTOCOL_VERSION, type JournalRecord } from '#core';
import { checkSyncRequest, isJournalRecord, journalRecordProblems } from '#gateway/services/sync-record-guard';

const DEVICE = 'gate-guard-1';

function genuine(seq: number, cardAction: 'debit' | 'none' | 'block' = 'debit'): JournalRecord {
  return {
    deviceId: DEVICE,
    deviceSeq: seq,
    deviceKind: 'subway-exit',
    operator: 'subway',
    resultCode: 0,
    cardNo: '1000000000000018',
    cardAction,
    transactionType: cardAction === 'debit' ? 0x06 : 0,
    amountFen: 300,
    balanceBeforeFen: 1_000,
    balanceAfterFen: 700,
    offlineAtc: seq,
    onlineAtc: 1,
    terminalId: '2026000000aB',
    tsn: seq,
    date: 20260310,
    time: 101500,
    tac: cardAction === 'debit' ? '0a1B2c3D' : '',
    keyVersion: 1,
    algorithm: '3des',
    fareTableVersion: 1,
    place: 101,
    line: 1,
    occurredAtMs: Date.UTC(2026, 2, 10, 2, 15),
    recovered: false,
  };
}

const FIELDS = Object.keys(genuine(1)) as (keyof JournalRecord)[];

/** Values a field may wrongly (or rightly) hold. */
const anyValue = fc.oneof(
  fc.integer({ min: -2, max: 300_000 }),
  fc.constantFrom(0x06, 0x09, 20260230, 20261301, 235960, 246000, 2 ** 53, -0, 1.5, Number.NaN, Infinity, 70_000, 0xffff, 0x1_0000_0000),
  fc.constantFrom(
    '',
    'debit',
    'none',
    'block',
    'sm4',
    'aes',
    'bus',
    'subway-exit',
    '1000000000000018',
    '10000000000000x8',
    'ABCDEF012345',
    'ABCDEF01234',
    '0A1B2C3D',
    '0A1B2C3G',
    DEVICE,
    'other device!',
  ),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constantFrom(null, undefined, [], {}, new Uint8Array(4)),
);

const requestOf = (records: unknown[]) => ({
  protocolVersion: SYNC_PROTOCOL_VERSION,
  deviceId: DEVICE,
  records,
  blacklistVersion: 0,
  fareTableVersion: 1,
  deviceTimeMs: 1,
});

describe('sync guard: the quick verdict and the reasons agree', () => {
  it('fast-check: records with fields set to anything are accepted exactly when they have no problem', () => {
    const record = fc.record({
      action: fc.constantFrom<'debit' | 'none' | 'block'>('debit', 'none', 'block'),
      changes: fc.array(fc.tuple(fc.constantFrom(...FIELDS), anyValue), { maxLength: 3 }),
      drop: fc.option(fc.constantFrom(...FIELDS), { freq: 8 }),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 4 }), (specs) => {
        const records = specs.map((spec, i) => {
          const r: Record<string, unknown> = { ...genuine(i + 1, spec.action) };
          for (const [field, value] of spec.changes) if (field !== 'deviceSeq' && field !== 'deviceId') r[field] = value;
          if (spec.drop !== null && spec.drop !== 'deviceSeq' && spec.drop !== 'deviceId') delete r[spec.drop];
          return r;
        });
        const problems = records.flatMap((r, i) => journalRecordProblems(r, `records[${i}]`));
        const check = checkSyncRequest(requestOf(records), DEVICE);
        expect(check.ok).toBe(problems.length === 0);
        if (!check.ok) expect(check.reasons).toEqual(problems.slice(0, 10));
        for (const r of records) expect(isJournalRecord(r)).toBe(journalRecordProblems(r, 'r').length === 0);
      }),
      { numRuns: 2_000 },
    );
  });

  it('a genuine batch passes; one bad field in its last record refuses it with that reason only', () => {
    const records = Array.from({ length: 50 }, (_, i) => genuine(i + 1, i % 7 === 1 ? 'none' : 'debit'));
    expect(checkSyncRequest(requestOf(records), DEVICE).ok).toBe(true);
    const bad = [...records.slice(0, 49), { ...records[49], tac: 'XYZ' }];
    expect(checkSyncRequest(requestOf(bad), DEVICE)).toEqual({ ok: false, reasons: ['records[49].tac: 8 hex digits'] });
    const notMap = [...records.slice(0, 49), 'a string'];
    expect(checkSyncRequest(requestOf(notMap), DEVICE)).toEqual({ ok: false, reasons: ['records[49]: not a map'] });
  });
});
