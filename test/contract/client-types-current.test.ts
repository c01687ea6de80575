/**
 * The generated contract files are current: docs/openapi.json (the document GET /openapi.json
 * serves) and demo/gateway-api-types.ts (the types the demo's gateway client is checked against)
 * must be exactly what `npm run api:types` generates from today's gateway. The generator runs as
 * `npm run api:types` does, as a process, into a temporary folder; the committed files are compared.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const GENERATOR = join(ROOT, 'tools', 'api', 'generate-client-types.ts');
const FILES = ['docs/openapi.json', 'demo/gateway-api-types.ts'];

/** The first differing line, to name in the failure. */
function firstDifference(committed: string, fresh: string): string {
  const a = committed.split('\n');
  const b = fresh.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}: committed ${JSON.stringify(a[i] ?? '<end of file>')}, generated ${JSON.stringify(b[i] ?? '<end of file>')}`;
  }
  return 'no line differs';
}

describe('generated client types', () => {
  let outDir: string;

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'api-types-check-'));
    await new Promise<void>((done, fail) => {
      execFile(process.execPath, ['--import', 'tsx', GENERATOR, '--out', outDir], { cwd: ROOT, timeout: 120_000 }, (error, _stdout, stderr) =>
        error === null ? done() : fail(new Error(`${GENERATOR} failed: ${error.message}\n${stderr}`)),
      );
    });
  }, 150_000);

  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it.each(FILES)('%s is what `npm run api:types` generates', (path) => {
    const fresh = readFileSync(join(outDir, path), 'utf8');
    let committed = '';
    try {
      committed = readFileSync(join(ROOT, path), 'utf8');
    } catch {
      // missing: reported below
    }
    const current = committed === fresh;
    expect(
      current,
      current
        ? ''
        : `${path} is not current (the gateway's OpenAPI document changed): run \`npm run api:types\` and commit ${FILES.join(' and ')}, then fix what the demo's typecheck reports. First difference, ${firstDifference(committed, fresh)}`,
    ).toBe(true);
  });
});
