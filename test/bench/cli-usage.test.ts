/**
 * The bench command lines (issue 14.6): bench/run.ts and the chart redraw bench/report-html.ts
 * answer --help, refuse an unknown flag (exit 2, one line, then the usage) and report a results
 * file they cannot write or read in one line naming it (exit 1), before any suite runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs, USAGE } from '#bench/run';
import { REDRAW_USAGE, redrawMain } from '#bench/report-html';
import { spawnCli } from '../support/spawn-cli.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bench-cli-usage-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench CLI, spawned', () => {
  it('--help, an unknown flag, and a results path it cannot write (before measuring anything)', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    const [help, unknown, unwritable, redraw] = await Promise.all([
      spawnCli('bench/run.ts', ['--help']),
      spawnCli('bench/run.ts', ['--quick', '--frobnicate', 'crypto']),
      spawnCli('bench/run.ts', ['--quick', '--out', join(file, 'latest.json'), 'crypto']),
      spawnCli('bench/report-html.ts', ['/nope/latest.json']),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout.trimEnd()).toBe(USAGE);
    expect(help.stderr).toBe('');

    expect(unknown.code).toBe(2);
    expect(unknown.errLines[0]).toBe("bench: unknown option '--frobnicate'");
    expect(unknown.errLines.slice(1).join('\n')).toBe(USAGE);

    expect(unwritable.code).toBe(1);
    expect(unwritable.errLines).toEqual([`bench: ${join(file, 'latest.json')}: cannot write results file (a part of ${file} is a file, not a folder)`]);
    expect(unwritable.stdout).toBe('');

    expect(redraw.code).toBe(1);
    expect(redraw.errLines).toEqual(['bench report: /nope/latest.json: no such results file']);
  }, 60_000);
});

describe('bench CLI, in-process', () => {
  it('keeps its name filters as positionals, checks every value', () => {
    expect(parseArgs(['crypto', '--quick', 'tap'])).toMatchObject({ quick: true, filters: ['crypto', 'tap'], help: false });
    expect(parseArgs(['-h']).help).toBe(true);
    expect(parseArgs(['--retries', '3']).retries).toBe(3);
    expect(() => parseArgs(['--retries', '-1'])).toThrow(/--retries/);
    expect(() => parseArgs(['--retries', 'x'])).toThrow(/--retries must be an integer >= 0, got "x"/);
    expect(() => parseArgs(['--looseness', 'x'])).toThrow(/--looseness must be a number >= 1, got "x"/);
    expect(() => parseArgs(['--out'])).toThrow("option '--out' needs a value");
    expect(() => parseArgs(['--list=yes'])).toThrow("option '--list' takes no value");
  });

  it('the redraw: --help, no file, a file that is not JSON or not bench results', async () => {
    const run = async (argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await redrawMain(argv, { out: (l) => out.push(l), err: (l) => err.push(...l.split('\n')) });
      return { code, out, err };
    };
    expect(await run(['--help'])).toMatchObject({ code: 0, out: [REDRAW_USAGE], err: [] });
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.err[0]).toBe('bench report: give the results JSON to draw');
    const text = join(dir, 'notes.json');
    writeFileSync(text, 'not json');
    expect((await run([text])).err).toEqual([`bench report: ${text}: not JSON (a results file written by bench/run.ts is)`]);
    const other = join(dir, 'other.json');
    writeFileSync(other, '{"a":1}');
    const wrong = await run([other]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toEqual([`bench report: ${other}: not bench results (no tasks and suites)`]);
  });
});
