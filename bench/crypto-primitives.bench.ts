/**
 * Crypto primitives side by side (issue 2: "pick the fastest correct primitive by measuring"):
 * our table-driven DES/3DES/SM4 with cached key schedules vs node:crypto (OpenSSL) vs
 * node-forge, for single blocks, the purse MAC, the retail MAC and key diversification.
 *
 * Floor: one raw DES block on two words with a cached schedule (no allocation, no checks),
 * the primitive everything else is built from; ratios say how many "DES blocks" each costs.
 * Checksums: the last output of every measured function is compared with a published or
 * independently computed vector, so a fast wrong implementation fails the run.
 */
import { VECTORS } from '#test/crypto/load-vectors';
import {
  bytesToHex,
  desEncryptBlock,
  diversifyKey,
  hexToBytes,
  purchaseSessionKey,
  retailMac,
  sm4EncryptBlock,
  transactionMac,
  tripleDesEncryptBlock,
} from '#core';
import { forgeDesCbcEncrypt, forgeDesEncryptBlock, forgeTripleDesEncryptBlock } from '#core/crypto/alt/forge-des';
import { genericMacAlgorithm1 } from '#core/crypto/alt/generic-mac';
import { nodeDesEncryptBlock, nodeSm4EncryptBlock, nodeTransactionMac, nodeTripleDesEncryptBlock } from '#core/crypto/alt/node-ciphers';
import { buildDesSchedule, desCryptWords } from '#core/crypto/des';
import type { BenchContext, SuiteResult, TaskSpec } from './harness.ts';

const h = hexToBytes;

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const desVector = VECTORS.des.cases[0]; // 133457799BBCDFF1 / 0123456789ABCDEF
  const desKey = h(desVector.key);
  const desPlain = h(desVector.plaintext);
  const tdes16 = h('0123456789ABCDEFFEDCBA9876543210');
  const tdesPlain = h('1122334455667788');
  const sm4Vector = VECTORS.sm4.cases[0];
  const sm4Key = h(sm4Vector.key);
  const sm4Plain = h(sm4Vector.plaintext);
  // MAC1 input of a purchase: amount(4) type(1) terminal(6) date(4) time(3) = 18 bytes.
  const mac3 = VECTORS.transactionMac3des.cases[1];
  const macKey = h(mac3.key);
  const macData = h(mac3.data);
  const macSm4 = VECTORS.transactionMacSm4.cases[1];
  const macKeySm4 = h(macSm4.key);
  const macDataSm4 = h(macSm4.data);
  const retail = VECTORS.retailMac3des.cases[0];
  const retailKey = h(retail.key);
  const retailIv = h(retail.iv);
  const retailData = h(retail.data);
  const div3 = VECTORS.diversify.cases.find((c) => c.algorithm === '3des')!;
  const divSm4 = VECTORS.diversify.cases.find((c) => c.algorithm === 'sm4')!;
  const div3Master = h(div3.masterKey);
  const div3D = h(div3.diversifier);
  const div3NotD = div3D.map((b) => ~b & 0xff);
  const divSm4Master = h(divSm4.masterKey);
  const divSm4D = h(divSm4.diversifier);

  // A stream of distinct session keys, more than the schedule cache holds, so every call of
  // the "cold key" task builds a schedule, as a tap does with its fresh session key.
  const coldKeys = Array.from({ length: 1024 }, (_, i) => Uint8Array.of(i >> 8, i & 0xff, 3, 4, 5, 6, 7, 8));
  let coldIndex = 0;

  const floorSchedule = buildDesSchedule(desKey, false);
  const words = new Int32Array(2);
  const dv = new DataView(desPlain.buffer, desPlain.byteOffset, 8);
  const floorLeft = dv.getInt32(0);
  const floorRight = dv.getInt32(4);

  const last: Record<string, Uint8Array> = {};
  const keep = (name: string, fn: () => Uint8Array) => () => (last[name] = fn());
  const BATCH = 32;
  const t = (name: string, fn: () => Uint8Array, budget: TaskSpec['budget'], batch = BATCH): TaskSpec => ({
    name,
    fn: keep(name, fn),
    batch,
    budget,
  });

  await ctx.measure([
    {
      name: 'floor: own DES block on words',
      floor: true,
      batch: 64,
      fn: () => {
        desCryptWords(floorSchedule, floorLeft, floorRight, words);
        return words[0];
      },
      budget: { p50Us: 1 },
    },
    t('DES block own', () => desEncryptBlock(desKey, desPlain), { p50Us: 1, maxRatioToFloor: 10 }),
    t('DES block node:crypto', () => nodeDesEncryptBlock(desKey, desPlain), { p50Us: 50 }),
    t('DES block forge', () => forgeDesEncryptBlock(desKey, desPlain), { p50Us: 100 }),
    t('3DES block own', () => tripleDesEncryptBlock(tdes16, tdesPlain), { p50Us: 2 }),
    t('3DES block node:crypto', () => nodeTripleDesEncryptBlock(tdes16, tdesPlain), { p50Us: 50 }),
    t('3DES block forge', () => forgeTripleDesEncryptBlock(tdes16, tdesPlain), { p50Us: 200 }),
    t('SM4 block own', () => sm4EncryptBlock(sm4Key, sm4Plain), { p50Us: 2 }),
    t('SM4 block node:crypto', () => nodeSm4EncryptBlock(sm4Key, sm4Plain), { p50Us: 50 }),
    t('transactionMac 3DES 18B own (chosen)', () => transactionMac(macKey, macData, '3des'), { p50Us: 2, p99Us: 10, maxRatioToFloor: 12 }),
    {
      name: 'transactionMac 3DES 18B own, unbatched (per-call p99, timer included)',
      fn: keep('transactionMac 3DES 18B own, unbatched (per-call p99, timer included)', () => transactionMac(macKey, macData, '3des')),
      budget: { p50Us: 2, p99Us: 10 },
    },
    t(
      'transactionMac 3DES 18B own, new key each call',
      () => {
        const key = coldKeys[coldIndex];
        coldIndex = (coldIndex + 1) & 1023;
        return transactionMac(key, macData, '3des');
      },
      { p50Us: 5, p99Us: 20 },
    ),
    t('transactionMac 3DES 18B node:crypto CBC', () => nodeTransactionMac(macKey, macData, '3des'), { p50Us: 50 }),
    t(
      'transactionMac 3DES 18B forge CBC',
      () => {
        const padded = new Uint8Array(24);
        padded.set(macData);
        padded[macData.length] = 0x80;
        return forgeDesCbcEncrypt(macKey, new Uint8Array(8), padded).subarray(16, 20);
      },
      { p50Us: 200 },
    ),
    t('transactionMac 3DES 18B generic over forge blocks', () => genericMacAlgorithm1(forgeDesEncryptBlock, macKey, new Uint8Array(8), macData, 8), {
      p50Us: 300,
    }),
    t('transactionMac SM4 18B own (chosen)', () => transactionMac(macKeySm4, macDataSm4, 'sm4'), { p50Us: 3, p99Us: 10 }),
    t('transactionMac SM4 18B node:crypto CBC', () => nodeTransactionMac(macKeySm4, macDataSm4, 'sm4'), { p50Us: 50 }),
    t('retailMac 3DES own', () => retailMac(retailKey, retailIv, retailData), { p50Us: 5 }),
    t('diversifyKey 3DES own', () => diversifyKey(div3Master, div3D, '3des'), { p50Us: 5 }),
    t(
      'diversifyKey 3DES node:crypto',
      () => {
        const out = new Uint8Array(16);
        out.set(nodeTripleDesEncryptBlock(div3Master, div3D), 0);
        out.set(nodeTripleDesEncryptBlock(div3Master, div3NotD), 8);
        return out;
      },
      { p50Us: 100 },
    ),
    t('diversifyKey SM4 own', () => diversifyKey(divSm4Master, divSm4D, 'sm4'), { p50Us: 5 }),
    t(
      'purchase crypto of one tap 3DES own (SESPK + MAC1 + MAC2 check)',
      () => {
        const sespk = purchaseSessionKey(tdes16, Uint8Array.of(1, 2, 3, 4), 7, 0x11223344);
        transactionMac(sespk, macData);
        return transactionMac(sespk, macData.subarray(0, 4));
      },
      { p50Us: 10, p99Us: 30 },
    ),
  ]);

  const hex = (name: string) => bytesToHex(last[name] ?? new Uint8Array(0));
  ctx.checksum(
    'DES own = node = forge = FIPS vector',
    [hex('DES block own'), hex('DES block node:crypto'), hex('DES block forge')].join(','),
    Array(3).fill(desVector.ciphertext).join(','),
  );
  const tdesExpected = bytesToHex(nodeTripleDesEncryptBlock(tdes16, tdesPlain));
  ctx.checksum('3DES own = node = forge', [hex('3DES block own'), hex('3DES block forge')].join(','), [tdesExpected, tdesExpected].join(','));
  ctx.checksum(
    'SM4 own = node = GB/T 32907 vector',
    [hex('SM4 block own'), hex('SM4 block node:crypto')].join(','),
    [sm4Vector.ciphertext, sm4Vector.ciphertext].join(','),
  );
  ctx.checksum(
    'transactionMac 3DES: every implementation = vector',
    [
      'transactionMac 3DES 18B own (chosen)',
      'transactionMac 3DES 18B own, unbatched (per-call p99, timer included)',
      'transactionMac 3DES 18B node:crypto CBC',
      'transactionMac 3DES 18B forge CBC',
      'transactionMac 3DES 18B generic over forge blocks',
    ]
      .map(hex)
      .join(','),
    Array(5).fill(mac3.mac).join(','),
  );
  ctx.checksum(
    'transactionMac SM4 own = node = vector',
    [hex('transactionMac SM4 18B own (chosen)'), hex('transactionMac SM4 18B node:crypto CBC')].join(','),
    [macSm4.mac, macSm4.mac].join(','),
  );
  ctx.checksum('retailMac 3DES = vector', hex('retailMac 3DES own'), retail.mac);
  ctx.checksum(
    'diversifyKey own = node = vector',
    [hex('diversifyKey 3DES own'), hex('diversifyKey 3DES node:crypto'), hex('diversifyKey SM4 own')].join(','),
    [div3.cardKey, div3.cardKey, divSm4.cardKey].join(','),
  );
  const lastCold = coldKeys[(coldIndex + 1023) & 1023];
  ctx.checksum('cold-key MAC = node:crypto', hex('transactionMac 3DES 18B own, new key each call'), bytesToHex(nodeTransactionMac(lastCold, macData)));
  const sespk = purchaseSessionKey(tdes16, Uint8Array.of(1, 2, 3, 4), 7, 0x11223344);
  ctx.checksum(
    'tap MAC2 = node:crypto',
    hex('purchase crypto of one tap 3DES own (SESPK + MAC1 + MAC2 check)'),
    bytesToHex(nodeTransactionMac(sespk, macData.subarray(0, 4))),
  );
  ctx.note(
    'chosen for the hot path: own table-driven DES/SM4 with cached key schedules (core/src/crypto); node:crypto and node-forge are kept as cross-checks (core/src/crypto/alt).',
  );
  return ctx.result();
}
