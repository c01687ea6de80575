/**
 * Another city's card tapped on our validators, end to end at the API (issue 18): a validator
 * whose PSAM holds Shanghai's purchase keys charges a Shanghai card (its own simulator, so TACs
 * only Shanghai's keys verify) and uploads the taps by sync. They are not TAC-checked with our
 * keys (only Shanghai can), are stored once (the same batch again, or the same taps under other
 * sequence numbers, add nothing), keep no balance or ATC chain of ours, post our operators'
 * revenue against receivable:issuer:shanghai, reach the outbound clearing file for Shanghai and
 * the business day, where the simulated Shanghai (sandbox/other-city.ts) verifies every TAC with
 * its own keys; positions and the day close agree (reconciliation 0.00; the summary and the settlement
 * file count them on Shanghai). A T-Union number of no
 * known issuer is still quarantined. SQLite and, when it is up, PostgreSQL.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ISSUER_REGISTRY, allowKeyOfIssuerId, makeTUnionCardNo } from '#core';
import { OtherCity } from '#gateway/sandbox/other-city';
import { makeCard, makeForeignIssuer } from '../purse/fixtures.ts';
import { assertPostgresUp } from '../store/pg-test-db.ts';
import { serviceAvailable } from '../support/services.ts';
import {
  assertBooksBalance,
  closeCheckingBooks,
  countRows,
  ledgerBalance,
  type MoneyHarness,
  makeValidator,
  START_MS,
  startMoneyGateway,
  startPgMoneyGateway,
  sync,
  syncRequest,
  tap,
} from './money-fixtures.ts';

const POSTGRES_UP = serviceAvailable('postgres', 'foreign cards at sync on PostgreSQL');
const STORES: Array<'sqlite' | 'postgres'> = ['sqlite', ...(POSTGRES_UP ? (['postgres'] as const) : [])];
beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

const DAY = '2026-03-10';
const SHANGHAI = DEFAULT_ISSUER_REGISTRY.byName('shanghai')!;
const shanghaiKeys = makeForeignIssuer(SHANGHAI.issuerId);
const shanghai = new OtherCity('shanghai', shanghaiKeys);

describe.each(STORES)('a foreign card’s taps at sync on %s', (dialect) => {
  let h: MoneyHarness | undefined;
  afterEach(async () => {
    if (h !== undefined) await closeCheckingBooks(h);
    h = undefined;
  });

  it('are stored once without our TAC check, owed by their issuer, and cleared to it with TACs it verifies', async () => {
    const options = { clearingCertificates: { shanghai: shanghai.certificatePem } };
    h = dialect === 'sqlite' ? await startMoneyGateway(options) : await startPgMoneyGateway(options);
    const v = await makeValidator(h, 'VAL-FOREIGN-1', 1);
    v.psam.installIssuerPurchaseKeys(SHANGHAI.issuerId, shanghaiKeys.psamKeyMaterial().purchaseMasterKeys);
    const cardNo = makeTUnionCardNo(SHANGHAI.productPrefix, 4_242);
    const card = makeCard(shanghaiKeys, { cardNo, issuerCode: SHANGHAI.cityCode, effectiveBalanceFen: 5_000, overdraftLimitFen: 0 });
    const issuerKey = allowKeyOfIssuerId(SHANGHAI.issuerId);
    const taps = [300, 400, 500].map((fen, i) => tap(v, card, cardNo, fen, START_MS + (i + 1) * 60_000, i === 2 ? 'bus' : 'subway', issuerKey));
    // A 31… number of no known issuer (product prefix nobody has): our keys cannot verify it, so quarantined.
    const strangerNo = makeTUnionCardNo('31099999', 7);
    const stranger = makeCard(shanghaiKeys, { cardNo: strangerNo, issuerCode: SHANGHAI.cityCode, effectiveBalanceFen: 1_000, overdraftLimitFen: 0 });
    const unknown = tap(v, stranger, strangerNo, 200, START_MS + 5 * 60_000, 'subway', issuerKey);

    const batch = syncRequest(v, [...taps, unknown]);
    const first = await sync(h, v, batch);
    expect(first.status, JSON.stringify(first.problem)).toBe(200);
    expect(first.response).toMatchObject({ acknowledged: [1, 2, 3], quarantined: [4] });
    const journalCount = () => countRows(h!, 'SELECT COUNT(*) AS n FROM journal_records WHERE card_no = ?', [cardNo]);
    expect(await journalCount()).toBe(3);
    expect(await countRows(h, "SELECT COUNT(*) AS n FROM journal_records WHERE card_no = ? AND status = 'accepted'", [cardNo])).toBe(3);
    expect(await countRows(h, "SELECT COUNT(*) AS n FROM journal_records WHERE card_no = ? AND status = 'quarantined'", [strangerNo])).toBe(1);
    // No balance or chain of ours for a card we do not hold; no anomaly for it.
    expect(await countRows(h, 'SELECT COUNT(*) AS n FROM card_accounts WHERE card_no = ?', [cardNo])).toBe(0);
    expect(await countRows(h, 'SELECT COUNT(*) AS n FROM card_chains WHERE card_no = ?', [cardNo])).toBe(0);
    expect(await countRows(h, 'SELECT COUNT(*) AS n FROM money_anomalies WHERE card_no = ?', [cardNo])).toBe(0);
    // Our operators earn it; Shanghai owes it.
    expect(await ledgerBalance(h, 'receivable:issuer:shanghai')).toBe(1_200);
    expect(await ledgerBalance(h, 'revenue:subway')).toBe(-700);
    expect(await ledgerBalance(h, 'revenue:bus')).toBe(-500);
    await assertBooksBalance(h);

    // The same batch again, and the same taps under new sequence numbers: nothing more.
    const again = await sync(h, v, batch);
    expect(again.response).toMatchObject({ acknowledged: [1, 2, 3], quarantined: [4] });
    const copies = syncRequest(
      v,
      taps.map((r, i) => ({ ...r, deviceSeq: 10 + i })),
    );
    const copied = await sync(h, v, copies);
    expect(copied.response).toMatchObject({ acknowledged: [10, 11, 12], quarantined: [] });
    expect(await countRows(h, "SELECT COUNT(*) AS n FROM journal_records WHERE card_no = ? AND status = 'accepted'", [cardNo])).toBe(3);
    expect(await ledgerBalance(h, 'receivable:issuer:shanghai')).toBe(1_200);

    // The outbound file for Shanghai and the day: the three taps with their TACs, which Shanghai verifies.
    const out = await h.app.inject({ method: 'GET', url: `/v1/clearing/outbound/shanghai/${DAY}`, headers: h.admin });
    expect(out.statusCode, out.body).toBe(200);
    const cert = (await h.app.inject({ method: 'GET', url: '/v1/settlement/certificate', headers: h.admin })).json().certificatePem;
    const verdict = shanghai.receive(out.body, cert, () => ({ keyVersion: 1, algorithm: '3des' }));
    expect(verdict.file).toMatchObject({ sender: 'beijing', receiver: 'shanghai', day: DAY, count: 3, sumFen: 1_200 });
    expect(verdict.file.records.map((r) => [r.offlineAtc, r.amountFen, r.tac])).toEqual(taps.map((r) => [r.offlineAtc, r.amountFen, r.tac]));
    expect(verdict).toMatchObject({ verified: 3, verifiedFen: 1_200, badTacs: [] });
    // Another issuer's file has none of them; another day neither.
    const tianjin = await h.app.inject({ method: 'GET', url: `/v1/clearing/outbound/tianjin/${DAY}`, headers: h.admin });
    expect(tianjin.body).not.toContain(cardNo);
    const nextDay = await h.app.inject({ method: 'GET', url: '/v1/clearing/outbound/shanghai/2026-03-11', headers: h.admin });
    expect(nextDay.body).not.toContain(cardNo);

    // Positions: Shanghai owes us 12 yuan for the day.
    const positions = (await h.app.inject({ method: 'GET', url: `/v1/clearing/positions?day=${DAY}`, headers: h.admin })).json();
    expect(positions.counterparties.find((c: { issuer: string }) => c.issuer === 'shanghai')).toMatchObject({
      receivableFen: 1_200,
      payableFen: 0,
      netFen: 1_200,
    });

    // The day closes and reconciles to 0.00.
    h.now.ms = Date.UTC(2026, 2, 10, 21, 0, 0); // 11 March 05:00 in Beijing, after the 04:00 cut-off
    const close = await h.app.inject({ method: 'POST', url: `/v1/settlement/days/${DAY}/close`, headers: h.admin });
    expect(close.statusCode, close.body).toBe(201);
    expect(Object.values(close.json().summary.reconciliation).every((x) => x === 0)).toBe(true);
    // The day summary counts them on Shanghai, and the settlement file has Shanghai pay the centre for them.
    expect(close.json().summary.issuers).toEqual([{ issuer: 'shanghai', debits: 3, amountFen: 1_200 }]);
    const file = (await h.app.inject({ method: 'GET', url: `/v1/settlement/days/${DAY}/settlement-file`, headers: h.admin })).json();
    expect(file.transfers.filter((t: { reason: string }) => t.reason === 'interop-taps')).toEqual([
      expect.objectContaining({ payer: 'issuer:shanghai', payee: 'clearing-centre', amountFen: 1_200, centreFen: 1_200 }),
    ]);
    expect(await journalCount()).toBe(6); // the three copies stored as duplicates, never applied
  });
});
