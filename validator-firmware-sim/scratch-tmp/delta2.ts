import { copyFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { cachedBlacklistFile, unlistedCard } from '../../bench/blacklist-lookup.bench.ts';
const base = 1000000, adds = 100000;
const file = '/tmp/blx/delta2.db'; for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
copyFileSync(cachedBlacklistFile(base), file);
const db = new Database(file); db.pragma('locking_mode=EXCLUSIVE'); db.pragma('journal_mode=WAL'); db.pragma('synchronous=NORMAL'); db.pragma('wal_autocheckpoint=0'); db.pragma('cache_size=-16384');
const ins = db.prepare('INSERT INTO blacklist (card, reason, version) VALUES (?, 2, 1) ON CONFLICT (card) DO NOTHING');
const step = base / adds;
const rows: string[] = [];
for (let b = 0; b < 50; b++) {
  const r0 = process.resourceUsage(); const t0 = performance.now();
  db.transaction(() => { for (let i = b * 2000; i < (b + 1) * 2000; i++) ins.run(BigInt(unlistedCard(i * step, base))); })();
  const ms = performance.now() - t0; const r1 = process.resourceUsage();
  rows.push(`${ms.toFixed(1)}ms cpu=${((r1.userCPUTime + r1.systemCPUTime - r0.userCPUTime - r0.systemCPUTime) / 1000).toFixed(1)} vol=${r1.voluntaryContextSwitches - r0.voluntaryContextSwitches} invol=${r1.involuntaryContextSwitches - r0.involuntaryContextSwitches} fsR=${r1.fsRead - r0.fsRead} fsW=${r1.fsWrite - r0.fsWrite}`);
}
console.log(rows.filter((r) => parseFloat(r) > 8).join('\n') || 'none > 8ms'); console.log(rows.slice(0, 5).join('\n'));
