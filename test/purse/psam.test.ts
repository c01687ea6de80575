import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KeyUnavailableError, cardSerialFromCardNo, makeCardNo, runPurchase, transactionDateBytes, transactionTimeBytes } from '#core';
import { SoftwarePsam } from '#validator/psam';
import { ALGORITHMS, TERMINAL_ID, makeCard, makeIssuer, makePsam, testKeySets } from './fixtures.ts';

const request = (algorithm: '3des' | 'sm4', cardNo = '1000754300000015') => ({
  cardSerial: cardSerialFromCardNo(cardNo),
  keyVersion: 1,
  algorithm,
  cardRandom: Uint8Array.of(1, 2, 3, 4),
  offlineAtc: 7,
  amountFen: 300,
  transactionType: 0x09,
  date: transactionDateBytes(20260115),
  time: transactionTimeBytes(73045),
});

describe('software PSAM', () => {
  it('assigns TSNs in order from tsnStart and exposes the next one for persistence; wraps at 2^32', () => {
    const issuer = makeIssuer();
    const psam = makePsam(issuer, TERMINAL_ID, 0xfffffffe);
    expect(psam.beginPurchase(request('3des')).tsn).toBe(0xfffffffe);
    expect(psam.beginPurchase(request('3des')).tsn).toBe(0xffffffff);
    expect(psam.tsn).toBe(0);
    const resumed = makePsam(issuer, TERMINAL_ID, psam.tsn);
    expect(resumed.beginPurchase(request('3des')).tsn).toBe(0);
  });

  it.each(ALGORITHMS)('MAC1 depends on the TSN and every request field (%s)', (algorithm) => {
    const psam = makePsam(makeIssuer());
    const a = psam.beginPurchase(request(algorithm));
    const b = psam.beginPurchase(request(algorithm));
    expect(Buffer.from(a.mac1).equals(Buffer.from(b.mac1))).toBe(false);
    const again = makePsam(makeIssuer());
    expect(Buffer.from(again.beginPurchase(request(algorithm)).mac1).equals(Buffer.from(a.mac1))).toBe(true);
    const changed = makePsam(makeIssuer()).beginPurchase({ ...request(algorithm), amountFen: 301 });
    expect(Buffer.from(changed.mac1).equals(Buffer.from(a.mac1))).toBe(false);
  });

  it('verifyMac2 closes the session: a second verify of the same MAC2 fails', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { effectiveBalanceFen: 1_000 });
    const psam = makePsam(issuer);
    const outcome = runPurchase(card, psam, {
      cardSerial: cardSerialFromCardNo('1000754300000015'),
      keyVersion: 1,
      algorithm: '3des',
      amountFen: 100,
      transactionType: 0x06,
      cappRecord: null,
      date: 20260115,
      time: 73045,
    });
    expect(outcome.status).toBe('debited');
    const mac2 = card.getTransactionProve(0x06, 0).data.slice(0, 4);
    expect(psam.verifyMac2(mac2)).toBe(false);
  });

  it('serves many cards correctly through its bounded DPK cache', () => {
    const issuer = makeIssuer();
    const psam = new SoftwarePsam({ terminalId: TERMINAL_ID, tsnStart: 1, dpkCacheSize: 4, ...issuer.psamKeyMaterial() });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 10; i++) {
        const cardNo = makeCardNo('10007543', i);
        const card = makeCard(issuer, { cardNo, effectiveBalanceFen: 1_000, seed: i + 1 });
        const outcome = runPurchase(card, psam, {
          cardSerial: cardSerialFromCardNo(cardNo),
          keyVersion: 1,
          algorithm: '3des',
          amountFen: 10,
          transactionType: 0x06,
          cappRecord: null,
          date: 20260115,
          time: 73045,
        });
        expect(outcome.status).toBe('debited');
      }
    }
  });

  it('throws KeyUnavailableError for a key version it does not hold', () => {
    const psam = makePsam(makeIssuer());
    expect(() => psam.beginPurchase({ ...request('3des'), keyVersion: 9 })).toThrow(KeyUnavailableError);
    expect(() => psam.blockCommandMac(cardSerialFromCardNo('1000754300000015'), 9, '3des', new Uint8Array(4))).toThrow(KeyUnavailableError);
  });

  it('never shows a key: no getter, JSON and inspect are redacted, the input maps are copied', () => {
    const material = makeIssuer().psamKeyMaterial();
    const psam = new SoftwarePsam({ terminalId: TERMINAL_ID, tsnStart: 5, ...material });
    const hexes = [...material.purchaseMasterKeys.values(), ...material.blockMasterKeys.values()].map((k) => Buffer.from(k).toString('hex'));
    const shown = [JSON.stringify(psam), inspect(psam, { showHidden: true, depth: 10 }), String(Object.keys(psam))].join('\n').toLowerCase();
    for (const hex of hexes) expect(shown).not.toContain(hex);
    expect(shown).toContain('redacted');
    const before = psam.beginPurchase(request('3des')).mac1;
    for (const key of material.purchaseMasterKeys.values()) key.fill(0); // the caller's copy, not the PSAM's
    const psam2 = new SoftwarePsam({ terminalId: TERMINAL_ID, tsnStart: 5, ...makeIssuer().psamKeyMaterial() });
    expect(Buffer.from(psam2.beginPurchase(request('3des')).mac1).equals(Buffer.from(before))).toBe(true);
    psam.terminalId.fill(0);
    expect(Buffer.from(psam.terminalId).equals(Buffer.from(TERMINAL_ID))).toBe(true);
  });

  it('has no method that could compute a TAC or a load MAC2, and is never given load or TAC keys', () => {
    const names = Object.getOwnPropertyNames(SoftwarePsam.prototype);
    expect(names.filter((n) => /tac|load|credit/i.test(n))).toEqual([]);
    const material = makeIssuer().psamKeyMaterial();
    expect(Object.keys(material).sort()).toEqual(['blockMasterKeys', 'purchaseMasterKeys']);
    const sets = testKeySets();
    const given = [...material.purchaseMasterKeys.values(), ...material.blockMasterKeys.values()].map((k) => Buffer.from(k).toString('hex'));
    for (const set of sets.values()) {
      expect(given).not.toContain(Buffer.from(set.load).toString('hex'));
      expect(given).not.toContain(Buffer.from(set.tac).toString('hex'));
    }
  });

  it('rejects bad construction input', () => {
    const material = makeIssuer().psamKeyMaterial();
    expect(() => new SoftwarePsam({ terminalId: new Uint8Array(5), tsnStart: 0, ...material })).toThrow(/6 bytes/);
    expect(() => new SoftwarePsam({ terminalId: TERMINAL_ID, tsnStart: -1, ...material })).toThrow(/tsnStart/);
    expect(() => new SoftwarePsam({ terminalId: TERMINAL_ID, tsnStart: 0, ...material, blockMasterKeys: new Map([[1, new Uint8Array(8)]]) })).toThrow(
      /16 bytes/,
    );
  });
});
