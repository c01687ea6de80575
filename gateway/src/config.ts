/**
 * The gateway's one configuration (issue 14.4), read from the environment and, optionally, from
 * a JSON file named by GATEWAY_CONFIG_FILE (`{ "PORT": 8080, "GATEWAY_DB": "/srv/gw/gateway.db" }`:
 * the same names as the variables; a variable set in the environment wins over the file).
 *
 * `readConfig` only reads: it validates every value, collects every problem (each names the
 * variable and what it expects) and throws one ConfigError listing them all, before `npm start`
 * or the gateway CLI writes anything to disk. Unknown GATEWAY_* variables (typos) are returned as
 * warnings. Relative paths are relative to the working directory, wherever they come from.
 *
 * The table of variables (CONFIG_VARIABLES) is the reference for docs/operations.md.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { defaultSubwayNetworkCsv } from '#tools/shared-data';
import type { DevicePkiConfig, DevicePkiMode } from './pki/pki-config.ts';
import { parseCutoff } from './services/business-day.ts';

export interface ConfigVariable {
  name: string;
  /** The default as an operator reads it. */
  defaultText: string;
  meaning: string;
  /** Redacted by `gateway config`. */
  secret?: boolean;
}

/** Every variable the gateway reads (npm start and the gateway CLI). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  { name: 'GATEWAY_CONFIG_FILE', defaultText: '–', meaning: 'a JSON file of these variables ({"PORT": 8080, ...}); the environment wins' },
  { name: 'HOST', defaultText: '127.0.0.1', meaning: 'bind address of the main API (plain HTTP)' },
  { name: 'PORT', defaultText: '8080', meaning: 'port of the main API (0..65535; 0 = any free port)' },
  { name: 'GATEWAY_DB', defaultText: './var/gateway.db', meaning: 'the embedded SQLite database file' },
  {
    name: 'GATEWAY_DATABASE_URL',
    defaultText: '–',
    meaning: 'postgres://user:password@host:port/db[?schema=name]: PostgreSQL instead of SQLite',
    secret: true,
  },
  { name: 'GATEWAY_DATABASE_SCHEMA', defaultText: '–', meaning: 'PostgreSQL schema when the URL has no ?schema=' },
  {
    name: 'GATEWAY_SECRETS_DIR',
    defaultText: './var/secrets',
    meaning: 'the secrets folder: admin token, issuer key file, device CA and listener private keys',
  },
  {
    name: 'GATEWAY_ADMIN_TOKEN',
    defaultText: '–',
    meaning: 'operator token (16..256 of [A-Za-z0-9._~+/=-]); unset: generated once into <secrets>/admin-token',
    secret: true,
  },
  {
    name: 'GATEWAY_KEY_FILE',
    defaultText: '<secrets>/issuer-keys.json',
    meaning: 'issuer master key file; at the default path a development key set is generated on first start, an explicit path must exist',
  },
  { name: 'SUBWAY_NETWORK_CSV', defaultText: '../shared/data/beijing-subway-sections.csv', meaning: 'subway network (fare quotes); must exist when set' },
  { name: 'LOG_LEVEL', defaultText: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent' },
  { name: 'GATEWAY_CLOCK_SKEW_ALERT_S', defaultText: '120', meaning: 'device clock skew listed for alerting, seconds (1..31536000)' },
  { name: 'GATEWAY_JOBS_INTERVAL_MS', defaultText: '60000', meaning: 'refund payout job timer, milliseconds (0 = off)' },
  {
    name: 'GATEWAY_LOST_BALANCE_FORFEIT_DAYS',
    defaultText: '30',
    meaning: "days after a formal loss report without a replacement when the lost card's balance moves to the forfeited lost-card balances account (1..3650)",
  },
  {
    name: 'GATEWAY_DAY_CLOSE_CUTOFF',
    defaultText: '04:00',
    meaning: 'business day cut-off, HH:MM Beijing time: day D runs from D at the cut-off to D + 1 at the cut-off (docs/settlement.md)',
  },
  {
    name: 'GATEWAY_DAY_CLOSE_GRACE_HOURS',
    defaultText: '36',
    meaning: 'a business day closes by itself this many hours after its end even if an active device has not synced since (1..720)',
  },
  {
    name: 'GATEWAY_SETTLEMENT_LAG_DAYS',
    defaultText: '1',
    meaning: "settlement lag: a closed day's transfers are due on the day + this many days (T+1; 0..10)",
  },
  { name: 'GATEWAY_SHUTDOWN_GRACE_S', defaultText: '10', meaning: 'on SIGTERM/SIGINT, how long in-flight requests may finish, seconds (0..600)' },
  {
    name: 'GATEWAY_DEVICE_PKI',
    defaultText: 'auto',
    meaning: 'auto: the device listener runs when a device CA exists; on: a CA is required; off: never use one',
  },
  { name: 'GATEWAY_PKI_DIR', defaultText: '<database folder>/pki', meaning: 'device CA and listener certificates (public)' },
  { name: 'DEVICE_PORT', defaultText: '8443', meaning: 'mutual-TLS device listener port (0 = any free port)' },
  { name: 'DEVICE_HOST', defaultText: 'HOST', meaning: 'bind address of the device listener' },
  {
    name: 'DEVICE_PUBLIC_HOST',
    defaultText: 'DEVICE_HOST (localhost for 0.0.0.0/::)',
    meaning: 'the name validators use; announced at enrolment, in the listener certificate',
  },
  { name: 'GATEWAY_DEVICE_HOSTNAMES', defaultText: '–', meaning: 'more names/IPs for the listener certificate, comma-separated' },
  { name: 'GATEWAY_DEVICE_CERT_DAYS', defaultText: '7', meaning: 'device certificate lifetime, days (1..90)' },
  { name: 'GATEWAY_ENROLMENT_CODE_HOURS', defaultText: '72', meaning: 'enrolment code lifetime, hours (1..720)' },
  {
    name: 'GATEWAY_SANDBOX',
    defaultText: '0',
    meaning:
      '1: the sandbox (docs/gateway-api.md, Sandbox): only on a SQLite file and issuer keys it created itself, a movable clock and virtual cards; never PostgreSQL',
  },
];

const KNOWN = new Set(CONFIG_VARIABLES.map((v) => v.name));

/**
 * GATEWAY_* names read by other parts of the project (tests, tools): not typos. A module that
 * reads a new GATEWAY_* variable outside this configuration adds it here.
 */
export const OTHER_GATEWAY_VARIABLES: readonly string[] = [];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface GatewayConfig {
  host: string;
  port: number;
  sqlitePath: string;
  databaseUrl: string | undefined;
  databaseSchema: string | undefined;
  /** The secrets folder (GATEWAY_SECRETS_DIR): mode 0700, every file in it 0600. */
  secretsDir: string;
  adminToken: string | undefined;
  /** Where the generated admin token is written when GATEWAY_ADMIN_TOKEN is not set (mode 0600). */
  adminTokenFile: string;
  keyFile: string;
  /** The holder key (HMAC of ID numbers): `<secrets>/holder-id-key`, generated on the first start (mode 0600). */
  holderKeyFile: string;
  /** GATEWAY_KEY_FILE was given: the file must exist (no development key set is generated there). */
  keyFileExplicit: boolean;
  subwayNetworkCsvPath: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Device clock skew over this is listed for alerting (GATEWAY_CLOCK_SKEW_ALERT_S); undefined = the policy default. */
  clockSkewAlertMs: number | undefined;
  /** GATEWAY_JOBS_INTERVAL_MS; undefined = the default (one minute). */
  jobsIntervalMs: number | undefined;
  /** GATEWAY_LOST_BALANCE_FORFEIT_DAYS in ms; undefined = the policy default (30 days). */
  lostCardForfeitMs: number | undefined;
  /** GATEWAY_DAY_CLOSE_CUTOFF in minutes after 00:00 Beijing time; undefined = 04:00. */
  dayCloseCutoffMinutes: number | undefined;
  /** GATEWAY_DAY_CLOSE_GRACE_HOURS in ms; undefined = 36 h. */
  dayCloseGraceMs: number | undefined;
  /** GATEWAY_SETTLEMENT_LAG_DAYS; undefined = 1 (T+1). */
  settlementLagDays: number | undefined;
  /** The clearing centre's key and certificate (services/clearing-key.ts): <secrets>/clearing-centre.key.pem, .cert.pem. */
  clearingKeyDir: string;
  shutdownGraceMs: number;
  pki: DevicePkiConfig;
  /** GATEWAY_SANDBOX=1: the sandbox (gateway/src/sandbox): its own SQLite file and keys, a movable clock, virtual cards. */
  sandbox: boolean;
  /** The file the configuration was read from, if any. */
  configFile: string | undefined;
  /** Where each variable's value came from. */
  sources: Record<string, 'env' | 'file' | 'default'>;
}

export interface LoadedConfig {
  config: GatewayConfig;
  /** Unknown GATEWAY_* variables and other things worth a look; never fatal. */
  warnings: string[];
}

/** Every problem found, one line each, naming the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly problems: string[],
    /** Unknown GATEWAY_* variables: often the cause of a problem (a typo), so shown with it. */
    readonly warnings: string[] = [],
  ) {
    super(problems.length === 1 ? problems[0] : `${problems.length} configuration problems: ${problems.join('; ')}`);
  }
}

/** Edit distance, for "did you mean" on a mistyped variable. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = next;
    }
  }
  return row[b.length];
}

function suggestionFor(name: string): string {
  let best: string | undefined;
  let bestDistance = 4;
  for (const known of KNOWN) {
    const d = distance(name, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean ${best}?)`;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ADMIN_TOKEN = /^[A-Za-z0-9._~+/=-]{16,256}$/;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface ReadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Reads GATEWAY_CONFIG_FILE: a JSON object of variable names; problems are collected. */
function readConfigFile(path: string, problems: string[]): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    problems.push(
      `GATEWAY_CONFIG_FILE: ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable (permission denied)' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot read (${code})`}`,
    );
    return {};
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    problems.push(`GATEWAY_CONFIG_FILE: ${path} is not valid JSON (${(error as Error).message})`);
    return {};
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`GATEWAY_CONFIG_FILE: ${path} must hold a JSON object of variable names, e.g. {"PORT": 8080}`);
    return {};
  }
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    if (name === 'GATEWAY_CONFIG_FILE') problems.push(`GATEWAY_CONFIG_FILE: ${path} may not name another configuration file`);
    else if (!KNOWN.has(name)) problems.push(`GATEWAY_CONFIG_FILE: ${path}: unknown setting "${name}"${suggestionFor(name)}`);
    else if (value === null) continue;
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') values[name] = String(value);
    else problems.push(`${name} (in ${path}) must be a string or a number`);
  }
  // A file holding a secret follows the secrets rule: readable by its owner only.
  const holdsSecret = values.GATEWAY_ADMIN_TOKEN !== undefined || urlPassword(values.GATEWAY_DATABASE_URL) !== '';
  const mode = statSync(path).mode & 0o777;
  if (holdsSecret && (mode & 0o077) !== 0) {
    problems.push(
      `GATEWAY_CONFIG_FILE: ${path} holds a secret (admin token or database password) but is readable by group or others (mode ${mode.toString(8)}): run chmod 600 ${path}`,
    );
  }
  return values;
}

/**
 * The effective configuration: defaults, then the file, then the environment. Throws ConfigError
 * with every problem; reads files (the configuration file, existence checks) but writes nothing.
 */
export function loadConfig(options: ReadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  const warnings: string[] = [];

  const configFile = env.GATEWAY_CONFIG_FILE ? resolve(cwd, env.GATEWAY_CONFIG_FILE) : undefined;
  const fromFile = configFile === undefined ? {} : readConfigFile(configFile, problems);
  const sources: Record<string, 'env' | 'file' | 'default'> = {};
  const raw = (name: string): string | undefined => {
    const fromEnv = env[name];
    if (fromEnv !== undefined && fromEnv !== '') {
      sources[name] = 'env';
      return fromEnv;
    }
    if (fromFile[name] !== undefined && fromFile[name] !== '') {
      sources[name] = 'file';
      return fromFile[name];
    }
    sources[name] = 'default';
    return undefined;
  };
  const int = (name: string, fallback: number | undefined, min: number, max: number, unit: string): number | undefined => {
    const value = raw(name);
    if (value === undefined) return fallback;
    if (!/^[0-9]{1,16}$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      problems.push(`${name} must be a whole number ${min}..${max} (${unit}), got ${JSON.stringify(value)}`);
      return fallback;
    }
    return Number(value);
  };
  const host = (name: string, fallback: string): string => {
    const value = raw(name)?.trim();
    if (value === undefined) return fallback;
    if (isIP(value) === 0 && !HOSTNAME.test(value)) {
      problems.push(`${name} must be an IP address or a host name, got ${JSON.stringify(value)}`);
      return fallback;
    }
    return value;
  };
  const path = (name: string): string | undefined => {
    const value = raw(name);
    if (value === undefined) return undefined;
    if (value.includes('\0')) {
      problems.push(`${name} must be a file system path`);
      return undefined;
    }
    return resolve(cwd, value);
  };
  /** A path that must be a folder if it exists. */
  const folderOk = (name: string, dir: string): void => {
    const kind = kindOf(dir);
    if (kind !== 'missing' && kind !== 'dir') problems.push(`${name} must be a folder: ${dir} is a file`);
  };

  const mainHost = host('HOST', '127.0.0.1');
  const port = int('PORT', 8080, 0, 65_535, 'a TCP port') as number;

  const sqlitePath = path('GATEWAY_DB') ?? resolve(cwd, './var/gateway.db');
  if (kindOf(sqlitePath) === 'dir') problems.push(`GATEWAY_DB must be a database file, not a folder: ${sqlitePath}`);
  const dataDir = dirname(sqlitePath);
  folderOk('GATEWAY_DB', dataDir);

  const databaseUrl = raw('GATEWAY_DATABASE_URL');
  if (databaseUrl !== undefined) {
    let ok = false;
    try {
      const parsed = new URL(databaseUrl);
      ok = (parsed.protocol === 'postgres:' || parsed.protocol === 'postgresql:') && parsed.hostname !== '';
    } catch {
      ok = false;
    }
    // The value itself is never repeated: it may hold a password.
    if (!ok) problems.push('GATEWAY_DATABASE_URL must be a postgres://user:password@host:port/database URL');
  }
  const databaseSchema = raw('GATEWAY_DATABASE_SCHEMA');
  if (databaseSchema !== undefined && !SCHEMA_NAME.test(databaseSchema)) {
    problems.push(`GATEWAY_DATABASE_SCHEMA must match ${SCHEMA_NAME} (lower-case letters, digits, _), got ${JSON.stringify(databaseSchema)}`);
  }

  const secretsDir = path('GATEWAY_SECRETS_DIR') ?? resolve(cwd, './var/secrets');
  folderOk('GATEWAY_SECRETS_DIR', secretsDir);
  if (databaseUrl === undefined && secretsDir === dataDir) {
    problems.push(`GATEWAY_SECRETS_DIR must be a folder of its own, apart from the database folder (${dataDir})`);
  }

  const adminToken = raw('GATEWAY_ADMIN_TOKEN');
  if (adminToken !== undefined && !ADMIN_TOKEN.test(adminToken)) problems.push('GATEWAY_ADMIN_TOKEN must be 16..256 characters of [A-Za-z0-9._~+/=-]');

  const explicitKeyFile = path('GATEWAY_KEY_FILE');
  const keyFile = explicitKeyFile ?? join(secretsDir, 'issuer-keys.json');
  if (explicitKeyFile !== undefined) {
    const kind = kindOf(explicitKeyFile);
    if (kind === 'missing') problems.push(`GATEWAY_KEY_FILE: ${explicitKeyFile}: no such file (a development key set is generated only at the default path)`);
    else if (kind === 'dir') problems.push(`GATEWAY_KEY_FILE: ${explicitKeyFile} is a folder, not a key file`);
  }

  const subwayNetworkCsvPath = path('SUBWAY_NETWORK_CSV');
  if (subwayNetworkCsvPath !== undefined && kindOf(subwayNetworkCsvPath) !== 'file') {
    problems.push(`SUBWAY_NETWORK_CSV: ${subwayNetworkCsvPath}: no such file`);
  }

  const level = (raw('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);

  const skewSeconds = int('GATEWAY_CLOCK_SKEW_ALERT_S', undefined, 1, 31_536_000, 'seconds');
  const jobsIntervalMs = int('GATEWAY_JOBS_INTERVAL_MS', undefined, 0, 86_400_000, 'milliseconds, 0 = off');
  const graceSeconds = int('GATEWAY_SHUTDOWN_GRACE_S', 10, 0, 600, 'seconds') as number;
  const forfeitDays = int('GATEWAY_LOST_BALANCE_FORFEIT_DAYS', undefined, 1, 3650, 'days');
  const cutoffText = raw('GATEWAY_DAY_CLOSE_CUTOFF');
  const dayCloseCutoffMinutes = cutoffText === undefined ? undefined : (parseCutoff(cutoffText) ?? undefined);
  if (cutoffText !== undefined && dayCloseCutoffMinutes === undefined)
    problems.push(`GATEWAY_DAY_CLOSE_CUTOFF must be HH:MM (00:00..23:59), got ${JSON.stringify(cutoffText)}`);
  const dayCloseGraceHours = int('GATEWAY_DAY_CLOSE_GRACE_HOURS', undefined, 1, 720, 'hours');
  const settlementLagDays = int('GATEWAY_SETTLEMENT_LAG_DAYS', undefined, 0, 10, 'days');

  // Device PKI.
  const modeText = (raw('GATEWAY_DEVICE_PKI') ?? 'auto').toLowerCase();
  if (!['auto', 'on', 'off'].includes(modeText)) problems.push(`GATEWAY_DEVICE_PKI must be auto, on or off, got ${JSON.stringify(modeText)}`);
  const pkiDir = path('GATEWAY_PKI_DIR') ?? join(dataDir, 'pki');
  folderOk('GATEWAY_PKI_DIR', pkiDir);
  const deviceHost = host('DEVICE_HOST', mainHost);
  const devicePort = int('DEVICE_PORT', 8443, 0, 65_535, 'a TCP port') as number;
  const wildcard = deviceHost === '0.0.0.0' || deviceHost === '::';
  const advertisedHost = host('DEVICE_PUBLIC_HOST', wildcard ? 'localhost' : deviceHost);
  const extra: string[] = [];
  for (const entry of (raw('GATEWAY_DEVICE_HOSTNAMES') ?? '').split(',')) {
    const name = entry.trim();
    if (name === '') continue;
    if (isIP(name) === 0 && !HOSTNAME.test(name))
      problems.push(`GATEWAY_DEVICE_HOSTNAMES must be host names or IP addresses, comma-separated; got ${JSON.stringify(name)}`);
    else extra.push(name);
  }
  const certDays = int('GATEWAY_DEVICE_CERT_DAYS', 7, 1, 90, 'days') as number;
  const codeHours = int('GATEWAY_ENROLMENT_CODE_HOURS', 72, 1, 720, 'hours') as number;
  if (modeText !== 'off' && port !== 0 && port === devicePort) problems.push(`DEVICE_PORT must differ from PORT (both ${port})`);

  const sandboxText = (raw('GATEWAY_SANDBOX') ?? '0').trim().toLowerCase();
  if (!['0', '1', 'true', 'false'].includes(sandboxText)) problems.push(`GATEWAY_SANDBOX must be 1 (sandbox) or 0, got ${JSON.stringify(sandboxText)}`);
  const sandbox = sandboxText === '1' || sandboxText === 'true';
  if (sandbox && databaseUrl !== undefined) {
    problems.push('GATEWAY_SANDBOX=1 runs only on a SQLite file the sandbox created, never on PostgreSQL: unset GATEWAY_DATABASE_URL');
  }

  for (const name of Object.keys(env)) {
    if (name.startsWith('GATEWAY_') && !KNOWN.has(name) && !OTHER_GATEWAY_VARIABLES.includes(name)) {
      warnings.push(`unknown variable ${name} is ignored${suggestionFor(name)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, warnings);

  const config: GatewayConfig = {
    host: mainHost,
    port,
    sqlitePath,
    databaseUrl,
    databaseSchema,
    secretsDir,
    adminToken,
    adminTokenFile: join(secretsDir, 'admin-token'),
    keyFile,
    holderKeyFile: join(secretsDir, 'holder-id-key'),
    keyFileExplicit: explicitKeyFile !== undefined,
    subwayNetworkCsvPath,
    logLevel: level as GatewayConfig['logLevel'],
    clockSkewAlertMs: skewSeconds === undefined ? undefined : skewSeconds * 1000,
    jobsIntervalMs,
    lostCardForfeitMs: forfeitDays === undefined ? undefined : forfeitDays * 86_400_000,
    dayCloseCutoffMinutes,
    dayCloseGraceMs: dayCloseGraceHours === undefined ? undefined : dayCloseGraceHours * 3_600_000,
    settlementLagDays,
    clearingKeyDir: secretsDir,
    shutdownGraceMs: graceSeconds * 1000,
    pki: {
      mode: modeText as DevicePkiMode,
      dir: pkiDir,
      keyDir: secretsDir,
      devicePort,
      deviceHost,
      advertisedHost,
      hostnames: [...new Set(['localhost', '127.0.0.1', '::1', ...(wildcard ? [] : [deviceHost]), advertisedHost, ...extra])],
      certificateValidityMs: certDays * 24 * 60 * 60 * 1000,
      enrolmentCodeTtlMs: codeHours * 60 * 60 * 1000,
    },
    sandbox,
    configFile,
    sources,
  };
  return { config, warnings };
}

/** The configuration alone (warnings dropped); throws ConfigError. */
export function readConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): GatewayConfig {
  return loadConfig({ env, cwd }).config;
}

function kindOf(path: string): 'missing' | 'file' | 'dir' | 'other' {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

function urlPassword(url: string | undefined): string {
  try {
    return url === undefined ? '' : new URL(url).password;
  } catch {
    return '';
  }
}

/** A database URL with its password replaced by "***". */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[redacted]';
  }
}

/**
 * The effective configuration as `npm run gateway -- config` prints it: every variable with its
 * value and source, and the files it implies. Secrets are redacted (the admin token entirely,
 * the database URL's password).
 */
export function describeConfig(loaded: LoadedConfig): Record<string, unknown> {
  const { config } = loaded;
  const value: Record<string, string | number | null> = {
    HOST: config.host,
    PORT: config.port,
    GATEWAY_DB: config.databaseUrl ? null : config.sqlitePath,
    GATEWAY_DATABASE_URL: config.databaseUrl ? redactDatabaseUrl(config.databaseUrl) : null,
    GATEWAY_DATABASE_SCHEMA: config.databaseSchema ?? null,
    GATEWAY_SECRETS_DIR: config.secretsDir,
    GATEWAY_ADMIN_TOKEN: config.adminToken ? '[redacted]' : null,
    GATEWAY_KEY_FILE: config.keyFile,
    SUBWAY_NETWORK_CSV: config.subwayNetworkCsvPath ?? defaultSubwayNetworkCsv(),
    LOG_LEVEL: config.logLevel,
    GATEWAY_CLOCK_SKEW_ALERT_S: config.clockSkewAlertMs === undefined ? 120 : config.clockSkewAlertMs / 1000,
    GATEWAY_JOBS_INTERVAL_MS: config.jobsIntervalMs ?? 60_000,
    GATEWAY_LOST_BALANCE_FORFEIT_DAYS: config.lostCardForfeitMs === undefined ? 30 : config.lostCardForfeitMs / 86_400_000,
    GATEWAY_DAY_CLOSE_CUTOFF:
      config.dayCloseCutoffMinutes === undefined
        ? '04:00'
        : `${String(Math.floor(config.dayCloseCutoffMinutes / 60)).padStart(2, '0')}:${String(config.dayCloseCutoffMinutes % 60).padStart(2, '0')}`,
    GATEWAY_DAY_CLOSE_GRACE_HOURS: config.dayCloseGraceMs === undefined ? 36 : config.dayCloseGraceMs / 3_600_000,
    GATEWAY_SETTLEMENT_LAG_DAYS: config.settlementLagDays ?? 1,
    GATEWAY_SHUTDOWN_GRACE_S: config.shutdownGraceMs / 1000,
    GATEWAY_DEVICE_PKI: config.pki.mode,
    GATEWAY_PKI_DIR: config.pki.dir,
    DEVICE_PORT: config.pki.devicePort,
    DEVICE_HOST: config.pki.deviceHost,
    DEVICE_PUBLIC_HOST: config.pki.advertisedHost,
    GATEWAY_DEVICE_HOSTNAMES: config.pki.hostnames.join(','),
    GATEWAY_DEVICE_CERT_DAYS: config.pki.certificateValidityMs / (24 * 60 * 60 * 1000),
    GATEWAY_ENROLMENT_CODE_HOURS: config.pki.enrolmentCodeTtlMs / (60 * 60 * 1000),
    GATEWAY_SANDBOX: config.sandbox ? 1 : 0,
  };
  const settings: Record<string, { value: string | number | null; source: string }> = {};
  for (const [name, v] of Object.entries(value)) settings[name] = { value: v, source: config.sources[name] ?? 'default' };
  return {
    configFile: config.configFile ?? null,
    store: config.databaseUrl ? 'postgresql' : 'sqlite',
    settings,
    files: {
      database: config.databaseUrl ? null : config.sqlitePath,
      secretsDir: config.secretsDir,
      adminToken: config.adminToken ? null : config.adminTokenFile,
      issuerKeys: config.keyFile,
      holderKey: config.holderKeyFile,
      clearingCentreKey: join(config.clearingKeyDir, 'clearing-centre.key.pem'),
      clearingCentreCertificate: join(config.clearingKeyDir, 'clearing-centre.cert.pem'),
      deviceCaKey: join(config.pki.keyDir, 'device-ca.key.pem'),
      deviceCaCertificate: join(config.pki.dir, 'device-ca.cert.pem'),
      listenerKey: join(config.pki.keyDir, 'device-server.key.pem'),
      listenerCertificate: join(config.pki.dir, 'device-server.cert.pem'),
    },
    warnings: loaded.warnings,
  };
}
