/**
 * A gateway process for the SIGKILL tests: buildGateway on a SQLite file with the test issuer
 * keys (the parent holds the same keys to personalise cards), listening on loopback. Prints
 * `listening <url>` once it accepts connections. Killed with SIGKILL by the parent.
 *   node --import tsx test/faults/support/gateway-child.ts <db path> <admin token>
 */
import { buildGateway } from '#gateway/app';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { makeIssuer } from '../../purse/fixtures.ts';

const [dbPath, adminToken] = process.argv.slice(2);
const store = new SqliteStore({ path: dbPath, clock: Date.now });
const app = await buildGateway({ store, keys: makeIssuer(), adminToken, policies: { lossExpiryIntervalMs: 0 } });
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no address');
process.stdout.write(`listening http://127.0.0.1:${address.port}\n`);
