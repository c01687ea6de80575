import { mkdtempSync, readFileSync, statSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bytesToHex, cardSerialFromCardNo, diversifyKey, purchaseTacData, runPurchase, validateCardImage } from '#core';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { KeyFileError, issuerKeyServiceFromFile, loadOrCreateDevKeyFile, parseKeyFile, rotateDevKeyFile } from '#issuer/key-file';
import { ALGORITHMS, TERMINAL_ID, TEST_CARD_NO, makeCard, makeIssuer, makePsam, testKeySets } from './fixtures.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'issuer-keys-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

describe.each(ALGORITHMS)('issuer key service (%s)', (algorithm) => {
  it('personalises a fresh card: keys diversified by the BCD card number, zero balance, empty records', () => {
    const issuer = makeIssuer();
    const image = makeCard(issuer, { algorithm }).image();
    validateCardImage(image);
    expect(image).toMatchObject({ balanceFen: 0, overdraftUsedFen: 0, offlineAtc: 0, onlineAtc: 0, keyVersion: 1, algorithm, locked: false, log: [] });
    const master = testKeySets().get(1)!;
    expect(bytesToHex(image.keys.tac)).toBe(bytesToHex(diversifyKey(master.tac, cardSerialFromCardNo(TEST_CARD_NO), algorithm)));
    expect(bytesToHex(image.keys.purchase)).not.toBe(bytesToHex(image.keys.load));
  });

  it('rotation: new cards get the current version; cards of the old version still verify', () => {
    const v1 = makeIssuer(1);
    const oldCard = makeCard(v1, { algorithm, effectiveBalanceFen: 1_000 });
    const v2 = makeIssuer(2);
    const newCard = makeCard(v2, { algorithm, cardNo: '1000754300000023', effectiveBalanceFen: 1_000 });
    expect(newCard.image().keyVersion).toBe(2);
    const psam = makePsam(v2); // provisioned with every version
    for (const [card, cardNo, version] of [
      [oldCard, TEST_CARD_NO, 1],
      [newCard, '1000754300000023', 2],
    ] as const) {
      const outcome = runPurchase(card, psam, {
        cardSerial: cardSerialFromCardNo(cardNo),
        keyVersion: version,
        algorithm,
        amountFen: 50,
        transactionType: 0x06,
        cappRecord: null,
        date: 20260115,
        time: 73045,
      });
      if (outcome.status !== 'debited') throw new Error(`expected a debit, got ${outcome.status}`);
      const data = purchaseTacData({
        amountFen: 50,
        transactionType: 0x06,
        terminalId: bytesToHex(TERMINAL_ID),
        tsn: outcome.pending.tsn,
        date: 20260115,
        time: 73045,
      });
      expect(v2.verifyTac({ cardNo, keyVersion: version, algorithm, data, tac: outcome.tac })).toBe(true);
      expect(v2.verifyTac({ cardNo, keyVersion: version === 1 ? 2 : 1, algorithm, data, tac: outcome.tac })).toBe(false);
      expect(v2.verifyTac({ cardNo, keyVersion: 7, algorithm, data, tac: outcome.tac })).toBe(false);
    }
  });
});

describe('issuer key service: construction and secrecy', () => {
  it('requires the current version to exist and keys to be 16 bytes', () => {
    expect(() => IssuerKeyService.fromKeySets(testKeySets(), 3)).toThrow(/current key version 3/);
    expect(() => IssuerKeyService.fromKeySets(new Map())).toThrow(/at least one/);
    const bad = testKeySets();
    bad.get(1)!.tac = new Uint8Array(15);
    expect(() => IssuerKeyService.fromKeySets(bad)).toThrow(/tac master key must be 16 bytes/);
    expect(IssuerKeyService.fromKeySets(testKeySets()).currentKeyVersion).toBe(2);
  });

  it('shows no key material in JSON or inspect', () => {
    const issuer = makeIssuer();
    const shown = `${JSON.stringify(issuer)}\n${inspect(issuer, { showHidden: true, depth: 10 })}`.toLowerCase();
    for (const set of testKeySets().values()) {
      for (const key of Object.values(set)) expect(shown).not.toContain(Buffer.from(key).toString('hex'));
    }
  });
});

describe('development key file', () => {
  it('is generated on first run with mode 0600, reloaded unchanged, never printed', () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m));
    const stdout = vi.spyOn(process.stdout, 'write');
    const path = join(tempDir(), 'nested', 'issuer-keys.json');
    const first = loadOrCreateDevKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first.currentKeyVersion).toBe(1);
    const again = loadOrCreateDevKeyFile(path);
    expect(bytesToHex(again.keySets.get(1)!.tac)).toBe(bytesToHex(first.keySets.get(1)!.tac));
    expect(bytesToHex(first.keySets.get(1)!.tac)).not.toBe(bytesToHex(first.keySets.get(1)!.load));
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    expect(stdout).not.toHaveBeenCalled();
    expect(readFileSync(path, 'utf8')).toContain(bytesToHex(first.keySets.get(1)!.tac));
  });

  it('rotation adds a version and makes it current; old versions stay', () => {
    const path = join(tempDir(), 'keys.json');
    const first = loadOrCreateDevKeyFile(path);
    const rotated = rotateDevKeyFile(path);
    expect(rotated.currentKeyVersion).toBe(2);
    expect([...rotated.keySets.keys()]).toEqual([1, 2]);
    expect(bytesToHex(rotated.keySets.get(1)!.purchase)).toBe(bytesToHex(first.keySets.get(1)!.purchase));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(issuerKeyServiceFromFile(path).currentKeyVersion).toBe(2);
  });

  it('refuses a key file others can read, and a malformed one, without echoing keys', () => {
    const path = join(tempDir(), 'keys.json');
    loadOrCreateDevKeyFile(path);
    chmodSync(path, 0o644);
    expect(() => loadOrCreateDevKeyFile(path)).toThrow(/chmod 600/);
    expect(() => parseKeyFile('{')).toThrow(KeyFileError);
    expect(() => parseKeyFile(JSON.stringify({ format: 'transit-issuer-keys/1', currentKeyVersion: 1, versions: { 1: { purchase: 'zz' } } }))).toThrow(
      /key version 1: purchase must be 32 hex digits/,
    );
    expect(() => parseKeyFile(JSON.stringify({ format: 'other' }))).toThrow(/format/);
  });

  it('two processes starting at once end up with one key set (exclusive create)', () => {
    const path = join(tempDir(), 'keys.json');
    const a = loadOrCreateDevKeyFile(path);
    const b = loadOrCreateDevKeyFile(path);
    expect(bytesToHex(b.keySets.get(1)!.issuer)).toBe(bytesToHex(a.keySets.get(1)!.issuer));
  });
});
