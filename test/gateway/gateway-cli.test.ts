/**
 * `npm run gateway -- ...` as an operator runs it (issue 14.4 and 14.6): real processes
 * (`tsx gateway/src/cli.ts`) in temporary working directories. --help on every command, usage
 * errors exit 2 with one line and the usage, a missing file is one line naming it (exit 1),
 * `config` prints the effective configuration with secrets redacted, `pki init` is the only way to
 * a device CA and puts its private keys in the secrets folder.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '#gateway/config';
import { CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE } from '#gateway/pki/device-ca';
import { cleanEnv, ROOT, runGatewayCli } from './support/gateway-process.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], dir: string, extra: Record<string, string> = {}) => runGatewayCli(args, dir, cleanEnv(extra));

describe('help and usage errors', () => {
  it('--help on every command and subcommand: exit 0, the usage on stdout', async () => {
    const dir = tempDir();
    const cases: Array<[string[], string]> = [
      [['--help'], 'Usage: npm run gateway -- <command> [options]'],
      [['config', '--help'], 'Usage: npm run gateway -- config'],
      [['pki', '--help'], 'Usage: npm run gateway -- pki <init|status|enrol|revoke|list>'],
      [['pki', 'init', '--help'], 'Usage: npm run gateway -- pki init'],
      [['pki', 'status', '--help'], 'Usage: npm run gateway -- pki status'],
      [['pki', 'enrol', '--help'], 'Usage: npm run gateway -- pki enrol DEVICE_ID'],
      [['pki', 'revoke', '--help'], 'Usage: npm run gateway -- pki revoke DEVICE_ID [--reason TEXT]'],
      [['pki', 'list', '--help'], 'Usage: npm run gateway -- pki list [--device DEVICE_ID]'],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args, dir)));
    results.forEach((result, i) => {
      expect(result.code, cases[i][0].join(' ')).toBe(0);
      expect(result.stdout).toContain(cases[i][1]);
      expect(result.stdout).toContain('Exit status: 0 success, 1 the command failed');
      expect(result.stderr).toBe('');
    });
    // Help reads no configuration and writes nothing.
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('unknown flags, missing values, missing or unknown commands: exit 2, one line and the usage on stderr', async () => {
    const dir = tempDir();
    // The kit's own wording of a missing value (tools/src/cli.ts) is matched by its start only.
    const cases: Array<[string[], string | RegExp, string]> = [
      [[], 'gateway: missing command', 'Usage: npm run gateway -- <command>'],
      [['frobnicate'], 'gateway: unknown command "frobnicate" (config, pki, org, backup)', 'Usage: npm run gateway -- <command>'],
      [['--verbose'], "gateway: unknown option '--verbose'", 'Usage: npm run gateway -- <command>'],
      [['config', '--json'], "gateway: unknown option '--json'", 'Usage: npm run gateway -- config'],
      [['pki'], 'gateway: pki needs a command: init, status, enrol, revoke or list', 'Usage: npm run gateway -- pki <init'],
      [['pki', 'list', '--bogus'], "gateway: unknown option '--bogus'", 'Usage: npm run gateway -- pki list'],
      [['pki', 'list', '--device'], /^gateway: option '--device\b/, 'Usage: npm run gateway -- pki list'],
      [['pki', 'revoke', 'BUS-1', '--reason'], /^gateway: option '--reason\b/, 'Usage: npm run gateway -- pki revoke'],
      [['pki', 'enrol'], 'gateway: pki enrol needs a DEVICE_ID', 'Usage: npm run gateway -- pki enrol'],
      [['pki', 'init', '--reason', 'x'], 'gateway: --reason is an option of pki revoke only', 'Usage: npm run gateway -- pki init'],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args, dir)));
    results.forEach((result, i) => {
      const [args, line, usage] = cases[i];
      expect(result.code, args.join(' ')).toBe(2);
      const lines = result.stderr.split('\n');
      if (typeof line === 'string') expect(lines[0], args.join(' ')).toBe(line);
      else expect(lines[0], args.join(' ')).toMatch(line);
      expect(lines.slice(1).join('\n')).toContain(usage);
      expect(result.stdout).toBe('');
    });
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('GATEWAY_CONFIG_FILE pointing nowhere: one line naming the path, exit 1', async () => {
    const dir = tempDir();
    const missing = join(dir, 'etc', 'gateway.json');
    for (const args of [['config'], ['pki', 'status']]) {
      const result = await cli(args, dir, { GATEWAY_CONFIG_FILE: missing });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`gateway: GATEWAY_CONFIG_FILE: ${missing}: no such file\n`);
    }
    expect(readdirSync(dir)).toEqual([]);
  }, 30_000);
});

describe('gateway config', () => {
  it('docs/operations.md has a row for every variable the configuration reads', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    for (const variable of CONFIG_VARIABLES) expect(doc, variable.name).toMatch(new RegExp(`^\\| \`${variable.name}\` \\|`, 'm'));
  });

  it('prints the effective configuration: file values, the environment winning, sources, secrets redacted', async () => {
    const dir = tempDir();
    const file = join(dir, 'gateway.json');
    writeFileSync(
      file,
      JSON.stringify({ PORT: 9090, HOST: '0.0.0.0', GATEWAY_SHUTDOWN_GRACE_S: 30, GATEWAY_DATABASE_URL: 'postgres://gw:file-secret@db.internal:5432/transit' }),
      { mode: 0o600 },
    );
    const result = await cli(['config'], dir, {
      GATEWAY_CONFIG_FILE: file,
      PORT: '8181',
      GATEWAY_ADMIN_TOKEN: 'env-admin-token-0123456789abcdef',
      GATEWAY_PKI_DIRS: '/typo',
    });
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.stdout);
    expect(shown.configFile).toBe(file);
    expect(shown.store).toBe('postgresql');
    expect(shown.settings.PORT).toEqual({ value: 8181, source: 'env' });
    expect(shown.settings.HOST).toEqual({ value: '0.0.0.0', source: 'file' });
    expect(shown.settings.GATEWAY_SHUTDOWN_GRACE_S).toEqual({ value: 30, source: 'file' });
    expect(shown.settings.LOG_LEVEL).toEqual({ value: 'info', source: 'default' });
    expect(shown.settings.GATEWAY_SECRETS_DIR).toEqual({ value: join(dir, 'var', 'secrets'), source: 'default' });
    expect(shown.settings.GATEWAY_ADMIN_TOKEN).toEqual({ value: '[redacted]', source: 'env' });
    expect(shown.settings.GATEWAY_DATABASE_URL.value).toBe('postgres://gw:***@db.internal:5432/transit');
    expect(shown.settings.DEVICE_PUBLIC_HOST.value).toBe('localhost');
    expect(shown.files).toMatchObject({
      secretsDir: join(dir, 'var', 'secrets'),
      issuerKeys: join(dir, 'var', 'secrets', 'issuer-keys.json'),
      deviceCaKey: join(dir, 'var', 'secrets', CA_KEY_FILE),
      deviceCaCertificate: join(dir, 'var', 'pki', CA_CERT_FILE),
    });
    expect(shown.warnings).toEqual(['unknown variable GATEWAY_PKI_DIRS is ignored (did you mean GATEWAY_PKI_DIR?)']);
    expect(result.stderr).toBe('gateway: warning: unknown variable GATEWAY_PKI_DIRS is ignored (did you mean GATEWAY_PKI_DIR?)\n');
    expect(result.stdout).not.toContain('file-secret');
    expect(result.stdout).not.toContain('env-admin-token');
    expect(readdirSync(dir)).toEqual(['gateway.json']);
  }, 30_000);

  it('several wrong values (environment and file): every one reported, naming the variable, exit 1, nothing created', async () => {
    const dir = tempDir();
    const file = join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify({ DEVICE_PORT: 70000, LOG_LEVELS: 'debug', GATEWAY_DATABASE_URL: 'mysql://u:hidden@h/db' }), { mode: 0o600 });
    const result = await cli(['config'], dir, {
      GATEWAY_CONFIG_FILE: file,
      HOST: 'not a host',
      GATEWAY_DEVICE_CERT_DAYS: '1e2',
      GATEWAY_KEY_FILE: 'keys/missing.json',
      SUBWAY_NETWORK_CSV: 'nowhere.csv',
      LOG_LEVEL: 'loud',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([
      `gateway: GATEWAY_CONFIG_FILE: ${file}: unknown setting "LOG_LEVELS" (did you mean LOG_LEVEL?)`,
      'gateway: HOST must be an IP address or a host name, got "not a host"',
      'gateway: GATEWAY_DATABASE_URL must be a postgres://user:password@host:port/database URL',
      `gateway: GATEWAY_KEY_FILE: ${join(dir, 'keys', 'missing.json')}: no such file (a development key set is generated only at the default path)`,
      `gateway: SUBWAY_NETWORK_CSV: ${join(dir, 'nowhere.csv')}: no such file`,
      'gateway: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'gateway: DEVICE_PORT must be a whole number 0..65535 (a TCP port), got "70000"',
      'gateway: GATEWAY_DEVICE_CERT_DAYS must be a whole number 1..90 (days), got "1e2"',
    ]);
    expect(result.stderr).not.toContain('hidden');
    expect(readdirSync(dir)).toEqual(['gateway.json']);

    // A configuration file that holds a secret must be readable by its owner only.
    chmodSync(file, 0o644);
    writeFileSync(file, JSON.stringify({ GATEWAY_DATABASE_URL: 'postgres://gw:hidden@db/transit' }));
    const open = await cli(['config'], dir, { GATEWAY_CONFIG_FILE: file });
    expect(open.code).toBe(1);
    expect(open.stderr).toBe(
      `gateway: GATEWAY_CONFIG_FILE: ${file} holds a secret (admin token or database password) but is readable by group or others (mode 644): run chmod 600 ${file}\n`,
    );
  }, 30_000);
});

describe('gateway pki', () => {
  it('init creates the CA once (keys 0600 in the secrets folder 0700, certificates in the PKI folder); without a CA or a database the other commands fail in one line', async () => {
    const dir = tempDir();
    const before = await cli(['pki', 'status'], dir);
    expect(before.code).toBe(1);
    expect(JSON.parse(before.stdout)).toMatchObject({ ca: null, hint: 'npm run gateway -- pki init' });
    const enrolWithoutCa = await cli(['pki', 'enrol', 'BUS-1'], dir);
    expect(enrolWithoutCa.code).toBe(1);
    expect(enrolWithoutCa.stderr).toBe(`gateway: no device CA (${join(dir, 'var', 'pki')}): run "npm run gateway -- pki init" first\n`);
    expect(readdirSync(dir)).toEqual([]);

    const init = await cli(['pki', 'init'], dir);
    expect(init.code).toBe(0);
    const answer = JSON.parse(init.stdout);
    expect(answer).toMatchObject({ created: true, listenerHostnames: expect.arrayContaining(['localhost', '127.0.0.1']) });
    expect(init.stdout).not.toContain('PRIVATE KEY');
    const secrets = join(dir, 'var', 'secrets');
    expect(statSync(secrets).mode & 0o777).toBe(0o700);
    expect(readdirSync(secrets).sort()).toEqual([CA_KEY_FILE, SERVER_KEY_FILE]);
    for (const key of [CA_KEY_FILE, SERVER_KEY_FILE]) expect(statSync(join(secrets, key)).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'var', 'pki')).sort()).toEqual([CA_CERT_FILE, SERVER_CERT_FILE]);

    const again = await cli(['pki', 'init'], dir);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, caFingerprintSha256: answer.caFingerprintSha256 });

    // No database yet: one line naming it.
    const status = await cli(['pki', 'status'], dir);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(`gateway: ${join(dir, 'var', 'gateway.db')}: no such database (GATEWAY_DB; start the gateway once with npm start)\n`);

    // A CA key others can read is refused by every pki command: one line, exit 1.
    chmodSync(join(secrets, CA_KEY_FILE), 0o640);
    const loose = await cli(['pki', 'init'], dir);
    expect(loose.code).toBe(1);
    expect(loose.stderr).toBe(
      `gateway: ${join(secrets, CA_KEY_FILE)} is readable by group or others (mode 640): run chmod 600 ${join(secrets, CA_KEY_FILE)}\n`,
    );
    const config = await cli(['config'], dir);
    expect(config.code).toBe(1);
    expect(JSON.parse(config.stdout).problems).toHaveLength(1);
  }, 60_000);

  it('a CA key left in the PKI folder by an earlier layout is named with the command that moves it', async () => {
    const dir = tempDir();
    const init = await cli(['pki', 'init'], dir, { GATEWAY_SECRETS_DIR: 'var/pki' });
    expect(init.code).toBe(0);
    const result = await cli(['pki', 'status'], dir);
    expect(result.code).toBe(1);
    const pki = join(dir, 'var', 'pki');
    const secrets = join(dir, 'var', 'secrets');
    expect(result.stderr.trim().split('\n')).toEqual([
      `gateway: the device CA private key is at ${join(pki, CA_KEY_FILE)}, outside the secrets folder: move it with mv ${join(pki, CA_KEY_FILE)} ${join(secrets, CA_KEY_FILE)}`,
      `gateway: the device listener private key is at ${join(pki, SERVER_KEY_FILE)}, outside the secrets folder: move it with mv ${join(pki, SERVER_KEY_FILE)} ${join(secrets, SERVER_KEY_FILE)}`,
    ]);
    expect(existsSync(secrets)).toBe(false);
  }, 30_000);
});
