/**
 * A populated gateway for the bad-input proofs (a CityWorld with cards loaded, rides synced)
 * and a snapshot of everything that matters: ledger balances per account and the row count
 * of every table except the audit log (which records refused requests too, by design).
 */
import { expect } from 'vitest';
import { CITY_DEVICES, CityWorld, loadCard } from '../model/city-world.ts';

export async function badInputWorld(run: number): Promise<CityWorld> {
  const w = await CityWorld.start(run, CITY_DEVICES, 2);
  for (const [i, card] of w.cards.entries()) await loadCard(w, card, 5_000, `bad-input-${run}-${i}`);
  const [entry, exit] = w.devices;
  for (const card of w.cards) {
    w.clock.ms += 60_000;
    entry.device.tap(card.sim, w.clock.ms);
    card.sim.reset();
    exit.device.tap(card.sim, w.clock.ms + 30 * 60_000);
    card.sim.reset();
  }
  for (const slot of w.devices) expect((await w.syncClient(slot).drain()).status).toBe('drained');
  return w;
}

const UNSNAPSHOTTED = new Set(['audit_log', 'sqlite_sequence']);

export async function stateSnapshot(w: CityWorld): Promise<string> {
  const tables = (await w.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")).map(
    (t) => t.name,
  );
  const counts: Record<string, number> = {};
  for (const table of tables) {
    if (UNSNAPSHOTTED.has(table)) continue;
    counts[table] = Number((await w.all<{ n: number }>(`SELECT COUNT(*) AS n FROM "${table}"`))[0].n);
  }
  const ledger = await w.all<{ account: string; b: number }>('SELECT account, SUM(amount_fen) AS b FROM ledger_entries GROUP BY account ORDER BY account');
  const shadows = await w.all<{ card_no: string; b: number }>('SELECT card_no, shadow_balance_fen AS b FROM card_accounts ORDER BY card_no');
  const blacklist = await w.all('SELECT * FROM blacklist_current ORDER BY card_no');
  return JSON.stringify({ counts, ledger, shadows, blacklist });
}
