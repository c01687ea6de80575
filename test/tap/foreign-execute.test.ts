/**
 * A whole tap of another city's card (issue 18): the card simulator personalised by that city's
 * own key service, a PSAM that received the city's purchase keys by key loading, the allow-list
 * lookup of the device. The 19-digit number and the TAC (only that city can verify it) reach
 * the journal record.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ISSUER_REGISTRY,
  HOME_ISSUER_ID,
  IssuerAllowList,
  NOT_LISTED,
  TAP_RESULT,
  defaultIssuerPolicy,
  deviceConfig,
  executeTap,
  makeTUnionCardNo,
  purchaseTacData,
  quoteSubwayFare,
  stationCode,
} from '#core';
import type { CardSimulator } from '#core';
import { makeCard, makeForeignIssuer, makeIssuer, makePsam } from '../purse/fixtures.ts';
import { FARES, wed } from './fixtures.ts';

const home = makeIssuer();
const shanghai = DEFAULT_ISSUER_REGISTRY.byName('shanghai')!;
const shanghaiKeys = makeForeignIssuer(shanghai.issuerId);
const net = FARES.subway;
const entry = deviceConfig({ deviceId: 'GATE-IN', kind: 'subway-entry', stationCode: stationCode(net, '花园桥') });
const exit = deviceConfig({ deviceId: 'GATE-OUT', kind: 'subway-exit', stationCode: stationCode(net, '潞城') });
const allowList = new IssuerAllowList(HOME_ISSUER_ID, 1, [defaultIssuerPolicy(shanghai.issuerId, 'shanghai')]);

function psam(loadShanghaiKeys: boolean) {
  const p = makePsam(home);
  if (loadShanghaiKeys) p.installIssuerPurchaseKeys(shanghai.issuerId, shanghaiKeys.psamKeyMaterial().purchaseMasterKeys);
  return p;
}

function tap(card: CardSimulator, device = entry, nowMs = wed(80000), keysLoaded = true, list = allowList) {
  return executeTap({
    card,
    psam: psam(keysLoaded),
    device,
    blacklistLookup: () => NOT_LISTED,
    issuerLookup: (id) => list.verdictFor(id),
    fares: FARES,
    nowMs,
    deviceSeq: 1,
    pending: null,
  });
}

describe('executeTap with another city’s card', () => {
  const cardNo = makeTUnionCardNo(shanghai.productPrefix, 12_345);
  const shanghaiCard = () => makeCard(shanghaiKeys, { cardNo, issuerCode: shanghai.cityCode, effectiveBalanceFen: 5_000, overdraftLimitFen: 0 });

  it('entry and exit with the issuer’s purchase keys loaded: Beijing fare, 19-digit number and a TAC only Shanghai can verify', () => {
    const card = shanghaiCard();
    const a = tap(card);
    expect(a.decision.resultCode).toBe(TAP_RESULT.ACCEPTED);
    const b = tap(card, exit, wed(90000));
    const fare = quoteSubwayFare(net, '花园桥', '潞城').fareFen;
    expect(b.decision).toMatchObject({ resultCode: TAP_RESULT.ACCEPTED, chargeFen: fare });
    const record = b.journal[0];
    expect(record).toMatchObject({ cardNo, cardAction: 'debit', amountFen: fare, balanceAfterFen: 5_000 - fare });
    const data = purchaseTacData(record);
    const tac = Buffer.from(record.tac, 'hex');
    expect(shanghaiKeys.verifyTac({ cardNo, keyVersion: record.keyVersion, algorithm: record.algorithm, data, tac })).toBe(true);
    expect(home.verifyTac({ cardNo, keyVersion: record.keyVersion, algorithm: record.algorithm, data, tac })).toBe(false);
  });
  it('listed but its keys never loaded into the PSAM: refused, nothing debited', () => {
    const card = shanghaiCard();
    const a = tap(card, entry, wed(80000), false);
    expect(a.decision.accepted).toBe(false);
    expect(card.image().offlineAtc).toBe(0);
  });
  it('keys loaded but the issuer not on the allow-list: ISSUER_NOT_ACCEPTED, journaled without touching the card', () => {
    const card = shanghaiCard();
    const a = tap(card, entry, wed(80000), true, new IssuerAllowList(HOME_ISSUER_ID, 2, []));
    expect(a.decision.resultCode).toBe(TAP_RESULT.ISSUER_NOT_ACCEPTED);
    expect(a.journal).toHaveLength(1);
    expect(a.journal[0]).toMatchObject({ cardNo, cardAction: 'none', resultCode: TAP_RESULT.ISSUER_NOT_ACCEPTED });
    expect(card.image().offlineAtc).toBe(0);
  });
  it('a legacy 16-digit home card still works beside it', () => {
    const card = makeCard(home, { effectiveBalanceFen: 5_000 });
    expect(tap(card).decision.resultCode).toBe(TAP_RESULT.ACCEPTED);
  });
});
