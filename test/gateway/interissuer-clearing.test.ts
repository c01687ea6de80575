/**
 * Clearing between issuers (services/interissuer-clearing.ts, clearing-file.ts; docs/settlement.md)
 * through the HTTP API on SQLite and, when it is up, PostgreSQL (isolated schema), against a
 * simulated other city (sandbox/other-city.ts) with its own signing key:
 * - an inbound file of our cards' taps elsewhere (real card simulators, so real TACs) updates
 *   their shadow balances and owes the amount to the sender; an unknown card, a bad TAC and a
 *   duplicate are rejected each with its reason and the rest applied;
 * - the same file twice changes nothing more (replay); the same taps in pieces end in the same
 *   ledger; a file whose trailer or signature does not match is refused whole and changes nothing;
 * - a record of a card whose broken-card refund was already paid goes to the write-offs;
 * - the outbound file verifies under our certificate at the other city; positions net per day.
 * Plus fast-check: any split of the same taps into files, imported in any order and any number
 * of times, gives the same ledger and shadow balances.
 */
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OtherCity } from '#gateway/sandbox/other-city';
import type { ClearingRecord } from '#gateway/services/clearing-file';
import { ephemeralClearingSigner } from '#gateway/services/clearing-key';
import type { JournalRecord } from '#core';
import { makePsam } from '../purse/fixtures.ts';
import { assertPostgresUp } from '../store/pg-test-db.ts';
import { serviceAvailable } from '../support/services.ts';
import {
  closeCheckingBooks,
  counterHeaders,
  issueCard,
  ledgerBalance,
  loadCard,
  type MoneyHarness,
  REFUND_DESTINATION,
  shadowBalance,
  START_MS,
  startMoneyGateway,
  startPgMoneyGateway,
  tap,
  type Validator,
} from './money-fixtures.ts';

const POSTGRES_UP = serviceAvailable('postgres', 'clearing between issuers on PostgreSQL');
const STORES: Array<'sqlite' | 'postgres'> = ['sqlite', ...(POSTGRES_UP ? (['postgres'] as const) : [])];
beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

const DAY = '2026-03-10';
const shanghai = new OtherCity('shanghai');

/** A terminal in the other city: its PSAM holds the national purchase keys (ours, for our cards). */
function otherCityTerminal(h: MoneyHarness, n: number): Validator {
  return { deviceId: `sh-${n}`, psam: makePsam(h.issuer, Uint8Array.of(0x29, 0, 0, 0, 0, n), 1), seq: 0, headers: {} };
}

function clearingRecord(r: JournalRecord): ClearingRecord {
  return {
    cardNo: r.cardNo,
    offlineAtc: r.offlineAtc,
    onlineAtc: r.onlineAtc,
    amountFen: r.amountFen,
    balanceBeforeFen: r.balanceBeforeFen,
    transactionType: r.transactionType,
    terminalId: r.terminalId,
    tsn: r.tsn,
    date: r.date,
    time: r.time,
    keyVersion: r.keyVersion,
    algorithm: r.algorithm,
    tac: r.tac,
    occurredAtMs: r.occurredAtMs,
  };
}

async function start(dialect: 'sqlite' | 'postgres'): Promise<MoneyHarness> {
  const options = { clearingCertificates: { shanghai: shanghai.certificatePem } };
  return dialect === 'sqlite' ? startMoneyGateway(options) : startPgMoneyGateway(options);
}

async function ledgerState(h: MoneyHarness): Promise<string> {
  const rows = await h.store.transaction(
    (tx) => tx.all("SELECT account, SUM(amount_fen) AS b FROM ledger_entries WHERE account <> 'x' GROUP BY account ORDER BY account"),
    { readOnly: true },
  );
  const shadows = await h.store.transaction((tx) => tx.all('SELECT card_no, shadow_balance_fen FROM card_accounts ORDER BY card_no'), { readOnly: true });
  return JSON.stringify([rows.map((r) => [r.account, Number(r.b)]), shadows.map((r) => [r.card_no, Number(r.shadow_balance_fen)])]);
}

describe.each(STORES)('clearing between issuers on %s', (dialect) => {
  let h: MoneyHarness | undefined;
  afterEach(async () => {
    if (h !== undefined) await closeCheckingBooks(h);
    h = undefined;
  });
  const importFile = (text: string) =>
    h!.app.inject({ method: 'POST', url: '/v1/clearing/inbound', headers: { ...h!.admin, 'content-type': 'text/plain' }, payload: text });

  it('imports our cards’ taps elsewhere once, rejecting per record; refuses a bad trailer or signature whole', async () => {
    h = await start(dialect);
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 10_000, 'l1');
    const sh = otherCityTerminal(h, 1);
    const taps = [300, 400, 500].map((fen, i) => clearingRecord(tap(sh, card, cardNo, fen, START_MS + (i + 1) * 60_000)));
    const unknown = { ...taps[0], cardNo: '1000999999999990' };
    const badTac = { ...taps[2], tac: taps[2].tac === '00000000' ? '00000001' : '00000000' };
    const file1 = shanghai.fileFor('beijing', DAY, [taps[0], taps[1], unknown, badTac, taps[0]], 1);

    const res = await importFile(file1);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ sender: 'shanghai', day: DAY, sequence: 1, records: 5, accepted: 2, acceptedFen: 700, replay: false });
    expect(res.json().rejections.map((r: { n: number; reason: string }) => [r.n, r.reason])).toEqual([
      [3, 'unknown-card'],
      [4, 'bad-tac'],
      [5, 'duplicate'],
    ]);
    expect(await shadowBalance(h, cardNo)).toBe(10_000 - 700);
    expect(await ledgerBalance(h, 'payable:issuer:shanghai')).toBe(-700);

    // The same file again: the first result, nothing more.
    const before = await ledgerState(h);
    const again = await importFile(file1);
    expect(again.json()).toMatchObject({ accepted: 2, acceptedFen: 700, replay: true });
    expect(await ledgerState(h)).toBe(before);

    // A wrong trailer, a wrong signature, another file under the same key: refused, nothing changes.
    const wrongSum = file1.replace(/^T\|5\|(\d+)\|/m, (_m, sum) => `T|5|${Number(sum) + 1}|`);
    expect((await importFile(wrongSum)).json()).toMatchObject({ code: 'clearing-file-refused', reason: 'trailer-mismatch' });
    const impostor = new OtherCity('shanghai', null, ephemeralClearingSigner()).fileFor('beijing', DAY, [taps[2]], 2);
    expect((await importFile(impostor)).json()).toMatchObject({ code: 'clearing-file-refused', reason: 'signature-invalid' });
    const tampered = file1.replace(`|${taps[1].amountFen}|`, `|${taps[1].amountFen - 1}|`);
    expect((await importFile(tampered)).statusCode).toBe(422);
    const other = shanghai.fileFor('beijing', DAY, [taps[2]], 1);
    expect((await importFile(other)).json().code).toBe('clearing-file-conflict');
    expect(await ledgerState(h)).toBe(before);

    // The rest in a second piece: the third tap applied, the second a duplicate.
    const piece = await importFile(shanghai.fileFor('beijing', DAY, [taps[2], taps[1]], 2));
    expect(piece.json()).toMatchObject({ accepted: 1, acceptedFen: 500, rejections: [{ n: 2, reason: 'duplicate' }] });
    expect(await shadowBalance(h, cardNo)).toBe(10_000 - 1_200);

    // Positions: we owe Shanghai 12 yuan for the 10th, due on the 11th.
    const positions = (await h.app.inject({ method: 'GET', url: `/v1/clearing/positions?day=${DAY}`, headers: h.admin })).json();
    expect(positions.valueDay).toBe('2026-03-11');
    expect(positions.counterparties.find((c: { issuer: string }) => c.issuer === 'shanghai')).toMatchObject({
      payableFen: 1_200,
      receivableFen: 0,
      netFen: -1_200,
    });

    // Our outbound file to Shanghai verifies under our certificate at the other city (no Shanghai taps yet: empty, signed).
    const out = await h.app.inject({ method: 'GET', url: `/v1/clearing/outbound/shanghai/${DAY}`, headers: h.admin });
    expect(out.statusCode).toBe(200);
    const cert = (await h.app.inject({ method: 'GET', url: '/v1/settlement/certificate', headers: h.admin })).json().certificatePem;
    const verdict = shanghai.receive(out.body, cert, () => ({ keyVersion: 1, algorithm: '3des' }));
    expect(verdict.file).toMatchObject({ sender: 'beijing', receiver: 'shanghai', day: DAY, count: 0, sumFen: 0 });
    expect(() => shanghai.receive(out.body, shanghai.certificatePem, () => ({ keyVersion: 1, algorithm: '3des' }))).toThrow(/signature/);
    expect((await h.app.inject({ method: 'GET', url: `/v1/clearing/outbound/nowhere/${DAY}`, headers: h.admin })).json().code).toBe('issuer-not-found');
  });

  it('a record of a card whose broken-card refund was already paid goes to the write-offs', async () => {
    h = await start(dialect);
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    // Used in Shanghai, then broken and refunded in Beijing before Shanghai's file arrives.
    const record = clearingRecord(tap(otherCityTerminal(h, 2), card, cardNo, 600, START_MS + 60_000));
    const refund = (await h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/refunds`, headers: counter, payload: REFUND_DESTINATION })).json();
    h.now.ms = refund.deadlineMs;
    await h.app.inject({ method: 'POST', url: '/v1/ops/jobs/run', headers: h.admin });
    expect((await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json()).toMatchObject({ status: 'paid', paidFen: 5_000 });
    const res = await importFile(shanghai.fileFor('beijing', DAY, [record], 7));
    expect(res.json()).toMatchObject({ accepted: 1, writtenOff: 1, writtenOffFen: 600 });
    expect(await shadowBalance(h, cardNo)).toBe(0);
    expect(await ledgerBalance(h, 'writeoff:late-taps')).toBe(600);
    expect(await ledgerBalance(h, 'payable:issuer:shanghai')).toBe(-600);
    expect((await h.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json()).toMatchObject({ writtenOffFen: 600 });
  });
});

describe('clearing files: property', () => {
  it('the same taps imported in any pieces, in any order, any number of times give the same ledger; a broken file changes nothing', async () => {
    const h = await start('sqlite');
    try {
      const counter = await counterHeaders(h);
      const { cardNo, card } = await issueCard(h);
      await loadCard(h, counter, card, cardNo, 50_000, 'l1');
      const sh = otherCityTerminal(h, 3);
      const taps = Array.from({ length: 8 }, (_, i) => clearingRecord(tap(sh, card, cardNo, 100 + i * 7, START_MS + (i + 1) * 60_000)));
      const total = taps.reduce((s, r) => s + r.amountFen, 0);
      // The reference: everything in one file.
      await h.app.inject({
        method: 'POST',
        url: '/v1/clearing/inbound',
        headers: { ...h.admin, 'content-type': 'text/plain' },
        payload: shanghai.fileFor('beijing', '2026-03-01', taps, 1),
      });
      const expected = await ledgerState(h);
      expect(await shadowBalance(h, cardNo)).toBe(50_000 - total);
      let day = 2;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.subarray(
              taps.map((_, i) => i),
              { minLength: 1 },
            ),
            { minLength: 1, maxLength: 4 },
          ),
          fc.boolean(),
          async (pieces, breakOne) => {
            // A fresh day key each run (new files); every tap is already applied: the ledger must not move.
            const d = `2026-03-${String(++day % 28 || 28).padStart(2, '0')}`;
            for (const [seq, piece] of pieces.entries()) {
              let text = shanghai.fileFor(
                'beijing',
                d,
                piece.map((i) => taps[i]),
                100 + seq + day * 10,
              );
              if (breakOne && seq === 0) text = text.replace(/^T\|(\d+)\|/m, (_m, n) => `T|${Number(n) + 1}|`);
              const res = await h.app.inject({
                method: 'POST',
                url: '/v1/clearing/inbound',
                headers: { ...h.admin, 'content-type': 'text/plain' },
                payload: text,
              });
              expect(res.statusCode).toBe(breakOne && seq === 0 ? 422 : 200);
            }
            expect(await ledgerState(h)).toBe(expected);
          },
        ),
        { numRuns: 15 },
      );
    } finally {
      await closeCheckingBooks(h);
    }
  });
});
