/**
 * A full subway exit tap (issue 3): the gate path must be a table lookup plus the purse
 * cryptography, no graph search and little allocation.
 *
 * Tasks:
 * - floor: the fare lookup by station codes (two typed-array reads), the primitive the fare side
 *   is built from;
 * - decideTap on a parsed card view (pure decision, trip record built);
 * - gate software share, card simulator excluded: parse the card view bytes + blacklist answer +
 *   decideTap + encode the trip record + PSAM MAC1 (DPK diversification for a new card, session
 *   key, MAC) + PSAM MAC2 check: everything the validator computes in a tap;
 * - executeTap end to end with the CardSimulator (the simulated card's own crypto included:
 *   its MAC1 check, MAC2 and TAC), for reference.
 * Every tap is a different card (fresh key diversification), as at a real gate.
 * Checksums: the fare and the journal of the last executeTap (amount, balance after) against the
 * fare computed independently from the quote.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildFareTables,
  CardSimulator,
  decideTap,
  defaultFareTablesSpec,
  deviceConfig,
  encodeCardView,
  encodeTripRecord,
  executeTap,
  type CardImage,
  type CardView,
  NOT_LISTED,
  parseCardView,
  purchaseMac1Data,
  quoteSubwayFareByCode,
  stationCode,
  transactionDateBytes,
  transactionTimeBytes,
  epochMsFromBeijing,
  makeCardNo,
  cardSerialFromCardNo,
} from '#core';
import { makeCardImage, makeIssuer, makePsam, seededRandom } from '#test/purse/fixtures';
import type { BenchContext, SuiteResult } from './harness.ts';

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const csvPath = process.env.SUBWAY_CSV ?? join(import.meta.dirname, '..', '..', 'shared', 'data', 'beijing-subway-sections.csv');
  const fares = buildFareTables(defaultFareTablesSpec(readFileSync(csvPath, 'utf8'), 1, 0));
  const net = fares.subway;
  const from = stationCode(net, '花园桥');
  const to = stationCode(net, '潞城');
  const exitGate = deviceConfig({ deviceId: 'BENCH-OUT', kind: 'subway-exit', stationCode: to });
  const entryMs = epochMsFromBeijing(20261125, 80000);
  const exitMs = epochMsFromBeijing(20261125, 90000);
  const expectedFare = quoteSubwayFareByCode(net, from, to).fareFen;

  const issuer = makeIssuer();
  // Enough distinct cards that the executeTap task never rebuilds its simulators inside a timed sample.
  const cardCount = ctx.pick(12_000, 1_000);
  const images: CardImage[] = [];
  for (let i = 0; i < cardCount; i++) {
    const image = makeCardImage(issuer, { cardNo: makeCardNo('100075', i + 1), effectiveBalanceFen: 10_000 });
    image.trip = { ...image.trip, journey: 'subway', journeyPlace: from, journeyTime: Math.floor(entryMs / 1000), journeyFareVersion: 1 };
    images.push(image);
  }
  const viewBytes = images.map((im) => encodeCardView(im));
  const views: CardView[] = viewBytes.map((b) => parseCardView(b));
  const serials = images.map((im) => cardSerialFromCardNo(im.cardNo));
  const psam = makePsam(issuer);
  const random = Uint8Array.of(1, 2, 3, 4);
  const date = transactionDateBytes(20261125);
  const time = transactionTimeBytes(90000);
  const fakeMac2 = new Uint8Array(4);
  void purchaseMac1Data;

  let i = 0;
  let lastFare = 0;
  let lastGate = 0;
  const simulators: CardSimulator[] = [];
  let simIndex = 0;
  const refillSimulators = () => {
    simulators.length = 0;
    for (const image of images) simulators.push(new CardSimulator(image, seededRandom(7)));
    simIndex = 0;
  };
  let seq = 1;
  let lastJournal = { amountFen: -1, balanceAfterFen: -1 };

  await ctx.measure([
    {
      name: 'floor: fare lookup by codes',
      floor: true,
      batch: 256,
      fn: () => (lastFare = quoteSubwayFareByCode(net, from, to).fareFen),
    },
    {
      name: 'decideTap subway exit',
      batch: 64,
      fn: () => {
        const d = decideTap({ card: views[i++ % cardCount], device: exitGate, blacklist: NOT_LISTED, fares, nowMs: exitMs });
        lastFare = d.chargeFen;
      },
      budget: { p50Us: 5, p99Us: 25 },
    },
    {
      name: 'gate share: parse + decide + encode trip + PSAM MAC1 + MAC2 check (no card)',
      batch: 8,
      fn: () => {
        const k = i++ % cardCount;
        const view = parseCardView(viewBytes[k]);
        const d = decideTap({ card: view, device: exitGate, blacklist: NOT_LISTED, fares, nowMs: exitMs });
        encodeTripRecord(d.newTrip!);
        psam.beginPurchase({
          cardSerial: serials[k],
          keyVersion: view.keyVersion,
          algorithm: view.algorithm,
          cardRandom: random,
          offlineAtc: view.offlineAtc,
          amountFen: d.chargeFen,
          transactionType: 0x09,
          date,
          time,
        });
        psam.verifyMac2(fakeMac2);
        lastGate = d.chargeFen;
      },
      budget: { p50Us: 50, p99Us: 1_000 },
    },
    {
      name: 'executeTap subway exit, card simulator included',
      beforeAll: refillSimulators,
      // Short enough that the pool of pre-entered cards is rarely rebuilt inside a timed sample.
      timeMs: ctx.pick(200, 30),
      fn: () => {
        if (simIndex === simulators.length) refillSimulators();
        const r = executeTap({
          card: simulators[simIndex++],
          psam,
          device: exitGate,
          blacklistLookup: () => NOT_LISTED,
          fares,
          nowMs: exitMs,
          deviceSeq: seq++,
          pending: null,
        });
        lastJournal = r.journal[0];
      },
      ratioTo: ['gate share: parse + decide + encode trip + PSAM MAC1 + MAC2 check (no card)'],
      budget: { p50Us: 250, p99Us: 2_000 },
    },
  ]);

  ctx.checksum('fare 花园桥→潞城 (fen)', String(lastFare), String(expectedFare));
  ctx.checksum('gate share charge (fen)', String(lastGate), String(expectedFare));
  ctx.checksum(
    'executeTap journal amount / balance after',
    `${lastJournal.amountFen}/${lastJournal.balanceAfterFen}`,
    `${expectedFare}/${10_000 - expectedFare}`,
  );
  ctx.note('Gate share = what the validator computes per tap without the card: the software part of the ~200 ms radio transaction.');
  return ctx.result();
}
