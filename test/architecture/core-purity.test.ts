import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/** ARCHITECTURE.md: core never imports the shells and does no I/O, clock or randomness. */
const CORE = join(import.meta.dirname, '..', '..', 'core');
const FORBIDDEN: Array<[RegExp, string]> = [
  [/from ['"]node:fs/, 'node:fs'],
  [/from ['"](fs|path|os|child_process|net|http|https)['"]/, 'node built-in I/O module'],
  [/from ['"]better-sqlite3['"]/, 'better-sqlite3'],
  [/from ['"]fastify/, 'fastify'],
  [/from ['"]pg['"]/, 'pg'],
  [/Date\.now\s*\(/, 'Date.now'],
  [/new Date\(\s*\)/, 'new Date() (the clock)'],
  [/Math\.random\s*\(/, 'Math.random'],
  [/randomBytes|getRandomValues/, 'system randomness'],
  [/from ['"]\.\.\/\.\.\/\.\.\/(gateway|validator-firmware-sim)/, 'a shell folder'],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('core purity', () => {
  const files = sourceFiles(CORE);
  it('finds the core sources', () => {
    expect(files.length).toBeGreaterThan(5);
  });
  for (const file of files) {
    it(`${relative(CORE, file)} uses no I/O, clock or randomness`, () => {
      const text = readFileSync(file, 'utf8');
      const hits = FORBIDDEN.filter(([pattern]) => pattern.test(text)).map(([, what]) => what);
      expect(hits).toEqual([]);
    });
  }
});
