/**
 * Genuine purchase records for the sync benches (store-throughput, sync-ingest): a deterministic
 * issuer master key set, and subway debits whose TAC the gateway verifies (each card's TAC key
 * diversified from the master TAC key, as on a real card).
 */
import { cardSerialFromCardNo, diversifyKey, purchaseTacData, tacSessionKey, transactionMac, type JournalRecord } from '#core';
import type { MasterKeySet } from '#issuer/issuer-key-service';

/** Issuer master keys derived from `seed`: the same keys every run. */
export function benchKeySet(seed: number): MasterKeySet {
  const key = (n: number) => Uint8Array.from({ length: 16 }, (_, i) => (seed * 37 + n * 11 + i * 17 + 3) & 0xff);
  return { purchase: key(1), load: key(2), tac: key(3), block: key(4), issuer: key(5) };
}

/** Each card's 3DES TAC session key, diversified from the master TAC key. */
export function cardTacKeys(master: MasterKeySet, cardNos: readonly string[]): Uint8Array[] {
  return cardNos.map((cardNo) => tacSessionKey(diversifyKey(master.tac, cardSerialFromCardNo(cardNo), '3des'), '3des'));
}

/** What differs between the generated debits; the rest is one subway exit on 2026-03-10. */
export type DebitFields = Pick<
  JournalRecord,
  'deviceId' | 'deviceSeq' | 'operator' | 'cardNo' | 'amountFen' | 'balanceBeforeFen' | 'offlineAtc' | 'terminalId' | 'tsn' | 'time' | 'occurredAtMs'
>;

/** An accepted 3DES debit of `amountFen` (fare table 1, place 101, line 1) with its genuine TAC, made with the card's `tacKey`. */
export function genuineDebit(tacKey: Uint8Array, f: DebitFields): JournalRecord {
  const record: JournalRecord = {
    deviceId: f.deviceId,
    deviceSeq: f.deviceSeq,
    deviceKind: 'subway-exit',
    operator: f.operator,
    resultCode: 0,
    cardNo: f.cardNo,
    cardAction: 'debit',
    transactionType: 0x06,
    amountFen: f.amountFen,
    balanceBeforeFen: f.balanceBeforeFen,
    balanceAfterFen: f.balanceBeforeFen - f.amountFen,
    offlineAtc: f.offlineAtc,
    onlineAtc: 1,
    terminalId: f.terminalId,
    tsn: f.tsn,
    date: 20260310,
    time: f.time,
    tac: '',
    keyVersion: 1,
    algorithm: '3des',
    fareTableVersion: 1,
    place: 101,
    line: 1,
    occurredAtMs: f.occurredAtMs,
    recovered: false,
  };
  record.tac = Buffer.from(transactionMac(tacKey, purchaseTacData(record), '3des'))
    .toString('hex')
    .toUpperCase();
  return record;
}
