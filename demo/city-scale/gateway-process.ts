/**
 * The gateway process of the city-scale run: a real gateway (buildGateway: the same routes,
 * auth, sync ingest, ledger and reports as `npm start`) on SQLite or PostgreSQL, listening on
 * loopback, in its own Node process so it has a core of its own and its memory is measured on
 * its own. The parent (demo/city-scale/scale-run.ts) talks to it over HTTP like any client and
 * over the IPC channel for what has no route: bulk provisioning of the cards (outside the timed
 * stages), its peak memory and its database size.
 *
 * Configuration: JSON in env CITY_SCALE_GATEWAY (GatewayProcessConfig).
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { buildGateway } from '#gateway/app';
import { ACCOUNTS } from '#gateway/services/ledger';
import { createStore } from '#gateway/store/create-store';
import type { Store, Tx } from '#gateway/store/store-port';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { cardNoOf, openingBalanceFen, SCALE_GATEWAY_NOW_MS, scaleMasterKeys } from './scale-config.ts';

export interface GatewayProcessConfig {
  seed: number;
  store: 'sqlite' | 'postgres';
  sqlitePath: string;
  databaseUrl?: string;
  databaseSchema?: string;
  /** Page cache of the gateway's SQLite connection, MiB (0: SQLite's default). */
  sqliteCacheMiB: number;
  subwayCsvPath: string;
  adminToken: string;
}

export type ParentMessage = { type: 'provision'; cards: number } | { type: 'stats' } | { type: 'checkpoint' } | { type: 'close' };

export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'provisioned'; cards: number; openingTotalFen: number; ms: number }
  | { type: 'stats'; rssMb: number; maxRssMb: number; heapUsedMb: number; dbBytes: number }
  | { type: 'checkpointed'; ms: number; walBytesBefore: number }
  | { type: 'closed' }
  | { type: 'error'; message: string };

const ROWS_PER_STATEMENT = 400;
const ROWS_PER_TRANSACTION = 100_000;

function valuesList(rows: number, columns: number): string {
  const row = `(${new Array(columns).fill('?').join(', ')})`;
  return new Array(rows).fill(row).join(', ');
}

/**
 * Every card as the issuer would have it after a normal life: a card row, its account with the
 * opening balance as shadow balance, and one ledger posting (cash in, card liability out) for the
 * sum of all opening balances. Multi-row inserts, a transaction per 100,000 cards.
 */
async function provision(store: Store, cards: number): Promise<{ openingTotalFen: number }> {
  let openingTotalFen = 0;
  const now = SCALE_GATEWAY_NOW_MS - 86_400_000;
  for (let from = 0; from < cards; from += ROWS_PER_TRANSACTION) {
    const to = Math.min(cards, from + ROWS_PER_TRANSACTION);
    await store.transaction(async (tx: Tx) => {
      for (let start = from; start < to; start += ROWS_PER_STATEMENT) {
        const end = Math.min(to, start + ROWS_PER_STATEMENT);
        const cardRows: (string | number)[] = [];
        const accountRows: (string | number)[] = [];
        for (let i = start; i < end; i++) {
          const cardNo = cardNoOf(i);
          const fen = openingBalanceFen(i);
          openingTotalFen += fen;
          cardRows.push(cardNo, '1001', 3, 'adult', '3des', 1, 20311231, 0, 1, 0, `scale rider ${i + 1}`, 'active', 'city-scale', now, now);
          accountRows.push(cardNo, fen, now);
        }
        await tx.run(
          `INSERT INTO cards (card_no, issuer_code, generation, profile, algorithm, key_version, expiry_date, overdraft_limit_fen,
             transit_opened, suburban_opened, holder_name, status, issued_by, issued_ms, updated_ms) VALUES ${valuesList(end - start, 15)}`,
          cardRows,
        );
        await tx.run(`INSERT INTO card_accounts (card_no, shadow_balance_fen, updated_ms) VALUES ${valuesList(end - start, 3)}`, accountRows);
      }
    });
  }
  await store.transaction(async (tx) => {
    const posting = await tx.get<{ id: number | bigint }>('INSERT INTO ledger_postings (kind, reference, at_ms) VALUES (?, ?, ?) RETURNING id', [
      'opening-balances',
      `city-scale ${cards} cards`,
      now,
    ]);
    if (posting === undefined) throw new Error('opening posting not written');
    await tx.run('INSERT INTO ledger_entries (posting_id, account, amount_fen) VALUES (?, ?, ?), (?, ?, ?)', [
      posting.id,
      'payment:cash',
      openingTotalFen,
      posting.id,
      ACCOUNTS.cardPurse,
      -openingTotalFen,
    ]);
  });
  return { openingTotalFen };
}

async function databaseBytes(config: GatewayProcessConfig, store: Store): Promise<number> {
  if (config.store === 'sqlite') {
    let bytes = 0;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        bytes += statSync(`${config.sqlitePath}${suffix}`).size;
      } catch {
        // not there
      }
    }
    return bytes;
  }
  const row = await store.transaction((tx) =>
    tx.get<{ bytes: number | string | bigint }>(
      `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')`,
    ),
  );
  return Number(row?.bytes ?? 0);
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.CITY_SCALE_GATEWAY ?? '{}') as GatewayProcessConfig;
  // Refund payouts and loss expiry run on timers at wall-clock moments: off for a measured run.
  process.env.GATEWAY_JOBS_INTERVAL_MS = '0';
  const store = await createStore({
    sqlitePath: config.sqlitePath,
    databaseUrl: config.store === 'postgres' ? config.databaseUrl : undefined,
    databaseSchema: config.databaseSchema,
    clock: () => SCALE_GATEWAY_NOW_MS,
  });
  const keys = IssuerKeyService.fromKeySets(new Map([[1, scaleMasterKeys(config.seed)]]), 1);
  const app = await buildGateway({
    store,
    keys,
    clock: () => SCALE_GATEWAY_NOW_MS,
    adminToken: config.adminToken,
    subwayNetworkCsvPath: config.subwayCsvPath,
    policies: { lossExpiryIntervalMs: 0 },
  });
  if (config.store === 'sqlite' && config.sqliteCacheMiB > 0) {
    (store as unknown as { db: { pragma(sql: string): unknown } }).db.pragma(`cache_size = -${config.sqliteCacheMiB * 1024}`);
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('gateway did not listen on a TCP port');
  process.on('message', (message: ParentMessage) => {
    void (async () => {
      try {
        if (message.type === 'provision') {
          const started = performance.now();
          const { openingTotalFen } = await provision(store, message.cards);
          send({ type: 'provisioned', cards: message.cards, openingTotalFen, ms: performance.now() - started });
        } else if (message.type === 'stats') {
          const memory = process.memoryUsage();
          send({
            type: 'stats',
            rssMb: memory.rss / 2 ** 20,
            maxRssMb: process.resourceUsage().maxRSS / 1024,
            heapUsedMb: memory.heapUsed / 2 ** 20,
            dbBytes: await databaseBytes(config, store),
          });
        } else if (message.type === 'checkpoint') {
          // A full checkpoint that empties the WAL, on a connection of its own: it waits for the
          // writer's current transaction and holds the next one back while it copies.
          const started = performance.now();
          let walBytesBefore = 0;
          if (config.store === 'sqlite') {
            try {
              walBytesBefore = statSync(`${config.sqlitePath}-wal`).size;
            } catch {
              // no WAL
            }
            const db = new Database(config.sqlitePath);
            try {
              db.pragma('busy_timeout = 60000');
              db.pragma('wal_checkpoint(TRUNCATE)');
            } finally {
              db.close();
            }
          }
          send({ type: 'checkpointed', ms: performance.now() - started, walBytesBefore });
        } else if (message.type === 'close') {
          await app.close();
          await store.close();
          send({ type: 'closed' });
          process.disconnect?.();
        }
      } catch (error) {
        send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    })();
  });
  // The parent went away (killed, crashed): do not outlive it.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: address.port });
}

main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
  process.disconnect?.();
});
