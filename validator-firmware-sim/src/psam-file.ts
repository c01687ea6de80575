/**
 * The software PSAM's personalisation, kept in its own file beside the device database (mode
 * 0600), never in the database itself: keys stay in their box (ARCHITECTURE habit 7).
 *
 * In production this step is PSAM personalisation in a secure room: the issuer loads the
 * purchase and block master keys into the PSAM chip and the validator never sees them. The
 * simulator gets them at `validator init` from the gateway's development key file through
 * IssuerKeyService.psamKeyMaterial() (purchase + block keys only: no load or TAC key, so a
 * validator can neither create money nor forge a card's proof of debit).
 */
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { SoftwarePsam } from './psam.ts';

export const PSAM_FILE_FORMAT = 'transit-psam/1';

export interface PsamKeys {
  purchaseMasterKeys: Map<number, Uint8Array>;
  blockMasterKeys: Map<number, Uint8Array>;
}

export function psamFilePath(dbPath: string): string {
  return `${dbPath}.psam.json`;
}

export function writePsamFile(path: string, terminalIdHex: string, keys: PsamKeys): void {
  const versions: Record<string, { purchase: string; block: string }> = {};
  for (const [version, purchase] of keys.purchaseMasterKeys) {
    const block = keys.blockMasterKeys.get(version);
    if (block === undefined) throw new Error(`key version ${version} has no block key`);
    versions[String(version)] = { purchase: Buffer.from(purchase).toString('hex'), block: Buffer.from(block).toString('hex') };
  }
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ format: PSAM_FILE_FORMAT, terminalId: terminalIdHex, versions }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function readPsamFile(path: string): { terminalIdHex: string; keys: PsamKeys } {
  const mode = statSync(path).mode & 0o077;
  if (mode !== 0) throw new Error(`${path} is readable by others: chmod 600 it`);
  const doc = JSON.parse(readFileSync(path, 'utf8')) as {
    format?: string;
    terminalId?: string;
    versions?: Record<string, { purchase: string; block: string }>;
  };
  if (doc.format !== PSAM_FILE_FORMAT || typeof doc.terminalId !== 'string' || !/^[0-9A-Fa-f]{12}$/.test(doc.terminalId) || doc.versions === undefined) {
    throw new Error(`${path} is not a ${PSAM_FILE_FORMAT} file`);
  }
  const purchaseMasterKeys = new Map<number, Uint8Array>();
  const blockMasterKeys = new Map<number, Uint8Array>();
  for (const [name, entry] of Object.entries(doc.versions)) {
    const version = Number(name);
    const hex = /^[0-9A-Fa-f]{32}$/;
    if (!Number.isInteger(version) || !hex.test(entry.purchase) || !hex.test(entry.block)) throw new Error(`${path}: key version ${name} is malformed`);
    purchaseMasterKeys.set(version, new Uint8Array(Buffer.from(entry.purchase, 'hex')));
    blockMasterKeys.set(version, new Uint8Array(Buffer.from(entry.block, 'hex')));
  }
  return { terminalIdHex: doc.terminalId.toUpperCase(), keys: { purchaseMasterKeys, blockMasterKeys } };
}

export function makePsam(terminalIdHex: string, keys: PsamKeys, tsnStart: number): SoftwarePsam {
  return new SoftwarePsam({ terminalId: new Uint8Array(Buffer.from(terminalIdHex, 'hex')), tsnStart, ...keys });
}
