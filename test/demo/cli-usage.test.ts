/**
 * The demo's command line (issue 14.6): --help, an unknown flag or a missing value (exit 2, one
 * line, then the usage), a missing network file (exit 1, one line naming it, nothing created).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#demo/city-day';
import { parseOptions, USAGE } from '#demo/options';
import { spawnCli } from '../support/spawn-cli.ts';

const CLI = 'demo/city-day.ts';

function collector(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'demo-cli-usage-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('demo CLI, spawned', () => {
  it('--help, an unknown flag and a missing network file, as a user sees them', async () => {
    const out = join(dir, 'never-made');
    const [help, unknown, missing] = await Promise.all([
      spawnCli(CLI, ['--help']),
      spawnCli(CLI, ['--quick', '--frobnicate']),
      spawnCli(CLI, ['--quick', '--out', out, '--subway-csv', '/nope/sections.csv']),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout.trimEnd()).toBe(USAGE);
    expect(help.stderr).toBe('');

    expect(unknown.code).toBe(2);
    expect(unknown.errLines[0]).toBe("demo: unknown option '--frobnicate'");
    expect(unknown.errLines.slice(1).join('\n')).toBe(USAGE);
    expect(unknown.stdout).toBe('');

    expect(missing.code).toBe(1);
    expect(missing.errLines).toHaveLength(1);
    expect(missing.errLines[0]).toMatch(/^demo: \/nope\/sections\.csv: no such subway network CSV \(/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

describe('demo CLI, in-process', () => {
  async function run(argv: string[], env: Record<string, string> = {}) {
    const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
    Object.assign(process.env, env);
    try {
      const stdout = collector();
      const stderr = collector();
      const result = await main(argv, { stdout: stdout.stream, stderr: stderr.stream });
      // Lines as written (the usage keeps its blank lines), without the final newline.
      return { code: result.exitCode, out: stdout.text(), err: stderr.text() === '' ? [] : stderr.text().replace(/\n$/, '').split('\n') };
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  }

  it('-h prints the usage with the exit codes', async () => {
    const r = await run(['-h']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Exit status: 0');
    expect(r.out).toContain('--subway-csv PATH');
  });

  it('a missing value, a value given to a flag, a bad number and a stray argument are exit 2', async () => {
    const cases: Array<[string[], string]> = [
      [['--riders'], "demo: option '--riders' needs a value"],
      [['--quick=yes'], "demo: option '--quick' takes no value"],
      [['--days', '10'], 'demo: --days must be 1..9, got 10'],
      [['--seed', '-1'], "demo: option '--seed' needs a value (a value starting with '-' is written --seed=-VALUE)"],
      [['tomorrow'], "demo: unexpected argument 'tomorrow'"],
    ];
    for (const [argv, first] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err[0]).toBe(first);
      expect(r.err.slice(1).join('\n')).toBe(USAGE);
    }
  });

  it('SUBWAY_NETWORK_CSV naming a missing file is one line naming it, exit 1', async () => {
    const r = await run(['--quick', '--out', join(dir, 'env-case')], { SUBWAY_NETWORK_CSV: join(dir, 'absent.csv') });
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toContain(`demo: ${join(dir, 'absent.csv')}: no such subway network CSV`);
    expect(existsSync(join(dir, 'env-case'))).toBe(false);
  });

  it('--subway-csv reaches the run options', () => {
    expect(parseOptions(['--subway-csv', '/data/net.csv'])).toMatchObject({ subwayCsvPath: '/data/net.csv' });
    expect(parseOptions([])).not.toHaveProperty('subwayCsvPath');
  });
});
