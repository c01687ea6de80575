/**
 * Bad input that does not come over HTTP (issue 8, "The proof"):
 * - corrupted card images and card views: random bit flips, truncations and extensions fed to
 *   parseCardImage / parseCardView / the CardSimulator constructor, and a tap at a real
 *   validator of a card whose view is corrupted. Each is either a typed CardFormatError or a
 *   card that still validates; a validator refuses a card it cannot read and journals nothing
 *   it cannot prove.
 * - corrupted blacklist deltas applied to a validator: wrong versions, bad card numbers,
 *   unknown operations and reasons, wrong types. Each is refused whole with a typed reason;
 *   the device's list and version do not change.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CardFormatError, CardSimulator, SW, encodeCardImage, parseCardImage, parseCardView, type CardPort, type CardResponse } from '#core';
import { ProofTally } from '../support/proof-summary.ts';
import { makeCardImage, makeIssuer, seededRandom } from '../purse/fixtures.ts';
import { createDevice, profile, 花园桥 } from '../validator/device-fixtures.ts';
import { tempDir } from '../validator/temp-db.ts';

const tally = new ProofTally('bad-input:cards-blacklist');
afterAll(() => tally.record());

const ISSUER = makeIssuer();
const IMAGE = encodeCardImage(makeCardImage(ISSUER, { effectiveBalanceFen: 5_000 }));
const VIEW = new CardSimulator(parseCardImage(IMAGE), seededRandom(1)).readCardView().data;

/** Flips `flips` random bits, or truncates / extends the bytes. */
const corrupted = (bytes: Uint8Array) =>
  fc.oneof(
    fc.array(fc.tuple(fc.nat(bytes.length * 8 - 1)), { minLength: 1, maxLength: 8 }).map((bits) => {
      const out = new Uint8Array(bytes);
      for (const [bit] of bits) out[bit >> 3] ^= 1 << (bit & 7);
      return out;
    }),
    fc.nat(bytes.length - 1).map((n) => bytes.slice(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Uint8Array.from([...bytes, ...tail])),
  );

function typedOrValid<T>(parse: () => T): 'refused' | 'parsed' {
  try {
    parse();
    return 'parsed';
  } catch (error) {
    expect(error, `not a typed card error: ${String(error)}`).toBeInstanceOf(CardFormatError);
    return 'refused';
  }
}

describe('corrupted card images and views', () => {
  it('parseCardImage and the card simulator: a typed CardFormatError, or a card that still validates', () => {
    let refused = 0;
    fc.assert(
      fc.property(corrupted(IMAGE), (bytes) => {
        tally.badInputs++;
        const outcome = typedOrValid(() => new CardSimulator(parseCardImage(bytes), seededRandom(2)));
        if (outcome === 'refused') refused++;
      }),
      { numRuns: 1_000, seed: Number(process.env.PROOF_SEED ?? 41) },
    );
    // Most corruptions are caught by the codec (a flip in a free-form field such as a balance may still be a valid image).
    expect(refused).toBeGreaterThan(100);
  });

  it('parseCardView: a typed CardFormatError, or a view that parses', () => {
    fc.assert(
      fc.property(corrupted(VIEW), (bytes) => {
        tally.badInputs++;
        typedOrValid(() => parseCardView(bytes));
      }),
      { numRuns: 1_000, seed: Number(process.env.PROOF_SEED ?? 42) },
    );
  });

  it('a validator presented a card whose view is corrupted refuses it, journals nothing unproven, and the card keeps its money', () => {
    const tmp = tempDir('proof-bad-card-');
    const gate = createDevice(tmp.file('gate.db'), profile('BAD-CARD-GATE', 'subway-entry', { stationCode: 花园桥 }));
    try {
      fc.assert(
        fc.property(corrupted(VIEW), fc.integer({ min: 0, max: 1_000_000 }), (view, t) => {
          const card = new CardSimulator(parseCardImage(IMAGE), seededRandom(3));
          // The reader gets corrupted bytes back from READ (radio noise, a damaged chip).
          const noisy = new Proxy(card, {
            get(target, prop) {
              const value = Reflect.get(target, prop, target) as unknown;
              if (prop === 'readCardView') return (): CardResponse => ({ sw: SW.success, data: view });
              return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
            },
          }) as unknown as CardPort;
          tally.badInputs++;
          const seqBefore = gate.status().nextDeviceSeq;
          const result = gate.tap(noisy, Date.UTC(2026, 10, 25, 0, 0, 0) + t * 1_000);
          // Whatever the gate decided, the card's purse is debited only with a journaled record.
          const debited = 5_000 - (card.image().balanceFen - card.image().overdraftUsedFen);
          expect(debited).toBe(result.chargeFen);
          expect(gate.status().nextDeviceSeq - seqBefore).toBe(result.deviceSeqs.length);
        }),
        { numRuns: 150, seed: Number(process.env.PROOF_SEED ?? 43) },
      );
    } finally {
      gate.close();
      tmp.cleanup();
    }
  });
});

describe('corrupted blacklist deltas applied to a validator', () => {
  it('wrong versions, bad card numbers, unknown ops and reasons, wrong types: refused whole, nothing changes', async () => {
    const tmp = tempDir('proof-bad-delta-');
    const gate = createDevice(tmp.file('gate.db'), profile('BAD-DELTA-GATE', 'subway-entry', { stationCode: 花园桥 }));
    try {
      const good = { version: 1, cardNo: '1000754300000015', op: 'add', reason: 'formal-loss' };
      const applied = await gate.blacklist.applyDelta({ entries: [good] as never, toVersion: 1 });
      expect(applied.status).toBe('applied');
      const listed = '1000754300000015';
      const stateBefore = gate.status();
      const bad: Array<{ what: string; entries: unknown[]; toVersion: number }> = [
        { what: 'version going backwards', entries: [{ ...good, version: 0, cardNo: '1000754300000023' }], toVersion: 0 },
        { what: 'toVersion below the device', entries: [], toVersion: 0 },
        { what: 'entry version above toVersion', entries: [{ ...good, version: 9, cardNo: '1000754300000023' }], toVersion: 2 },
        { what: 'card number too short', entries: [{ ...good, version: 2, cardNo: '12345' }], toVersion: 2 },
        { what: 'card number with letters', entries: [{ ...good, version: 2, cardNo: '10007543000000AB' }], toVersion: 2 },
        { what: 'card number as a number', entries: [{ ...good, version: 2, cardNo: 1000754300000023 }], toVersion: 2 },
        { what: 'unknown op', entries: [{ ...good, version: 2, op: 'delete-all' }], toVersion: 2 },
        { what: 'unknown reason', entries: [{ ...good, version: 2, reason: 'because' }], toVersion: 2 },
        { what: 'null entry', entries: [null], toVersion: 2 },
        { what: 'NaN version', entries: [{ ...good, version: Number.NaN }], toVersion: 2 },
        { what: 'fractional version', entries: [{ ...good, version: 1.5 }], toVersion: 2 },
        {
          what: 'a good entry then a bad one',
          entries: [
            { ...good, version: 2, cardNo: '1000754300000023' },
            { ...good, version: 3, cardNo: 'garbage' },
          ],
          toVersion: 3,
        },
        { what: 'a remove of the listed card then garbage', entries: [{ ...good, version: 2, op: 'remove' }, { version: 3 }], toVersion: 3 },
      ];
      for (const b of bad) {
        tally.badInputs++;
        let result;
        try {
          result = await gate.blacklist.applyDelta({ entries: b.entries as never, toVersion: b.toVersion });
        } catch (error) {
          throw new Error(`${b.what}: applyDelta threw instead of refusing: ${String(error)}`);
        }
        expect(result.status, b.what).toBe('refused');
        expect(['corrupt-entry', 'stale-version'], b.what).toContain((result as { reason: string }).reason);
        const after = gate.status();
        expect(after.blacklistVersion, b.what).toBe(stateBefore.blacklistVersion);
        expect(gate.blacklist.lookup(listed).listed, b.what).toBe(true);
        expect(gate.blacklist.lookup('1000754300000023').listed, b.what).toBe(false);
      }
      // Fast-check: any entry list that is not made of well-formed entries changes nothing.
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.anything({ maxDepth: 2 }), { minLength: 1, maxLength: 5 }),
          fc.integer({ min: -5, max: 50 }),
          async (entries, toVersion) => {
            tally.badInputs++;
            const result = await gate.blacklist.applyDelta({ entries: entries as never, toVersion });
            expect(result.status).toBe('refused');
            expect(gate.status().blacklistVersion).toBe(stateBefore.blacklistVersion);
          },
        ),
        { numRuns: 200, seed: Number(process.env.PROOF_SEED ?? 44) },
      );
      expect(gate.blacklist.lookup(listed).listed).toBe(true);
    } finally {
      gate.close();
      tmp.cleanup();
    }
  });
});
