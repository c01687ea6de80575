/** Child process for the concurrent-start test: migrates the SQLite file given as argv[2]. */
import { SqliteStore } from '#gateway/store/sqlite-store';

const store = new SqliteStore({ path: process.argv[2] });
await store.migrate();
await store.close();
process.stdout.write('migrated\n');
