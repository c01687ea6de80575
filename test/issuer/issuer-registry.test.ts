import { describe, expect, it } from 'vitest';
import {
  CardFormatError,
  DEFAULT_FOREIGN_ISSUERS,
  DEFAULT_ISSUER_REGISTRY,
  HOME_ISSUER,
  HOME_VERDICT,
  IssuerAllowList,
  IssuerRegistry,
  UNLISTED_VERDICT,
  defaultIssuerPolicy,
  homeOnlyAllowList,
} from '#core';

describe('issuer registry', () => {
  it('the home issuer is Beijing: issuer id 01 01 10 00 FF FF FF FF, city 1000, product 31051700, and owns the legacy range', () => {
    const registry = DEFAULT_ISSUER_REGISTRY;
    expect(registry.home).toEqual(HOME_ISSUER);
    expect(registry.home.issuerId).toBe('01011000FFFFFFFF');
    expect(registry.issuerOfCardNo('1000754300000015')).toBe(registry.home);
    expect(registry.issuerOfCardNo('3105170010170907984')).toBe(registry.home);
    expect(registry.isHomeCardNo('3105170010170907984')).toBe(true);
    expect(registry.issuerOfCardNo('3104770000000000042')?.name).toBe('shanghai');
    expect(registry.isHomeCardNo('3104770000000000042')).toBe(false);
    expect(registry.issuerOfCardNo('3199999900000000042')).toBeNull();
    expect(() => registry.issuerOfCardNo('123')).toThrow(CardFormatError);
    expect(registry.byAllowKey(0x01012900)?.name).toBe('shanghai');
    expect(registry.byIssuerId('01015840ffffffff')?.name).toBe('shenzhen');
    expect(registry.foreign().map((i) => i.name)).toEqual(DEFAULT_FOREIGN_ISSUERS.map((i) => i.name));
  });
  it('takes any number of other issuers and refuses inconsistent or clashing records', () => {
    const xian = { issuerId: '01017910FFFFFFFF', name: 'xian', displayName: '西安 Xi’an', cityCode: '7910', productPrefix: '31047910' };
    const registry = new IssuerRegistry(HOME_ISSUER, [...DEFAULT_FOREIGN_ISSUERS, xian]);
    expect(registry.issuerOfCardNo('3104791000000000001')?.cityCode).toBe('7910');
    expect(() => new IssuerRegistry(HOME_ISSUER, [{ ...xian, cityCode: '7911' }])).toThrow(/not issuer id bytes 2-3/);
    expect(() => new IssuerRegistry(HOME_ISSUER, [{ ...xian, productPrefix: HOME_ISSUER.productPrefix }])).toThrow(/configured twice/);
    expect(() => new IssuerRegistry(HOME_ISSUER, [{ ...xian, issuerId: '01011000AAAAAAAA', cityCode: '1000' }])).toThrow(/share the allow-list key/);
    expect(() => new IssuerRegistry(HOME_ISSUER, [{ ...xian, productPrefix: '41047910' }])).toThrow(/starting 31/);
  });
});

describe('issuer allow-list (first 4 bytes of the issuer id)', () => {
  const shanghai = DEFAULT_ISSUER_REGISTRY.byName('shanghai')!;
  it('home by its full id, listed foreign issuers by their first 4 bytes, everyone else unlisted', () => {
    const list = new IssuerAllowList(HOME_ISSUER.issuerId, 3, [defaultIssuerPolicy(shanghai.issuerId, 'shanghai')]);
    expect(list.verdictFor(HOME_ISSUER.issuerId)).toBe(HOME_VERDICT);
    const verdict = list.verdictFor(shanghai.issuerId);
    expect(verdict.kind).toBe('foreign');
    // Keyed on bytes 0-3 only, as real terminals do: another id with the same first 4 bytes matches.
    expect(list.verdictFor('0101290012345678')).toBe(verdict);
    expect(list.verdictFor('01015840FFFFFFFF')).toBe(UNLISTED_VERDICT);
    expect(homeOnlyAllowList(HOME_ISSUER.issuerId).verdictFor(shanghai.issuerId)).toBe(UNLISTED_VERDICT);
    // A Beijing-city id that is not the home id exactly is not home.
    expect(list.verdictFor('01011000FFFFFFFE')).toBe(UNLISTED_VERDICT);
  });
  it('the default policy: no discounts, no overdraft', () => {
    expect(defaultIssuerPolicy(shanghai.issuerId, 'shanghai')).toMatchObject({
      overdraftLimitFen: 0,
      monthlyLadder: false,
      busCardDiscount: false,
      earlyEntryDiscount: false,
    });
  });
  it('refuses a record clashing with home or listed twice', () => {
    expect(() => new IssuerAllowList(HOME_ISSUER.issuerId, 1, [defaultIssuerPolicy('01011000AAAAAAAA', 'x')])).toThrow(/home issuer/);
    const p = defaultIssuerPolicy(shanghai.issuerId, 'shanghai');
    expect(() => new IssuerAllowList(HOME_ISSUER.issuerId, 1, [p, { ...p, issuerId: '0101290000000000' }])).toThrow(/listed twice/);
    expect(() => new IssuerAllowList(HOME_ISSUER.issuerId, 1, [{ ...p, overdraftLimitFen: -1 }])).toThrow(/overdraftLimitFen/);
  });
});
