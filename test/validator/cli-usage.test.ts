/**
 * The validator's command line (issue 14.6): --help on every command and subcommand, an unknown
 * flag or a missing value is exit 2 with one line and the command's usage, a missing file is
 * exit 1 with one line naming it. A few real processes, the rest through main() in-process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandHelp, HELP, main } from '#validator/cli';
import { spawnCli } from '../support/spawn-cli.ts';

const CLI = 'validator-firmware-sim/src/cli.ts';

async function inProcess(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    (l) => out.push(l),
    (l) => err.push(...l.split('\n')),
  );
  return { code, out, err };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'validator-cli-usage-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('validator CLI, spawned', () => {
  it('--help, an unknown flag and a missing file, as a user sees them', async () => {
    const noFolder = join(dir, 'no-such-folder', 'x.db');
    const [help, unknown, status] = await Promise.all([
      spawnCli(CLI, ['--help']),
      spawnCli(CLI, ['run', '--bogus']),
      spawnCli(CLI, ['status', '--db', noFolder]),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run validator -- <command> [options]');
    expect(help.stdout).toContain('Exit status: 0');
    expect(help.stderr).toBe('');

    expect(unknown.code).toBe(2);
    expect(unknown.errLines[0]).toBe("validator: unknown option '--bogus'");
    expect(unknown.errLines[1]).toMatch(/^validator run: /);
    expect(unknown.stderr).toContain('--taps FILE');
    expect(unknown.stdout).toBe('');

    expect(status.code).toBe(1);
    expect(status.errLines).toEqual([`validator: ${noFolder}: no such device database (run "validator init" first)`]);
    expect(status.stdout).toBe('');
  }, 60_000);
});

describe('validator CLI, in-process', () => {
  const commands = [['init'], ['run'], ['sync'], ['status'], ['enrol'], ['renew'], ['wallet'], ['wallet', 'issue'], ['wallet', 'list']];

  it('every command and subcommand answers --help and -h with its own usage on stdout, exit 0', async () => {
    for (const command of commands) {
      for (const flag of ['--help', '-h']) {
        const r = await inProcess([...command, flag]);
        expect(r.code, `${command.join(' ')} ${flag}`).toBe(0);
        expect(r.err).toEqual([]);
        expect(r.out.join('\n')).toBe(commandHelp(command.join(' ')));
        expect(r.out.join('\n')).toMatch(new RegExp(`^validator ${command.join(' ')}: `));
        expect(r.out.join('\n')).toContain('Exit status: 0');
      }
    }
    for (const argv of [['--help'], ['-h'], ['help']]) expect((await inProcess(argv)).out.join('\n')).toBe(HELP);
    expect((await inProcess(['help', 'sync'])).out.join('\n')).toBe(commandHelp('sync'));
    expect((await inProcess(['--help', 'wallet', 'list'])).out.join('\n')).toBe(commandHelp('wallet list'));
  });

  it('an unknown flag on any command is exit 2: one line naming it, then that command usage', async () => {
    for (const command of commands) {
      const r = await inProcess([...command, '--frobnicate']);
      expect(r.code, command.join(' ')).toBe(2);
      expect(r.err[0]).toBe("validator: unknown option '--frobnicate'");
      expect(r.err.slice(1).join('\n')).toBe(commandHelp(command.join(' ')));
      expect(r.out).toEqual([]);
    }
    // A flag of another command is unknown here too.
    expect((await inProcess(['enrol', '--if-due'])).err[0]).toBe("validator: unknown option '--if-due'");
    expect((await inProcess(['status', '--taps', 'x'])).err[0]).toBe("validator: unknown option '--taps'");
  });

  it('usage errors: no command, an unknown command, a missing or bad value, a missing required option', async () => {
    const cases: Array<[string[], string]> = [
      [[], 'validator: missing command'],
      [['frob'], "validator: unknown command 'frob'"],
      [['--db', 'x.db', 'status'], "validator: the command comes first: validator <command> [options] (got '--db')"],
      [['sync', '--batch'], "validator: option '--batch' needs a value"],
      [['sync', '--batch', '9000'], 'validator: --batch must be 1..5000, got 9000'],
      [['run', '--json=yes'], "validator: option '--json' takes no value"],
      [['run', '--from', 'x'], 'validator: --from needs a whole number, got "x"'],
      [['status', 'extra'], "validator: unexpected argument 'extra'"],
      [['init', '--kind', 'bus'], 'validator: --device-id is required'],
      [
        ['init', '--device-id', 'X-1', '--kind', 'tram'],
        'validator: --kind must be one of subway-entry, subway-exit, bus, suburban-entry, suburban-exit, pr-entry, pr-exit, park-gate',
      ],
      [['wallet'], 'validator: wallet needs "issue" or "list"'],
      [['wallet', 'sell'], "validator: unknown wallet command 'sell' (wallet issue, wallet list)"],
      [
        ['wallet', 'issue', '--gateway', 'http://127.0.0.1:1', '--operator-token', 't', '--load', 'ten'],
        'validator: --load needs an amount in yuan such as 50.00, got "ten"',
      ],
    ];
    for (const [argv, first] of cases) {
      const r = await inProcess(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err[0]).toBe(first);
      expect(r.err.length).toBeGreaterThan(3);
    }
  });

  it('a missing tap stream, key file, fare tables, subway CSV, wallet or device database is exit 1 in one line naming it', async () => {
    const bus = ['--device-id', 'K-1', '--kind', 'bus', '--line', '1'];
    const cases: Array<[string[], string]> = [
      [['run', '--db', join(dir, 'none.db'), '--taps', '/nope/taps.jsonl'], '/nope/taps.jsonl: no such file'],
      [
        ['init', '--db', join(dir, 'k.db'), ...bus, '--key-file', '/nope/keys.json'],
        '/nope/keys.json: no such key file (start the gateway once to create it, or give --key-file)',
      ],
      [['init', '--db', join(dir, 'f.db'), ...bus, '--fare-tables', '/nope/fares.json'], '/nope/fares.json: no such fare tables file'],
      [
        ['init', '--db', join(dir, 'c.db'), ...bus, '--subway-csv', '/nope/net.csv'],
        '/nope/net.csv: no such subway network CSV (give --subway-csv or --fare-tables)',
      ],
    ];
    for (const [argv, message] of cases) {
      const r = await inProcess(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.err).toEqual([`validator: ${message}`]);
    }

    // Without --key-file the PSAM is personalised from the gateway's secrets folder, by the gateway's own settings.
    const saved = { file: process.env.GATEWAY_KEY_FILE, secrets: process.env.GATEWAY_SECRETS_DIR };
    delete process.env.GATEWAY_KEY_FILE;
    process.env.GATEWAY_SECRETS_DIR = join(dir, 'secrets');
    try {
      const r = await inProcess(['init', '--db', join(dir, 'd.db'), ...bus]);
      expect(r.code).toBe(1);
      expect(r.err[0]).toMatch(new RegExp(`^validator: ${join(dir, 'secrets', 'issuer-keys.json')}: no such key file`));
    } finally {
      if (saved.file === undefined) delete process.env.GATEWAY_KEY_FILE;
      else process.env.GATEWAY_KEY_FILE = saved.file;
      if (saved.secrets === undefined) delete process.env.GATEWAY_SECRETS_DIR;
      else process.env.GATEWAY_SECRETS_DIR = saved.secrets;
    }
    const wallet = join(dir, 'none', 'cards.db');
    const list = await inProcess(['wallet', 'list', '--wallet', wallet]);
    expect(list.code).toBe(1);
    expect(list.err).toEqual([`validator: ${wallet}: no such card wallet (issue cards into it with "validator wallet issue")`]);
    const folder = await inProcess(['sync', '--db', dir]);
    expect(folder.code).toBe(1);
    expect(folder.err).toEqual([`validator: ${dir}: is a folder, not a device database`]);
  });
});
