/**
 * The secrets folder (issue 14.4): the admin token file, the issuer key file and the private
 * keys of the device CA and of the device listener live in one folder (GATEWAY_SECRETS_DIR,
 * default ./var/secrets), apart from the database. The folder is mode 0700 and every file in it
 * 0600; the gateway refuses to start (and the gateway CLI to run) when the folder is open to group
 * or others, or any secret file present is readable by them. Files from an earlier layout (next
 * to the database or in the PKI folder) are not picked up silently: the check names them and the
 * command that moves them.
 *
 * The holder key (`holder-id-key`, issue 16): 32 random bytes (hex) keying the HMAC by which
 * holders are found from their ID number (services/holders.ts). Generated on the first start
 * (mode 0600) and never in the database; every instance on one database must share it, and it
 * cannot be replaced without losing every holder's lookup (the ID numbers are not kept to re-key).
 *
 * `StartupFiles` records every file and folder a start creates, so a start that fails after the
 * configuration was accepted (port in use, database unreachable) removes them again.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { newToken } from './auth/tokens.ts';
import type { GatewayConfig } from './config.ts';
import { CA_KEY_FILE, SERVER_KEY_FILE } from './pki/device-ca.ts';

/** A secret file or folder that others may read, or a secret left at an earlier location. */
export class SecretsError extends Error {
  override readonly name = 'SecretsError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

function modeOf(path: string): number | null {
  try {
    // Followed through symbolic links (mounted secrets): the target's mode is what counts.
    return statSync(path).mode;
  } catch {
    return null;
  }
}

/** The problems of the secrets folder and of every secret file present; empty when all is well. */
export function secretsProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const checkFile = (path: string): void => {
    const mode = modeOf(path);
    if (mode === null) return;
    if ((mode & 0o077) !== 0) problems.push(`${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`);
  };
  const dirMode = modeOf(config.secretsDir);
  if (dirMode !== null) {
    if ((dirMode & 0o077) !== 0) {
      problems.push(
        `secrets folder ${config.secretsDir} is open to group or others (mode ${(dirMode & 0o777).toString(8)}): run chmod 700 ${config.secretsDir}`,
      );
    }
    if (statSync(config.secretsDir).isDirectory()) {
      for (const entry of readdirSync(config.secretsDir, { withFileTypes: true })) {
        if (!entry.isDirectory()) checkFile(join(config.secretsDir, entry.name));
      }
    }
  }
  if (dirname(config.keyFile) !== config.secretsDir) checkFile(config.keyFile);

  // Earlier layouts kept these next to the database or in the PKI folder.
  const moved = (old: string, now: string, what: string): void => {
    if (old === now || !existsSync(old)) return;
    problems.push(
      existsSync(now)
        ? `${what} is in both ${old} and ${now}: keep the one in the secrets folder and remove ${old}`
        : `${what} is at ${old}, outside the secrets folder: move it with mv ${old} ${now}`,
    );
  };
  if (!config.databaseUrl) {
    const dataDir = dirname(config.sqlitePath);
    moved(join(dataDir, 'admin-token'), config.adminTokenFile, 'the admin token file');
    if (!config.keyFileExplicit) moved(join(dataDir, 'issuer-keys.json'), config.keyFile, 'the issuer key file');
  }
  moved(join(config.pki.dir, CA_KEY_FILE), join(config.pki.keyDir, CA_KEY_FILE), 'the device CA private key');
  moved(join(config.pki.dir, SERVER_KEY_FILE), join(config.pki.keyDir, SERVER_KEY_FILE), 'the device listener private key');
  return problems;
}

export function assertSecretsSafe(config: GatewayConfig): void {
  const problems = secretsProblems(config);
  if (problems.length > 0) throw new SecretsError(problems);
}

/** Files and folders created by one start, removed again if the start fails. */
export class StartupFiles {
  readonly #files: string[] = [];
  readonly #dirs: string[] = [];

  /** mkdir -p with `mode`, remembering every folder it creates. */
  mkdir(path: string, mode = 0o700): void {
    const missing: string[] = [];
    for (let dir = path; !existsSync(dir); dir = dirname(dir)) {
      missing.push(dir);
      if (dirname(dir) === dir) break;
    }
    if (missing.length === 0) return;
    mkdirSync(path, { recursive: true, mode });
    chmodSync(path, mode);
    // Outermost first, so undo removes the whole new branch.
    this.#dirs.push(...missing.reverse());
  }

  /** Remembers `path` when it does not exist yet (something is about to create it). */
  willCreate(...paths: string[]): void {
    for (const path of paths) if (!existsSync(path)) this.#files.push(path);
  }

  /** Removes what this start created: its files, then its folders (newest first). */
  undo(): void {
    for (const file of this.#files.reverse()) rmSync(file, { force: true });
    for (const dir of this.#dirs.reverse()) rmSync(dir, { recursive: true, force: true });
    this.#files.length = 0;
    this.#dirs.length = 0;
  }
}

/** Reads an admin token file: the token, or an error naming the file (the token is never shown). */
export function readAdminTokenFile(path: string): string | null {
  if (!existsSync(path)) return null;
  const token = readFileSync(path, 'utf8').trim();
  if (!/^[A-Za-z0-9._~+/=-]{16,256}$/.test(token)) {
    throw new SecretsError([`${path} does not hold a token (16..256 of [A-Za-z0-9._~+/=-]); fix it, or remove it to have a new one generated`]);
  }
  return token;
}

/** The admin token from the configuration, else the one in the token file, else a new one written there (mode 0600). */
export function adminTokenFor(config: GatewayConfig, files: StartupFiles): { token: string; source: 'env' | 'file' | 'generated' } {
  if (config.adminToken) return { token: config.adminToken, source: 'env' };
  const existing = readAdminTokenFile(config.adminTokenFile);
  if (existing !== null) return { token: existing, source: 'file' };
  files.mkdir(dirname(config.adminTokenFile));
  files.willCreate(config.adminTokenFile);
  const token = newToken();
  writeFileSync(config.adminTokenFile, `${token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(config.adminTokenFile, 0o600);
  return { token, source: 'generated' };
}

/** The holder key file's name in the secrets folder. */
export const HOLDER_KEY_FILE = 'holder-id-key';

/** Reads the holder key file: the 32-byte key, null when absent, or an error naming the file (never the key). */
export function readHolderKeyFile(path: string): Buffer | null {
  if (!existsSync(path)) return null;
  const text = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new SecretsError([`${path} does not hold a holder key (64 lower-case hex digits); restore it from the backup of the secrets folder`]);
  }
  return Buffer.from(text, 'hex');
}

/** The holder key from its file, else a new one written there (mode 0600); a concurrent first start reads the winner's. */
export function holderIdKeyFor(config: GatewayConfig, files: StartupFiles): { key: Buffer; source: 'file' | 'generated' } {
  const existing = readHolderKeyFile(config.holderKeyFile);
  if (existing !== null) return { key: existing, source: 'file' };
  files.mkdir(dirname(config.holderKeyFile));
  const key = randomBytes(32);
  files.willCreate(config.holderKeyFile);
  try {
    writeFileSync(config.holderKeyFile, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: readHolderKeyFile(config.holderKeyFile)!, source: 'file' };
  }
  chmodSync(config.holderKeyFile, 0o600);
  return { key, source: 'generated' };
}
