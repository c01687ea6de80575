/**
 * Child process for the group-commit crash test: runs logical write transactions on the SQLite
 * file argv[2] as fast as it can, many in flight at once (so they form groups), and prints
 * `ack <n>` for each one whose promise resolved. The parent SIGKILLs it mid-stream and checks that
 * every acknowledged transaction is in the file, whole.
 */
import { SqliteStore } from '#gateway/store/sqlite-store';

const store = new SqliteStore({
  path: process.argv[2],
  migrations: [{ id: 1, name: 'crash', sqlite: 'CREATE TABLE items (n BIGINT NOT NULL, part BIGINT NOT NULL, PRIMARY KEY (n, part))', postgres: 'SELECT 1' }],
});
await store.migrate();
process.stdout.write('ready\n');
let next = 0;
async function writer(): Promise<void> {
  for (;;) {
    const n = next++;
    await store.transaction(async (tx) => {
      // Two rows per logical transaction: after a crash both or neither may exist.
      await tx.run('INSERT INTO items (n, part) VALUES (?, 1)', [n]);
      await tx.run('INSERT INTO items (n, part) VALUES (?, 2)', [n]);
    });
    // Pipes are synchronous on Linux: the line is out before the next transaction starts.
    process.stdout.write(`ack ${n}\n`);
  }
}
await Promise.all(Array.from({ length: 40 }, writer));
