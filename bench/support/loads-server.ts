/**
 * The server side of bench/gateway-loads.bench.ts, run as a child process so the HTTP server
 * has its own event loop (and core) while autocannon drives it from the parent, as clients on
 * other machines would.
 *
 *   tsx bench/support/loads-server.ts <gateway.db> [--not-durable]
 *
 * Starts the real gateway (buildGateway on a SqliteStore file: WAL, synchronous=FULL, one
 * durable commit per request) and a Fastify hello-world (the floor), both on 127.0.0.1:0,
 * prints one JSON line { gateway, hello } with their base URLs, and exits when its stdin
 * closes (the parent ended) or on SIGTERM.
 *
 * --not-durable switches the store's connection to synchronous=OFF after opening: a diagnostic
 * only (what the same requests cost without an fsync per commit, i.e. the ceiling a group
 * commit could approach); never how the gateway runs.
 */
import Fastify from 'fastify';
import { buildGateway } from '#gateway/app';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { makeIssuer } from '#test/purse/fixtures';

async function main(): Promise<void> {
  const dbPath = process.argv[2];
  if (dbPath === undefined) throw new Error('usage: loads-server.ts <gateway.db>');
  const store = new SqliteStore({ path: dbPath });
  if (process.argv.includes('--not-durable')) store.db.pragma('synchronous = OFF');
  const gateway = await buildGateway({ store, keys: makeIssuer(), logger: false, policies: { lossExpiryIntervalMs: 0 } });
  const hello = Fastify({ logger: false });
  hello.get('/', async () => ({ hello: 'world' }));
  const [gatewayUrl, helloUrl] = await Promise.all([gateway.listen({ port: 0, host: '127.0.0.1' }), hello.listen({ port: 0, host: '127.0.0.1' })]);
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await Promise.allSettled([gateway.close(), hello.close()]);
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.stdin.on('end', () => void shutdown());
  process.stdin.resume();
  process.stdout.write(
    `${JSON.stringify({ gateway: gatewayUrl, hello: helloUrl, pid: process.pid, synchronous: store.db.pragma('synchronous', { simple: true }) })}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
