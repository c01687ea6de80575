/**
 * Master keys from configuration: a JSON key file (hex keys per version). For development the
 * gateway generates one on first run (node:crypto randomBytes), written with mode 0600 and
 * never printed. A key file that others can read is refused: fix its permissions (chmod 600).
 *
 * Format: { "format": "transit-issuer-keys/1", "currentKeyVersion": 1,
 *           "versions": { "1": { "purchase": "<32 hex>", "load": …, "tac": …, "block": …, "issuer": … } } }
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IssuerKeyService, MASTER_KEY_NAMES, type MasterKeySet } from './issuer-key-service.ts';

export const KEY_FILE_FORMAT = 'transit-issuer-keys/1';

export interface IssuerKeyFile {
  currentKeyVersion: number;
  keySets: Map<number, MasterKeySet>;
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

function fromHex(hex: unknown, what: string): Uint8Array {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{32}$/.test(hex)) throw new KeyFileError(`${what} must be 32 hex digits`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function generateKeySet(): MasterKeySet {
  return {
    purchase: new Uint8Array(randomBytes(16)),
    load: new Uint8Array(randomBytes(16)),
    tac: new Uint8Array(randomBytes(16)),
    block: new Uint8Array(randomBytes(16)),
    issuer: new Uint8Array(randomBytes(16)),
  };
}

/** Parses key file text; every error names the field, never a key value. */
export function parseKeyFile(text: string): IssuerKeyFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeyFileError('key file is not valid JSON');
  }
  const doc = json as { format?: unknown; currentKeyVersion?: unknown; versions?: unknown };
  if (doc === null || typeof doc !== 'object' || doc.format !== KEY_FILE_FORMAT) throw new KeyFileError(`key file format must be ${KEY_FILE_FORMAT}`);
  if (doc.versions === null || typeof doc.versions !== 'object') throw new KeyFileError('key file has no versions');
  const keySets = new Map<number, MasterKeySet>();
  for (const [name, value] of Object.entries(doc.versions as Record<string, unknown>)) {
    const version = Number(name);
    if (!/^[0-9]{1,3}$/.test(name) || version > 0xff) throw new KeyFileError(`key version "${name}" must be 0..255`);
    const entry = value as Record<string, unknown>;
    if (entry === null || typeof entry !== 'object') throw new KeyFileError(`key version ${version} must be an object`);
    const set = {} as MasterKeySet;
    for (const key of MASTER_KEY_NAMES) set[key] = fromHex(entry[key], `key version ${version}: ${key}`);
    keySets.set(version, set);
  }
  const current = doc.currentKeyVersion;
  if (typeof current !== 'number' || !keySets.has(current)) throw new KeyFileError('currentKeyVersion must name a version in the file');
  return { currentKeyVersion: current, keySets };
}

export function serializeKeyFile(file: IssuerKeyFile): string {
  const versions: Record<string, Record<string, string>> = {};
  for (const [version, set] of [...file.keySets].sort((a, b) => a[0] - b[0])) {
    const entry: Record<string, string> = {};
    for (const key of MASTER_KEY_NAMES) entry[key] = Buffer.from(set[key]).toString('hex').toUpperCase();
    versions[String(version)] = entry;
  }
  return `${JSON.stringify({ format: KEY_FILE_FORMAT, currentKeyVersion: file.currentKeyVersion, versions }, null, 2)}\n`;
}

/**
 * Writes atomically with mode 0600: a temp file, then rename (replace) or hard link (create only,
 * so two processes starting at once cannot each keep different keys: the loser reads the winner's).
 */
function writeKeyFile(path: string, file: IssuerKeyFile, mode: 'create' | 'replace'): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = join(dirname(path), `.${process.pid}-${randomBytes(6).toString('hex')}.keys.tmp`);
  writeFileSync(temp, serializeKeyFile(file), { mode: 0o600, flag: 'wx' });
  chmodSync(temp, 0o600); // a umask cannot widen it, but make the intent explicit
  if (mode === 'replace') {
    renameSync(temp, path);
    return;
  }
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temp);
  }
}

/** Reads a key file, refusing one that group or others can read or write. */
export function readKeyFile(path: string): IssuerKeyFile {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new KeyFileError(`key file ${path} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600)`);
  }
  return parseKeyFile(readFileSync(path, 'utf8'));
}

/**
 * Loads the key file, or on first run generates a development key set (version 1) and writes it
 * with mode 0600. `initialVersions` (default 1) creates that many versions 1..n on first run,
 * the highest current (handy to test rotation). Never logs.
 */
export function loadOrCreateDevKeyFile(path: string, options: { initialVersions?: number } = {}): IssuerKeyFile {
  if (existsSync(path)) return readKeyFile(path);
  const count = options.initialVersions ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 255) throw new RangeError('initialVersions must be 1..255');
  const keySets = new Map<number, MasterKeySet>();
  for (let v = 1; v <= count; v++) keySets.set(v, generateKeySet());
  const file: IssuerKeyFile = { currentKeyVersion: count, keySets };
  writeKeyFile(path, file, 'create');
  return readKeyFile(path);
}

/** Rotation: adds a freshly generated version (highest + 1) and makes it current; old versions stay. */
export function rotateDevKeyFile(path: string): IssuerKeyFile {
  const file = readKeyFile(path);
  const next = Math.max(...file.keySets.keys()) + 1;
  if (next > 0xff) throw new KeyFileError('no key version left (255 is the last)');
  file.keySets.set(next, generateKeySet());
  file.currentKeyVersion = next;
  writeKeyFile(path, file, 'replace');
  return readKeyFile(path);
}

/** The issuer key service for a key file (created on first run in development). */
export function issuerKeyServiceFromFile(path: string): IssuerKeyService {
  const file = loadOrCreateDevKeyFile(path);
  return IssuerKeyService.fromKeySets(file.keySets, file.currentKeyVersion);
}
