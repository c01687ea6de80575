/**
 * Blacklist lookup latency at 1M and 10M cards (quick mode: 100k and 1M).
 *
 * Question: does the device's SQLite blacklist lookup stay fast as the list grows to 10M
 * (budget: p99 <= 5 us per lookup, RSS < 200 MB with 10M entries)?
 *
 * Building 10M rows takes ~20 s, so each size is built once into a cached file under
 * os.tmpdir() keyed by size and layout version, outside any timed loop. Each size is measured
 * in a fresh child process so RSS shows the lookup footprint, not the build's garbage.
 * Probes: half listed cards, half unlisted (seeded, deterministic); a checksum of hits is
 * asserted; the primitive floor (an empty prepared statement) is measured in the same run.
 *
 * Run: npm run bench -- blacklist [--quick]   (or directly: npx tsx bench/blacklist-lookup.bench.ts [--quick])
 */
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlacklistStore } from '#validator/storage/blacklist-store';
import { openDeviceDb } from '#validator/storage/device-db';
import { DeviceStateStore } from '#validator/storage/device-state-store';
import type { BenchContext, SuiteResult } from './harness.ts';

const LAYOUT = 'v2';
export const LOOKUP_P99_BUDGET_NS = 5_000;
export const RSS_BUDGET_MB = 200;
const PROBES = 200_000;

/** Listed card i (ascending in i, spread over the 16-digit space, some above 2^53). */
export function listedCard(i: number, size: number): string {
  const stride = Math.floor(1e16 / size / 2) * 2; // even stride
  const value = BigInt(1_000_000) + BigInt(i) * BigInt(stride);
  return value.toString().padStart(16, '0');
}
/** Unlisted card near listed card i (odd offset: never on the even grid above). */
export function unlistedCard(i: number, size: number): string {
  return (BigInt(listedCard(i, size)) + 1n).toString().padStart(16, '0');
}

export function cachedBlacklistFile(size: number): string {
  const file = join(tmpdir(), `transit-blacklist-${LAYOUT}-${size}.db`);
  if (existsSync(file)) return file;
  const building = `${file}.building-${process.pid}`;
  const db = openDeviceDb(building);
  new DeviceStateStore(db).initialise('bench-device');
  // A fixture, built fast: ascending keys, plain INSERTs in large transactions, no fsync (the
  // file is only renamed into place once complete). BlacklistStore.bulkLoad is the device's path.
  db.pragma('synchronous = OFF');
  const insert = db.prepare('INSERT INTO blacklist (card, reason, version) VALUES (?, 2, ?)');
  const chunk = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(BigInt(listedCard(i, size)), 1 + (i % 1000));
  });
  for (let from = 0; from < size; from += 500_000) chunk(from, Math.min(from + 500_000, size));
  db.prepare('UPDATE device_state SET blacklist_version = 1000, blacklist_count = ? WHERE id = 1').run(size);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  renameSync(building, file);
  rmSync(`${building}-wal`, { force: true });
  rmSync(`${building}-shm`, { force: true });
  return file;
}

export interface LookupStats {
  medianNs: number;
  p99Ns: number;
  p999Ns: number;
}

export interface LookupResult {
  size: number;
  /** The device path: the in-memory index (table behind it). Unlisted cards (nearly every tap) and listed cards. */
  unlisted: LookupStats;
  listed: LookupStats;
  /** Same probes, table only (no index): what the index buys. */
  tableOnlyUnlisted: LookupStats;
  tableOnlyListed: LookupStats;
  /** The primitive floor: an empty prepared statement. */
  floorMedianNs: number;
  /** Listed probes found (the checksum: exactly the listed half). */
  hits: number;
  /** Building the index from the table when the device starts. */
  startupMs: number;
  rssMB: number;
}

function stats(lat: Float64Array): LookupStats {
  lat.sort();
  return { medianNs: lat[Math.floor(lat.length / 2)], p99Ns: lat[Math.floor(lat.length * 0.99)], p999Ns: lat[Math.floor(lat.length * 0.999)] };
}

function time(probes: string[], fn: (card: string) => boolean, expectHits: number): LookupStats {
  for (let i = 0; i < probes.length; i++) fn(probes[i]); // warm-up: page cache and JIT
  const lat = new Float64Array(probes.length);
  let hits = 0;
  for (let i = 0; i < probes.length; i++) {
    const t0 = process.hrtime.bigint();
    const listed = fn(probes[i]);
    lat[i] = Number(process.hrtime.bigint() - t0);
    if (listed) hits++;
  }
  if (hits !== expectHits) throw new Error(`checksum: expected ${expectHits} hits, got ${hits}`);
  return stats(lat);
}

/** Measures one size in this process (the child side). */
export function measureLookups(size: number, probes = PROBES): LookupResult {
  const file = cachedBlacklistFile(size);
  const t0 = performance.now();
  const db = openDeviceDb(file);
  const list = new BlacklistStore(db, { index: 'sync' });
  const startupMs = Math.round(performance.now() - t0);
  // Seeded probe order (xorshift).
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % size;
  };
  const listedProbes: string[] = [];
  const unlistedProbes: string[] = [];
  for (let i = 0; i < probes / 2; i++) listedProbes.push(listedCard(next(), size));
  for (let i = 0; i < probes / 2; i++) unlistedProbes.push(unlistedCard(next(), size));
  const unlisted = time(unlistedProbes, (c) => list.lookup(c).listed, 0);
  const listed = time(listedProbes, (c) => list.lookup(c).listed, probes / 2);
  const rssMB = Math.round(process.memoryUsage().rss / 1e6);
  const tableOnly = new BlacklistStore(db, { index: false });
  const tableOnlyUnlisted = time(unlistedProbes, (c) => tableOnly.lookup(c).listed, 0);
  const tableOnlyListed = time(listedProbes, (c) => tableOnly.lookup(c).listed, probes / 2);
  const floor = db.prepare('SELECT 1').pluck();
  const floorStats = time(unlistedProbes, () => floor.get() === 0, 0);
  db.close();
  return { size, unlisted, listed, tableOnlyUnlisted, tableOnlyListed, hits: probes / 2, floorMedianNs: floorStats.medianNs, startupMs, rssMB };
}

/** Builds (cached) and measures each size in a fresh child process. */
export function runBlacklistLookupBench(sizes: number[]): LookupResult[] {
  const self = fileURLToPath(import.meta.url);
  return sizes.map((size) => {
    cachedBlacklistFile(size);
    const child = spawnSync(process.execPath, [...process.execArgv, self, '--measure', String(size)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`measure ${size} failed: ${child.stderr}`);
    return JSON.parse(child.stdout.trim().split('\n').pop() as string) as LookupResult;
  });
}

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const sizes = ctx.pick([1_000_000, 10_000_000], [100_000, 1_000_000]);
  const results = runBlacklistLookupBench(sizes);
  const probes = PROBES / 2;
  for (const r of results) {
    const label = r.size >= 1_000_000 ? `${r.size / 1_000_000}M` : `${r.size / 1_000}k`;
    const task = (name: string, st: LookupStats, extra: { floor?: boolean; budget?: { p99Us: number } } = {}) =>
      ctx.report({ name: `${label}: ${name}`, samples: probes, medianUs: st.medianNs / 1000, p99Us: st.p99Ns / 1000, opsPerSec: 1e9 / st.medianNs, ...extra });
    // One floor per suite: the smallest size's empty statement stands for all (it does not depend on size).
    if (r === results[0])
      ctx.report({
        name: 'floor: empty prepared statement',
        samples: probes,
        medianUs: r.floorMedianNs / 1000,
        p99Us: r.floorMedianNs / 1000,
        opsPerSec: 1e9 / r.floorMedianNs,
        floor: true,
      });
    task('lookup unlisted card (index, table behind)', r.unlisted, { budget: { p99Us: LOOKUP_P99_BUDGET_NS / 1000 } });
    task('lookup listed card (index, table behind)', r.listed, { budget: { p99Us: LOOKUP_P99_BUDGET_NS / 1000 } });
    task('lookup unlisted card (table only)', r.tableOnlyUnlisted);
    task('lookup listed card (table only)', r.tableOnlyListed);
    ctx.metric(`${label}: RSS of a device process holding the list`, r.rssMB, 'MB', { max: RSS_BUDGET_MB });
    ctx.metric(`${label}: start-up index build`, r.startupMs, 'ms');
    // measureLookups throws unless exactly the listed half hit; the checksum records it.
    ctx.checksum(`${label}: hits over the seeded probes`, r.hits, probes);
  }
  ctx.note('Each size runs in a fresh child process (clean RSS); the list file is cached under os.tmpdir() by size.');
  return ctx.result();
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const args = process.argv.slice(2);
  const measure = args.indexOf('--measure');
  if (measure >= 0) {
    console.log(JSON.stringify(measureLookups(Number(args[measure + 1]))));
  } else {
    const quick = args.includes('--quick') || process.env.BENCH_QUICK === '1';
    const sizes = quick ? [100_000, 1_000_000] : [1_000_000, 10_000_000];
    const results = runBlacklistLookupBench(sizes);
    let over = false;
    const us = (ns: number): string => (ns / 1000).toFixed(2);
    const line = (name: string, st: LookupStats): string => `${name} median ${us(st.medianNs)} us p99 ${us(st.p99Ns)} us p99.9 ${us(st.p999Ns)} us`;
    for (const r of results) {
      const ok = r.unlisted.p99Ns <= LOOKUP_P99_BUDGET_NS && r.listed.p99Ns <= LOOKUP_P99_BUDGET_NS && r.rssMB < RSS_BUDGET_MB;
      over ||= !ok;
      console.log(
        `blacklist ${r.size.toLocaleString('en')} cards (RSS ${r.rssMB} MB, start ${r.startupMs} ms, floor ${us(r.floorMedianNs)} us) ${ok ? 'ok' : 'OVER BUDGET'}`,
      );
      console.log(`  ${line('unlisted', r.unlisted)} | ${line('listed', r.listed)}`);
      console.log(`  table only: ${line('unlisted', r.tableOnlyUnlisted)} | ${line('listed', r.tableOnlyListed)}`);
    }
    const json = args.indexOf('--json');
    if (json >= 0) writeFileSync(args[json + 1], JSON.stringify({ bench: 'blacklist-lookup', results }, null, 2));
    if (over) process.exitCode = 1;
  }
}
