/**
 * The revenue split (清分, issue 18; core/src/fare/revenue-split.ts): apportioning a day of
 * subway trips among the operators, against the plain fare lookup measured in the same run.
 *
 * Data: a seeded day of trips over the real network (uniform random entry and exit stations,
 * charges at 100 %, 80 % or 50 % of the fare, one trip in 50 with the 3-yuan overtime), built
 * outside the timed loops; every entry-exit pair the day uses is split once before timing (the
 * splitter keeps each pair's operators and kilometres, as the gateway does per bundle).
 * Tasks:
 * - floor: the fare lookup by station codes over the same trips (two typed-array reads);
 * - one trip apportioned (splitter.addTrip into the day's totals), batched;
 * - the day: 10 million trips (quick: 300,000) apportioned in one pass, timed as a whole, its
 *   throughput and its ratio to the fare lookup over the same trips in the same run.
 * Checksums: the totals of every operator add up to exactly the charged amounts, and no total is
 * negative (the split's own invariant, at volume).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFareTables, defaultFareTablesSpec, quoteSubwayFareByCode, subwayRevenueSplitterOf } from '#core';
import type { BenchContext, SuiteResult } from './harness.ts';

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const csvPath = process.env.SUBWAY_CSV ?? join(import.meta.dirname, '..', '..', 'shared', 'data', 'beijing-subway-sections.csv');
  const fares = buildFareTables(defaultFareTablesSpec(readFileSync(csvPath, 'utf8'), 1, 0));
  const net = fares.subway;
  const splitter = subwayRevenueSplitterOf(fares);
  // xorshift32, seeded: the same day on every run.
  let state = 18;
  const randomInt = (n: number): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % n;
  };

  // A pool of distinct trips, cycled to make the day (the pool is what the CPU cache sees).
  const poolSize = ctx.pick(1 << 20, 1 << 15);
  // Quick mode draws from fewer stations so that warming the pairs stays short.
  const stations = ctx.pick(net.stationCount, 60);
  const entry = new Int32Array(poolSize);
  const exit = new Int32Array(poolSize);
  const charged = new Int32Array(poolSize);
  const overtime = new Int32Array(poolSize);
  const overtimeFen = net.policy.overtimeFen;
  let poolChargedFen = 0;
  for (let i = 0; i < poolSize; i++) {
    let a = 1 + randomInt(stations);
    let b = 1 + randomInt(stations);
    while (net.fareFen[a * net.side + b] < 0) {
      a = 1 + randomInt(stations);
      b = 1 + randomInt(stations);
    }
    const fare = net.fareFen[a * net.side + b];
    const percent = [100, 100, 80, 50][randomInt(4)];
    const over = randomInt(50) === 0 ? overtimeFen : 0;
    entry[i] = a;
    exit[i] = b;
    overtime[i] = over;
    charged[i] = Math.floor((fare * percent) / 100) + over;
    poolChargedFen += charged[i];
  }
  const totals = new Float64Array(splitter.payees.operators.length);
  // Every pair the day uses, split once before timing.
  const warmStart = performance.now();
  for (let i = 0; i < poolSize; i++) splitter.addTrip(totals, entry[i], exit[i], charged[i], overtime[i]);
  const warmMs = performance.now() - warmStart;
  totals.fill(0);

  let k = 0;
  let lastFare = 0;
  const mask = poolSize - 1;
  let singleTrips = 0;
  let singleCharged = 0;
  await ctx.measure([
    {
      name: 'floor: fare lookup by codes',
      floor: true,
      batch: 256,
      fn: () => {
        const i = k++ & mask;
        lastFare = quoteSubwayFareByCode(net, entry[i], exit[i]).fareFen;
      },
    },
    {
      name: 'apportion one trip (addTrip)',
      batch: 256,
      fn: () => {
        const i = k++ & mask;
        splitter.addTrip(totals, entry[i], exit[i], charged[i], overtime[i]);
        singleTrips++;
        singleCharged += charged[i];
      },
      budget: { p50Us: 2, p99Us: 50, maxRatioToFloor: 400 },
    },
  ]);
  const singleSum = totals.reduce((s, v) => s + v, 0);
  ctx.checksum('one-trip task: operators add up to the charges (fen)', singleSum, singleCharged);

  // The day: N trips in one pass, then the same trips through the fare lookup.
  const dayTrips = ctx.pick(10_000_000, 300_000);
  const day = new Float64Array(splitter.payees.operators.length);
  const dayStart = performance.now();
  for (let t = 0; t < dayTrips; t++) {
    const i = t & mask;
    splitter.addTrip(day, entry[i], exit[i], charged[i], overtime[i]);
  }
  const dayMs = performance.now() - dayStart;
  let fareSum = 0;
  const lookupStart = performance.now();
  for (let t = 0; t < dayTrips; t++) {
    const i = t & mask;
    fareSum += quoteSubwayFareByCode(net, entry[i], exit[i]).fareFen;
  }
  const lookupMs = performance.now() - lookupStart;
  const cycles = Math.floor(dayTrips / poolSize);
  let expectedDay = poolChargedFen * cycles;
  for (let t = cycles * poolSize; t < dayTrips; t++) expectedDay += charged[t & mask];
  const daySum = day.reduce((s, v) => s + v, 0);
  ctx.checksum(`${dayTrips} trips: operators add up to the charges (fen)`, daySum, expectedDay);
  ctx.checksum(
    'no operator total is negative',
    day.every((v) => v >= 0),
    true,
  );
  ctx.checksum('fare lookup ran', fareSum > 0 && lastFare > 0, true);
  const tripsPerSec = dayTrips / (dayMs / 1000);
  ctx.metric(`apportion ${dayTrips} trips: wall time`, dayMs / 1000, 's', { max: ctx.pick(20, 1) });
  ctx.metric('apportion: trips per second', tripsPerSec, 'trips/s', { min: 500_000 });
  ctx.metric('apportion / fare lookup, same trips (time ratio)', dayMs / lookupMs, 'x', { max: 60 });
  ctx.metric('pairs split before timing (wall time)', warmMs / 1000, 's');
  const shares = splitter.payees.operators
    .map((op, i) => `${op.id} ${((100 * day[i]) / daySum).toFixed(1)}%`)
    .filter((_, i) => day[i] > 0)
    .join(', ');
  ctx.note(`Day of ${dayTrips} random trips (${poolSize} distinct, ${stations} stations): ${shares}.`);
  void singleTrips;
  return ctx.result();
}
