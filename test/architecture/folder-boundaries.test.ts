import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IssuerKeysPort } from '#gateway/keys/issuer-keys-port';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { testKeySets } from '../purse/fixtures.ts';

/**
 * Issue 14.6: the validator is a device tool and does not depend on the back office; the
 * issuer's key tooling (issuer/) is used by both and depends on neither.
 */
const ROOT = join(import.meta.dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules') return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
}

/** Every module specifier of a file: static and dynamic imports, re-exports, require calls. */
function importSpecifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]/g, /\bimport\s+['"]([^'"]+)['"]/g, /\brequire\s*\(\s*['"]([^'"]+)['"]/g];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1]);
  return found;
}

/** A specifier that reaches into the named top-level folders (by alias or by relative path). */
function reaches(specifier: string, aliases: string[], folders: string[]): boolean {
  if (aliases.some((alias) => specifier === alias || specifier.startsWith(`${alias}/`))) return true;
  return folders.some((folder) => new RegExp(`(^|/)${folder}(/|$)`).test(specifier));
}

const RULES: Array<{ folder: string; aliases: string[]; folders: string[] }> = [
  { folder: 'validator-firmware-sim', aliases: ['#gateway'], folders: ['gateway'] },
  {
    folder: 'issuer',
    aliases: ['#gateway', '#validator', '#demo', '#bench', '#test'],
    folders: ['gateway', 'validator-firmware-sim', 'demo', 'bench', 'test'],
  },
];

describe('folder boundaries', () => {
  for (const rule of RULES) {
    it(`${rule.folder}/ imports nothing from ${rule.folders.join(', ')}`, () => {
      const files = sourceFiles(join(ROOT, rule.folder));
      expect(files.length).toBeGreaterThan(0);
      const offending = files.flatMap((file) =>
        importSpecifiers(readFileSync(file, 'utf8'))
          .filter((specifier) => reaches(specifier, rule.aliases, rule.folders))
          .map((specifier) => `${relative(ROOT, file)}: ${specifier}`),
      );
      expect(offending).toEqual([]);
    });
  }

  it('the rule sees every way of writing an import', () => {
    const text = [
      "import { a } from '#gateway/keys/issuer-keys-port';",
      "import type { B } from '../../gateway/src/app.ts';",
      "export * from '../gateway/src/x.ts';",
      "const c = await import('#gateway/app');",
      "import '../../gateway/src/side-effect.ts';",
      "import { d } from '#core';",
    ].join('\n');
    const hits = importSpecifiers(text).filter((s) => reaches(s, ['#gateway'], ['gateway']));
    expect(hits).toEqual([
      '#gateway/keys/issuer-keys-port',
      '../../gateway/src/app.ts',
      '../gateway/src/x.ts',
      '#gateway/app',
      '../../gateway/src/side-effect.ts',
    ]);
  });

  it('the issuer key service still answers the gateway port (structurally, without importing it)', () => {
    const port: IssuerKeysPort = IssuerKeyService.fromKeySets(testKeySets());
    expect(port.currentKeyVersion).toBeGreaterThan(0);
  });
});
