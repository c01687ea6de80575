/** The one CLI kit every command line uses (tools/src/cli.ts): parsing, file errors, exit codes. */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertReadableFile,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  FileError,
  intOption,
  isEntryScript,
  parseCommandLine,
  prepareOutputFile,
  readTextFile,
  requiredOption,
  runCli,
  UsageError,
} from '#tools/cli';

const OPTIONS = { db: { type: 'string' }, json: { type: 'boolean' }, tag: { type: 'string', multiple: true } } as const;

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a UsageError');
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-kit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseCommandLine', () => {
  it('reads values, --name=value, booleans, repeated flags and -h/--help', () => {
    const { values, positionals } = parseCommandLine(['--db', 'a.db', '--json', '--tag=x', '--tag', 'y'], OPTIONS);
    expect(values).toEqual({ db: 'a.db', json: true, tag: ['x', 'y'] });
    expect(positionals).toEqual([]);
    expect(parseCommandLine(['-h'], OPTIONS).values.help).toBe(true);
    expect(parseCommandLine(['--help'], OPTIONS).values.help).toBe(true);
    expect(parseCommandLine(['--db', '-'], OPTIONS).values.db).toBe('-');
  });

  it('refuses an unknown flag, a missing value and a value given to a boolean, each in one line naming the flag', () => {
    expect(usageError(() => parseCommandLine(['--bogus'], OPTIONS))).toBe("unknown option '--bogus'");
    expect(usageError(() => parseCommandLine(['-z'], OPTIONS))).toBe("unknown option '-z'");
    expect(usageError(() => parseCommandLine(['--db'], OPTIONS))).toBe("option '--db' needs a value");
    expect(usageError(() => parseCommandLine(['--json=yes'], OPTIONS))).toBe("option '--json' takes no value");
    const ambiguous = usageError(() => parseCommandLine(['--db', '--json'], OPTIONS));
    expect(ambiguous).toMatch(/^option '--db' needs a value/);
    expect(ambiguous).not.toContain('\n');
  });

  it('allows only as many positionals as asked (none by default, Infinity for free lists)', () => {
    expect(usageError(() => parseCommandLine(['stray'], OPTIONS))).toBe("unexpected argument 'stray'");
    expect(usageError(() => parseCommandLine(['a', 'b'], OPTIONS, 1))).toBe("unexpected argument 'b'");
    expect(parseCommandLine(['a', '--json', 'b', 'c'], OPTIONS, Number.POSITIVE_INFINITY).positionals).toEqual(['a', 'b', 'c']);
  });
});

describe('option values', () => {
  it('intOption: whole numbers within range, absent gives the fallback', () => {
    expect(intOption('n', undefined, 0, 9, 4)).toBe(4);
    expect(intOption('n', undefined, 0, 9)).toBeUndefined();
    expect(intOption('n', '7', 0, 9, 4)).toBe(7);
    expect(usageError(() => intOption('n', '1.5', 0, 9, 4))).toBe('--n needs a whole number, got "1.5"');
    expect(usageError(() => intOption('n', '10', 0, 9, 4))).toBe('--n must be 0..9, got 10');
  });

  it('requiredOption: absent or empty is a usage error naming the flag', () => {
    expect(requiredOption('gateway', 'http://x')).toBe('http://x');
    expect(usageError(() => requiredOption('gateway', undefined))).toBe('--gateway is required');
    expect(usageError(() => requiredOption('gateway', ''))).toBe('--gateway is required');
  });
});

describe('files', () => {
  it('readTextFile names the path of a missing file, a folder, or a path through a file, in one line', () => {
    const file = join(dir, 'a.txt');
    writeFileSync(file, 'hello');
    expect(readTextFile(file)).toBe('hello');
    const missing = join(dir, 'nope.json');
    expect(() => readTextFile(missing, 'fare tables file')).toThrow(new FileError(missing, 'no such fare tables file'));
    expect(() => readTextFile(missing, 'key file', 'give --key-file')).toThrow(`${missing}: no such key file (give --key-file)`);
    expect(() => readTextFile(dir)).toThrow(`${dir}: is a folder, not a file`);
    expect(() => readTextFile(join(file, 'x'))).toThrow(/a part of the path is a file/);
    try {
      readTextFile(missing);
    } catch (error) {
      expect(error).toBeInstanceOf(FileError);
      expect((error as FileError).path).toBe(missing);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('assertReadableFile checks without reading', () => {
    const file = join(dir, 'b.txt');
    writeFileSync(file, 'x');
    expect(() => assertReadableFile(file)).not.toThrow();
    expect(() => assertReadableFile(join(dir, 'none.csv'), 'subway network CSV')).toThrow(`${join(dir, 'none.csv')}: no such subway network CSV`);
    expect(() => assertReadableFile(dir)).toThrow(/is a folder/);
  });

  it('prepareOutputFile creates the folder, and refuses a path it cannot write', () => {
    const out = join(dir, 'new', 'deeper', 'results.json');
    prepareOutputFile(out);
    expect(statSync(join(dir, 'new', 'deeper')).isDirectory()).toBe(true);
    const file = join(dir, 'plain');
    writeFileSync(file, '');
    expect(() => prepareOutputFile(join(file, 'x.json'), 'results file')).toThrow(FileError);
    expect(() => prepareOutputFile(join(file, 'x.json'), 'results file')).toThrow(/cannot write results file/);
    mkdirSync(join(dir, 'taken.json'));
    expect(() => prepareOutputFile(join(dir, 'taken.json'))).toThrow(/is a folder/);
  });
});

describe('runCli exit codes', () => {
  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
  }
  const USAGE = 'usage: tool [--x]\n\n  --x  a flag\n';

  it('0 (or what the body returns) when the job succeeds', async () => {
    const c = capture();
    expect(await runCli('tool', USAGE, () => EXIT_OK, c.io)).toBe(0);
    expect(await runCli('tool', USAGE, async () => 1, c.io)).toBe(1);
    expect(c.err).toEqual([]);
  });

  it('2 for a usage error: one line naming the problem, then the usage', async () => {
    const c = capture();
    const code = await runCli('tool', USAGE, () => parseCommandLine(['--nope'], {}) && EXIT_OK, c.io);
    expect(code).toBe(EXIT_USAGE);
    expect(c.err[0]).toBe("tool: unknown option '--nope'");
    expect(c.err[1]).toBe(USAGE.trimEnd());
    expect(c.out).toEqual([]);
  });

  it('1 for a file error, a raw fs error or any other failure: exactly one line, no stack', async () => {
    const missing = join(dir, 'gone.db');
    const bodies: Array<() => number> = [
      () => {
        throw new FileError(missing, 'no such device database');
      },
      () => readTextFile(missing).length,
      () => statSync(missing).size,
    ];
    for (const body of bodies) {
      const c = capture();
      expect(await runCli('tool', USAGE, body, c.io)).toBe(EXIT_FAILED);
      expect(c.err).toHaveLength(1);
      expect(c.err[0]).toMatch(new RegExp(`^tool: ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no such`));
    }
    const c = capture();
    expect(
      await runCli(
        'tool',
        USAGE,
        () => {
          throw new Error('the gateway refused\n  at somewhere (file.ts:1:1)');
        },
        c.io,
      ),
    ).toBe(EXIT_FAILED);
    expect(c.err).toEqual(['tool: the gateway refused']);
  });
});

describe('isEntryScript', () => {
  it('is true only for the module the process was started with', () => {
    expect(isEntryScript(pathToFileURL(join(dir, 'not-the-entry.ts')).href)).toBe(false);
    expect(isEntryScript('not a url')).toBe(false);
  });
});
