/** Device configuration (key -> JSON value): kind, place, gateway URL, credential, PSAM keys reference. */
import type { DeviceDatabase } from './device-db.ts';

export class ConfigStore {
  constructor(private readonly db: DeviceDatabase) {}

  get<T>(key: string): T | undefined {
    const value = this.db.prepare('SELECT value FROM config WHERE key = ?').pluck().get(key) as string | undefined;
    return value === undefined ? undefined : (JSON.parse(value) as T);
  }

  require<T>(key: string): T {
    const value = this.get<T>(key);
    if (value === undefined) throw new Error(`device config "${key}" is not set: run \`validator init\``);
    return value;
  }

  set(key: string, value: unknown): void {
    this.db.prepare('INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }
}
