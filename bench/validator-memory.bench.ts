/**
 * Memory (issue 7): a validator holding 10M blacklist entries stays under 200 MB RSS.
 *
 * A fresh child process (clean heap, nothing left from the build or other suites) opens the
 * device database exactly as the device does (openDeviceDb: bounded page cache, exclusive lock)
 * with the blacklist store's in-memory index built from the table, then answers a seeded probe
 * set (half listed, half unlisted cards) and reports its RSS (process.memoryUsage().rss) and
 * its peak RSS (getrusage maxRSS, which also catches the start-up scan's high-water mark).
 *
 * Floor: the same child's RSS before it opens the database (node, tsx and the modules loaded),
 * so the list's own cost shows as RSS minus floor whatever the runtime weighs this year.
 * Full mode: 10M entries; quick mode: 1M (the limit is not scaled). The list file is built once
 * per size and schema, cached under os.tmpdir() (bench/support/device-blacklist-file.ts).
 * Checksum: hits over the probe set = exactly the listed half.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BlacklistStore } from '#validator/storage/blacklist-store';
import { openDeviceDb } from '#validator/storage/device-db';
import { listedCard, unlistedCard } from './blacklist-lookup.bench.ts';
import type { BenchContext, SuiteResult } from './harness.ts';
import { cachedDeviceBlacklist } from './support/device-blacklist-file.ts';

export const RSS_LIMIT_MB = 200;
const MB = 1024 * 1024;

export interface MemoryProbe {
  size: number;
  probes: number;
  hits: number;
  floorRssMB: number;
  openRssMB: number;
  rssMB: number;
  peakRssMB: number;
  heapUsedMB: number;
  startupMs: number;
  lookupMedianNs: number;
  lookupP99Ns: number;
}

/** The child side: open, build the index, probe, measure. */
export function measureMemory(size: number, probes: number): MemoryProbe {
  const file = cachedDeviceBlacklist(size);
  globalThis.gc?.();
  const floorRssMB = process.memoryUsage().rss / MB;
  const t0 = performance.now();
  const db = openDeviceDb(file);
  const list = new BlacklistStore(db, { index: 'sync' });
  const startupMs = performance.now() - t0;
  const openRssMB = process.memoryUsage().rss / MB;
  let seed = 0x2545f491;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % size;
  };
  const cards: string[] = [];
  for (let i = 0; i < probes; i++) cards.push(i % 2 === 0 ? listedCard(next(), size) : unlistedCard(next(), size));
  const lat = new Float64Array(probes);
  let hits = 0;
  for (let i = 0; i < probes; i++) {
    const s = process.hrtime.bigint();
    const answer = list.lookup(cards[i]);
    lat[i] = Number(process.hrtime.bigint() - s);
    if (answer.listed) hits++;
  }
  const rssMB = process.memoryUsage().rss / MB;
  const heapUsedMB = process.memoryUsage().heapUsed / MB;
  // ru_maxrss is in kilobytes on Linux.
  const peakRssMB = (process.resourceUsage().maxRSS * 1024) / MB;
  db.close();
  lat.sort();
  return {
    size,
    probes,
    hits,
    floorRssMB,
    openRssMB,
    rssMB,
    peakRssMB,
    heapUsedMB,
    startupMs,
    lookupMedianNs: lat[Math.floor(probes / 2)],
    lookupP99Ns: lat[Math.floor(probes * 0.99)],
  };
}

function runChild(size: number, probes: number): MemoryProbe {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', self, '--child', String(size), String(probes)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (child.status !== 0) throw new Error(`memory child (${size}) failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string) as MemoryProbe;
}

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const size = ctx.pick(10_000_000, 1_000_000);
  const probes = ctx.pick(200_000, 20_000);
  const label = `${size / 1_000_000}M`;
  cachedDeviceBlacklist(size); // build (once) here, not in the measured child
  const r = runChild(size, probes);
  const round = (mb: number) => Math.round(mb * 10) / 10;
  ctx.metric(`${label}: RSS floor (child before opening the list)`, round(r.floorRssMB), 'MB');
  ctx.metric(`${label}: RSS after open + index build`, round(r.openRssMB), 'MB', { max: RSS_LIMIT_MB });
  ctx.metric(`${label}: RSS after ${probes.toLocaleString('en-US')} lookups`, round(r.rssMB), 'MB', { max: RSS_LIMIT_MB });
  ctx.metric(`${label}: peak RSS (maxRSS)`, round(r.peakRssMB), 'MB', { max: RSS_LIMIT_MB });
  ctx.metric(`${label}: RSS over the floor (the list's own cost)`, round(r.rssMB - r.floorRssMB), 'MB');
  ctx.metric(`${label}: JS heap used`, round(r.heapUsedMB), 'MB');
  ctx.metric(`${label}: start-up (open + index build)`, Math.round(r.startupMs), 'ms');
  ctx.report({
    name: `${label}: lookup in the memory-bounded process (index, table behind)`,
    samples: r.probes,
    medianUs: r.lookupMedianNs / 1000,
    p99Us: r.lookupP99Ns / 1000,
    opsPerSec: 1e9 / r.lookupMedianNs,
  });
  ctx.checksum(`${label}: listed cards found over the seeded probes`, r.hits, probes / 2);
  ctx.note(
    `RSS measured in a fresh child process; ${label} list cached at ${cachedDeviceBlacklist(size)}; quick mode uses 1M under the same 200 MB limit (loosened like every quick budget).`,
  );
  return ctx.result();
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--child');
  if (at >= 0) console.log(JSON.stringify(measureMemory(Number(args[at + 1]), Number(args[at + 2]))));
}
