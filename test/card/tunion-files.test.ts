import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CardFormatError,
  CardSimulator,
  DEFAULT_ISSUER_REGISTRY,
  SW,
  allowKeyOfIssuerId,
  allowKeyOfIssuerIdText,
  cityCodeOfIssuerId,
  encodeIssuerFile,
  encodeManagementFile,
  makeTUnionCardNo,
  parseCardView,
  parseIssuerFile,
  parseManagementFile,
  type IssuerFile,
} from '#core';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { seededRandom, testKeySets } from '../purse/fixtures.ts';
import { arbDate, arbIssuerId, arbTUnionCardNo } from './arbitraries.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** The 9F0C answer of a real Beijing T-Union card (HCE emulator, research sheet 1.2). */
const BEIJING_SAMPLE_0X15 = '01011000FFFFFFFF' + '02' + '01' + '03105170010170907984' + '20190806' + '20401231' + '0000';

describe('T-Union file 0x15 (30 bytes) and 0x17 (15 bytes)', () => {
  it('parses the real Beijing sample: issuer 01 01 10 00 FF FF FF FF, city 1000, card 3105170010170907984', () => {
    const file = parseIssuerFile(fromHex(BEIJING_SAMPLE_0X15));
    expect(file).toEqual({
      issuerId: '01011000FFFFFFFF',
      appType: 2,
      appVersion: 1,
      cardNo: '3105170010170907984',
      startDate: 20190806,
      expiryDate: 20401231,
      issuerFci: '0000',
    });
    expect(cityCodeOfIssuerId(file.issuerId)).toBe('1000');
    expect(allowKeyOfIssuerId(file.issuerId)).toBe(0x01011000);
    expect(hex(encodeIssuerFile(file))).toBe(BEIJING_SAMPLE_0X15);
    expect(DEFAULT_ISSUER_REGISTRY.issuerOfCardNo(file.cardNo)?.name).toBe('beijing');
  });
  it('property: 0x15 round trips for any issuer id and T-Union number', () => {
    fc.assert(
      fc.property(arbIssuerId, arbTUnionCardNo, arbDate, arbDate, (issuerId, cardNo, a, b) => {
        const file: IssuerFile = { issuerId, appType: 2, appVersion: 1, cardNo, startDate: Math.min(a, b), expiryDate: Math.max(a, b), issuerFci: '0000' };
        const bytes = encodeIssuerFile(file);
        expect(bytes).toHaveLength(30);
        expect(parseIssuerFile(bytes)).toEqual(file);
        expect(allowKeyOfIssuerIdText(issuerId)).toBe(allowKeyOfIssuerId(issuerId));
      }),
      { numRuns: 300 },
    );
  });
  it('0x17 layout: country 4, province 2, city 2, interconnection kind 2, card type 1, settlement unit 4', () => {
    const file = { countryCode: '00000156', provinceCode: '2900', cityCode: '2900', interopKind: '0001', cardType: 1, settlementUnit: '29000000' };
    const bytes = encodeManagementFile(file);
    expect(hex(bytes)).toBe('00000156' + '2900' + '2900' + '0001' + '01' + '29000000');
    expect(parseManagementFile(bytes)).toEqual(file);
    expect(() => parseManagementFile(fromHex('000001562900290000020129000000'))).toThrow(/interopKind must be 0001 or 0000/);
  });
  it('refuses bad bytes with a CardFormatError', () => {
    expect(() => parseIssuerFile(fromHex(BEIJING_SAMPLE_0X15.slice(2)))).toThrow(/30 bytes/);
    expect(() => parseIssuerFile(fromHex(`0101A000${BEIJING_SAMPLE_0X15.slice(8)}`))).toThrow(/city code\) are not BCD/);
    expect(() => parseIssuerFile(fromHex(BEIJING_SAMPLE_0X15.replace('20190806', '20410806')))).toThrow(/after the expiry date/);
    expect(() => parseIssuerFile(fromHex(BEIJING_SAMPLE_0X15.replace('0310', '1310')))).toThrow(CardFormatError);
  });
  it('the card simulator personalises a Shanghai card (its own key set) and READ answers the real 0x15 and 0x17 layouts', () => {
    const shanghai = DEFAULT_ISSUER_REGISTRY.byName('shanghai')!;
    const keys = IssuerKeyService.fromKeySets(testKeySets(), 1, { issuerId: shanghai.issuerId });
    const cardNo = makeTUnionCardNo(shanghai.productPrefix, 7);
    const image = keys.personalizeCard({
      cardNo,
      issuerCode: '2900',
      generation: 3,
      profile: 'adult',
      algorithm: '3des',
      expiryDate: 20401231,
      overdraftLimitFen: 0,
      transitOpened: true,
      suburbanOpened: false,
    });
    const read = new CardSimulator(image, seededRandom()).readCardView();
    expect(read.sw).toBe(SW.success);
    const bytes = read.data;
    expect(hex(bytes.subarray(2, 32))).toBe(`01012900FFFFFFFF0201031047700000000000072015122520401231${'0000'}`);
    expect(hex(bytes.subarray(32, 47))).toBe('00000156290029000001012900' + '0000');
    const view = parseCardView(bytes);
    expect(view.cardNo).toBe(cardNo);
    expect(view.issuerId).toBe(shanghai.issuerId);
    // A key service makes only its own issuer's cards.
    expect(() =>
      keys.personalizeCard({
        cardNo,
        issuerId: '01011000FFFFFFFF',
        issuerCode: '1000',
        generation: 3,
        profile: 'adult',
        algorithm: '3des',
        expiryDate: 20401231,
        overdraftLimitFen: 0,
        transitOpened: true,
        suburbanOpened: false,
      }),
    ).toThrow(/each issuer personalises its own cards/);
  });
});
