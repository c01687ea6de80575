/**
 * `npm run validator -- <command>`: the validator firmware simulator from a terminal.
 * See HELP below (printed by --help) for every command and option; `<command> --help` prints
 * one command's. Arguments are parsed by the project's one CLI kit (tools/src/cli.ts: node:util
 * parseArgs, strict) and errors end in its exit codes: 0 done, 1 failed, 2 usage.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  defaultFareTablesSpec,
  encodeFareTablesJson,
  formatYuan,
  parseFareTablesJson,
  parseYuan,
  stationCode,
  type CardPort,
  type DeviceKind,
  type Operator,
} from '#core';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { KeyFileError, readKeyFile } from '#issuer/key-file';
import {
  type CliIo,
  EXIT_FAILED,
  EXIT_OK,
  FileError,
  intOption,
  isEntryScript,
  parseCommandLine,
  readTextArgument,
  readTextFile,
  requiredOption,
  runCli,
  UsageError,
} from '#tools/cli';
import { defaultSubwayNetworkCsv } from '#tools/shared-data';
import { Device, initDevice, type DeviceTapResult } from './device.ts';
import { DEVICE_KINDS, isDeviceKind, terminalIdFor, type DeviceProfile } from './device-profile.ts';
import { registerDevice } from './gateway-admin.ts';
import { psamFilePath, readPsamFile, writePsamFile } from './psam-file.ts';
import { presentCardFile } from './rider/card-file.ts';
import { CardWallet, type PersistentCard } from './rider/card-wallet.ts';
import { issueCardIntoWallet } from './rider/issue-cards.ts';
import { parseTapLine, parseTapStream, type ScriptedTap } from './rider/tap-stream.ts';
import { SyncClient } from './sync-client.ts';
import { deviceTlsFor, ENROL_OPTIONS_HELP, RENEW_OPTIONS_HELP, runPkiCommand } from './pki/device-tls.ts';

const DEFAULT_DB = './var/validator.db';
const DEFAULT_WALLET = './var/cards.db';

const DB_OPTION_HELP = `  --db PATH                 the device database (one SQLite file per device); default ${DEFAULT_DB}
`;

const INIT_OPTIONS_HELP = `  --device-id ID            device id (letters, digits, . _ -), as registered at the gateway
  --kind KIND               ${DEVICE_KINDS.join(' | ')}
  --station NAME|CODE       subway/suburban gates: the station (a name from the network, e.g. 西单)
  --line ID --stop N        bus validators: the line id and the stop the bus starts at
  --lot ID                  P+R gates: the lot id
  --park ID                 park gates: the park id
  --gateway URL             the gateway, e.g. http://127.0.0.1:8080 (registration and sync)
  --operator-token TOKEN    operator Bearer token to register the device (default: env GATEWAY_ADMIN_TOKEN)
  --credential TOKEN        use an existing device credential instead of registering
  --key-file PATH           the issuer's development key file the PSAM is personalised from
                            (default: env GATEWAY_KEY_FILE, else issuer-keys.json in the gateway's secrets
                            folder: env GATEWAY_SECRETS_DIR or ./var/secrets). In production this
                            step is PSAM personalisation in a secure room; the PSAM gets the purchase and
                            block master keys only (never load or TAC keys). They are written to
                            <db>.psam.json (mode 0600), never into the database.
  --fare-tables FILE        initial fare tables JSON (default: built from --subway-csv)
  --subway-csv PATH         the network CSV (default: env SUBWAY_NETWORK_CSV or ../shared/data/beijing-subway-sections.csv)
`;

const RUN_OPTIONS_HELP = `  --taps FILE               JSON-lines rider stream, one tap per line ("-" = standard input); without it,
                            an interactive prompt reads "<card number> [stop]" or a JSON tap per line
                            Line format: {"card": "<16 digits>" | "cardImage": "<file>", "at": "<ISO time>" |
                            "atMs": <epoch ms>, "stop": <bus stop>, "tear": "before-write" | "after-write"}
  --wallet PATH             the riders' card wallet (SQLite) that "card" numbers are taken from
                            (default ${DEFAULT_WALLET})
  --from N                  skip the stream's first N taps (resume after a restart)
  --json                    print one JSON object per tap instead of a text line
  --sync-every-ms N         background sync period while running (default 5000; needs a gateway)
  --no-sync                 never sync while running
  --card-latency-ms N       simulated radio time per card command (a real tap takes ~200 ms in total)
  --kill-after-card-writes N
                            fault injection for crash tests: the process SIGKILLs itself right after the
                            N-th successful card debit (the card has committed, the device's journal not)
  A tap's line is printed only after its journal row is durable (the gate opens then).
`;

const SYNC_OPTIONS_HELP = `  --batch N                 journal rows per upload (default and maximum 5000)
`;

const WALLET_ISSUE_OPTIONS_HELP = `  --wallet PATH --gateway URL --operator-token TOKEN --count N --load YUAN
                            issue N cards through the gateway and load YUAN on each (e.g. --load 50.00);
                            the wallet (default ${DEFAULT_WALLET}) is created if missing, the token defaults
                            to env GATEWAY_ADMIN_TOKEN, --count to 1, --load to 0.00
`;

const WALLET_LIST_OPTIONS_HELP = `  --wallet PATH             card numbers and effective balances (default ${DEFAULT_WALLET})
`;

const EXIT_HELP = `Exit status: 0 done; 1 the job failed (a missing or unreadable file, a refused request, sync not
drained), one line on stderr; 2 usage error (unknown command or option, a missing or bad value),
one line and the usage on stderr.`;

interface CommandDoc {
  /** As typed after "validator": "init", "wallet issue". */
  name: string;
  summary: string;
  /** Whether the command works on a device database (--db). */
  db: boolean;
  options: string;
}

const COMMANDS: readonly CommandDoc[] = [
  { name: 'init', summary: 'Create the device database, personalise its software PSAM, register it with the gateway', db: true, options: INIT_OPTIONS_HELP },
  { name: 'run', summary: 'Run the device: taps from a scripted rider stream (--taps) or typed at a prompt', db: true, options: RUN_OPTIONS_HELP },
  { name: 'sync', summary: 'Upload unsent journal rows, download blacklist and fare-table updates (until drained)', db: true, options: SYNC_OPTIONS_HELP },
  { name: 'status', summary: "Print the device's counters, journal level and versions (JSON)", db: true, options: '' },
  { name: 'enrol', summary: "Make the device's own key and CSR and get its certificate (then sync uses mutual TLS)", db: true, options: ENROL_OPTIONS_HELP },
  { name: 'renew', summary: 'Renew the device certificate over mutual TLS (sync also renews by itself when due)', db: true, options: RENEW_OPTIONS_HELP },
  { name: 'wallet issue', summary: "Issue riders' simulated cards through the gateway and load them", db: false, options: WALLET_ISSUE_OPTIONS_HELP },
  { name: 'wallet list', summary: "List the riders' simulated cards and their balances", db: false, options: WALLET_LIST_OPTIONS_HELP },
];

function commandDoc(name: string): CommandDoc {
  const doc = COMMANDS.find((c) => c.name === name);
  if (doc === undefined) throw new Error(`no help for ${name}`);
  return doc;
}

export const HELP = `validator: the offline validator firmware simulator (subway gate, bus validator, P+R gate, park gate)

Usage: npm run validator -- <command> [options]
       npm run validator -- <command> --help      one command's options

Commands
  init      Create the device database, personalise its software PSAM, register it with the gateway
  run       Run the device: taps from a scripted rider stream (--taps) or typed at a prompt
  sync      Upload unsent journal rows, download blacklist and fare-table updates (until drained)
  status    Print the device's counters, journal level and versions (JSON)
  enrol     Make the device's own key and CSR and get its certificate (then sync uses mutual TLS)
  renew     Renew the device certificate over mutual TLS (sync also renews by itself when due)
  wallet    Riders' simulated cards: "wallet issue" (issued and loaded through the gateway), "wallet list"

Every device command (all but wallet)
${DB_OPTION_HELP}  -h, --help                print the command's usage

${COMMANDS.filter((c) => c.options !== '')
  .map((c) => `${c.name}\n${c.options}`)
  .join('\n')}
${EXIT_HELP}`;

/** One command's usage: what it does, its options, the exit codes. */
export function commandHelp(name: string): string {
  if (name === 'wallet') {
    return `validator wallet: the riders' simulated cards

Usage: npm run validator -- wallet issue [options]
       npm run validator -- wallet list [options]

wallet issue
${WALLET_ISSUE_OPTIONS_HELP}
wallet list
${WALLET_LIST_OPTIONS_HELP}
${EXIT_HELP}`;
  }
  const doc = commandDoc(name);
  return `validator ${doc.name}: ${doc.summary}

Usage: npm run validator -- ${doc.name} [options]

Options
${doc.db ? DB_OPTION_HELP : ''}${doc.options}  -h, --help                print this text

${EXIT_HELP}`;
}

const DEFAULT_SUBWAY_CSV = defaultSubwayNetworkCsv();

const DB_OPTION = { db: { type: 'string' } } as const;

/** A non-negative whole number option (absent: `fallback`). */
function count(name: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  return intOption(name, value, min, max, fallback);
}

/** A whole number option the command needs. */
function requiredCount(name: string, value: string | undefined): number {
  return intOption(name, requiredOption(name, value), 0, Number.MAX_SAFE_INTEGER, 0);
}

function dbPathOf(db: string | undefined): string {
  return resolve(db ?? DEFAULT_DB);
}

function operatorOf(kind: DeviceKind): Operator {
  if (kind === 'bus') return 'bus';
  if (kind.startsWith('subway')) return 'subway';
  if (kind.startsWith('suburban')) return 'suburban';
  if (kind.startsWith('pr')) return 'pr';
  return 'park';
}

const INIT_OPTIONS = {
  ...DB_OPTION,
  'device-id': { type: 'string' },
  kind: { type: 'string' },
  station: { type: 'string' },
  line: { type: 'string' },
  stop: { type: 'string' },
  lot: { type: 'string' },
  park: { type: 'string' },
  gateway: { type: 'string' },
  'operator-token': { type: 'string' },
  credential: { type: 'string' },
  'key-file': { type: 'string' },
  'fare-tables': { type: 'string' },
  'subway-csv': { type: 'string' },
} as const;

function loadFareTablesJson(fareTables: string | undefined, subwayCsv: string | undefined): string {
  if (fareTables !== undefined) return readTextFile(fareTables, 'fare tables file');
  const csvPath = subwayCsv ?? process.env.SUBWAY_NETWORK_CSV ?? DEFAULT_SUBWAY_CSV;
  return encodeFareTablesJson(defaultFareTablesSpec(readTextFile(csvPath, 'subway network CSV', 'give --subway-csv or --fare-tables'), 1, 0));
}

/** Where the gateway keeps the development key file, by the same settings (GATEWAY_KEY_FILE, GATEWAY_SECRETS_DIR). */
function defaultKeyFile(): string {
  return process.env.GATEWAY_KEY_FILE || join(process.env.GATEWAY_SECRETS_DIR || './var/secrets', 'issuer-keys.json');
}

/** The PSAM's key material from the issuer's development key file (a missing or bad file: one line naming it). */
function psamKeyMaterialFrom(keyFile: string) {
  if (!existsSync(keyFile)) throw new FileError(keyFile, 'no such key file (start the gateway once to create it, or give --key-file)');
  let keys: ReturnType<typeof readKeyFile>;
  try {
    keys = readKeyFile(keyFile);
  } catch (error) {
    if (error instanceof KeyFileError && !error.message.includes(keyFile)) throw new FileError(keyFile, error.message);
    throw error;
  }
  return IssuerKeyService.fromKeySets(keys.keySets, keys.currentKeyVersion).psamKeyMaterial();
}

async function commandInit(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: options } = parseCommandLine(argv, INIT_OPTIONS);
  if (options.help) {
    io.out(commandHelp('init'));
    return EXIT_OK;
  }
  const dbPath = dbPathOf(options.db);
  const deviceId = requiredOption('device-id', options['device-id']);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(deviceId)) throw new UsageError('--device-id must be letters, digits, . _ - (at most 64)');
  const kind = requiredOption('kind', options.kind);
  if (!isDeviceKind(kind)) throw new UsageError(`--kind must be one of ${DEVICE_KINDS.join(', ')}`);
  const fareJson = loadFareTablesJson(options['fare-tables'], options['subway-csv']);
  const fares = parseFareTablesJson(fareJson);
  const profile: DeviceProfile = {
    deviceId,
    kind,
    operator: operatorOf(kind),
    stationCode: 0,
    stationName: '',
    busLine: 0,
    busStop: 0,
    lotId: 0,
    parkId: 0,
    terminalIdHex: terminalIdFor(deviceId),
  };
  if (kind.startsWith('subway') || kind.startsWith('suburban')) {
    const station = requiredOption('station', options.station);
    if (/^[0-9]+$/.test(station)) profile.stationCode = Number(station);
    else if (kind.startsWith('subway')) {
      try {
        profile.stationCode = stationCode(fares.subway, station);
      } catch {
        throw new UsageError(`station "${station}" is not in the subway network`);
      }
    } else {
      const found = fares.spec.suburban.stations.find((s) => s.name === station);
      if (found === undefined) throw new UsageError(`station "${station}" is not on the suburban line`);
      profile.stationCode = found.code;
    }
    profile.stationName = station;
  } else if (kind === 'bus') {
    profile.busLine = requiredCount('line', options.line);
    profile.busStop = count('stop', options.stop, 0);
    if (!fares.busLineById.has(profile.busLine))
      throw new UsageError(`bus line ${profile.busLine} is not in the fare tables (known: ${[...fares.busLineById.keys()].join(', ')})`);
  } else if (kind === 'pr-entry' || kind === 'pr-exit') {
    profile.lotId = requiredCount('lot', options.lot);
    if (!fares.lotById.has(profile.lotId)) throw new UsageError(`P+R lot ${profile.lotId} is not in the fare tables`);
  } else {
    profile.parkId = requiredCount('park', options.park);
    if (!fares.parkById.has(profile.parkId)) throw new UsageError(`park ${profile.parkId} is not in the fare tables`);
  }

  let registration: { url: string; credential: string | undefined; token: string } | undefined;
  if (options.gateway !== undefined) {
    const token = options['operator-token'] ?? process.env.GATEWAY_ADMIN_TOKEN ?? '';
    if (options.credential === undefined && token === '')
      throw new UsageError('registering needs --operator-token (or env GATEWAY_ADMIN_TOKEN), or give --credential');
    registration = { url: options.gateway, credential: options.credential, token };
  }

  // PSAM personalisation (development: from the issuer's key file).
  const material = psamKeyMaterialFrom(resolve(options['key-file'] ?? defaultKeyFile()));
  mkdirSync(dirname(dbPath), { recursive: true });
  writePsamFile(psamFilePath(dbPath), profile.terminalIdHex, material);

  let gateway: { url: string; credential: string } | undefined;
  if (registration !== undefined) {
    const credential = registration.credential ?? (await registerDevice(registration.url, registration.token, profile));
    gateway = { url: registration.url, credential };
  }
  const state = initDevice(dbPath, { profile, fareTablesJson: fareJson, gateway, nowMs: Date.now() });
  io.out(
    `initialised ${deviceId} (${kind}${profile.stationName ? ` at ${profile.stationName}` : ''}${kind === 'bus' ? ` on line ${profile.busLine}` : ''}) ` +
      `terminal ${profile.terminalIdHex}, fare tables v${fares.version}, next seq ${state.nextDeviceSeq}${gateway ? `, registered at ${gateway.url}` : ', no gateway'}`,
  );
  return EXIT_OK;
}

/** Opens an initialised device: its database and its PSAM file must exist (else one line naming the missing one). */
function openDevice(dbPath: string): Device {
  if (!existsSync(dbPath)) throw new FileError(dbPath, 'no such device database (run "validator init" first)');
  if (statSync(dbPath).isDirectory()) throw new FileError(dbPath, 'is a folder, not a device database');
  const psamPath = psamFilePath(dbPath);
  if (!existsSync(psamPath)) throw new FileError(psamPath, 'no such PSAM file (run "validator init" again to personalise the PSAM)');
  const psam = readPsamFile(psamPath);
  try {
    return Device.open(dbPath, { psamKeys: psam.keys });
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw new Error(`device database ${dbPath} is in use by a running validator (it holds the database lock; use "status" at its prompt)`);
    }
    throw error;
  }
}

/** The riders' wallet; `create` makes it (and its folder) when missing, else a missing wallet is one line naming it. */
function openWallet(path: string, create: boolean): CardWallet {
  if (!existsSync(path)) {
    if (!create) throw new FileError(path, 'no such card wallet (issue cards into it with "validator wallet issue")');
    mkdirSync(dirname(path), { recursive: true });
  }
  return new CardWallet(path);
}

/** Simulated radio time: the card answers each command after `ms` (blocking, like a reader driver). */
function slowCard(card: CardPort, ms: number): CardPort {
  if (ms <= 0) return card;
  const gate = new Int32Array(new SharedArrayBuffer(4));
  return new Proxy(card, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        Atomics.wait(gate, 0, 0, ms);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

export function formatTapLine(index: number, result: DeviceTapResult): string {
  const card = result.cardNo ?? '—';
  const parts = [`tap ${index}`, result.status === 'accepted' ? 'ACCEPTED' : 'REFUSED '];
  if (result.resultName !== 'ACCEPTED') parts.push(result.resultName);
  parts.push(`card ${card}`);
  if (result.chargeFen > 0 || result.status === 'accepted') parts.push(`fare ${formatYuan(result.chargeFen)}`);
  if (result.balanceAfterFen !== null) parts.push(`balance ${formatYuan(result.balanceAfterFen)}`);
  if (result.deviceSeqs.length > 0) parts.push(`seq ${result.deviceSeqs.join(',')}`);
  if (result.recovered) parts.push('(torn purchase recovered)');
  parts.push(result.display);
  if (result.journalLevel !== 'ok') parts.push(`JOURNAL ${result.journalLevel.toUpperCase()}`);
  return parts.join('  ');
}

const RUN_OPTIONS = {
  ...DB_OPTION,
  taps: { type: 'string' },
  wallet: { type: 'string' },
  from: { type: 'string' },
  json: { type: 'boolean' },
  'sync-every-ms': { type: 'string' },
  'no-sync': { type: 'boolean' },
  'card-latency-ms': { type: 'string' },
  'kill-after-card-writes': { type: 'string' },
} as const;

async function commandRun(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: options } = parseCommandLine(argv, RUN_OPTIONS);
  if (options.help) {
    io.out(commandHelp('run'));
    return EXIT_OK;
  }
  const { out, err } = io;
  // Every option is checked and the tap stream read before the device opens.
  const latencyMs = count('card-latency-ms', options['card-latency-ms'], 0);
  const json = options.json === true;
  const from = count('from', options.from, 0);
  const killAfterWrites = count('kill-after-card-writes', options['kill-after-card-writes'], 0);
  const every = count('sync-every-ms', options['sync-every-ms'], 5_000, 1);
  const taps = options.taps === undefined ? null : parseTapStream(readTextArgument(options.taps));
  const walletPath = resolve(options.wallet ?? DEFAULT_WALLET);
  const dbPath = dbPathOf(options.db);
  const device = openDevice(dbPath);
  let wallet: CardWallet | null = null;
  let cardWrites = 0;
  const afterCardWrite = (command: string, response: { sw: number }): void => {
    if (command !== 'debitForPurchase' || response.sw !== 0x9000) return;
    cardWrites++;
    if (killAfterWrites > 0 && cardWrites >= killAfterWrites) process.kill(process.pid, 'SIGKILL');
  };
  let stopping = false;

  // Background sync while the device runs (taps never wait for it).
  const link = device.gatewayLink();
  let syncTimer: NodeJS.Timeout | null = null;
  let syncing: Promise<unknown> = Promise.resolve();
  if (link !== undefined && options['no-sync'] !== true) {
    // With a device certificate (validator enrol), sync goes over mutual TLS to the device port.
    const client = new SyncClient({ device, gatewayUrl: link.url, credential: link.credential, ...deviceTlsFor(dbPath) });
    const tick = (): void => {
      syncing = client
        .drain({ maxRounds: 50 })
        .then((r) => err(`sync: ${r.status}, uploaded ${r.uploaded}, unsent ${r.remainingUnacked}${r.lastError ? ` (${r.lastError})` : ''}`))
        .catch((e: unknown) => err(`sync failed: ${(e as Error).message}`))
        .finally(() => {
          if (!stopping) syncTimer = setTimeout(tick, every);
        });
    };
    syncTimer = setTimeout(tick, every);
  }

  const doTap = (tap: ScriptedTap): void => {
    let card: PersistentCard;
    if (tap.card !== null) {
      wallet ??= openWallet(walletPath, false);
      card = wallet.present(tap.card, undefined, afterCardWrite);
    } else card = presentCardFile(resolve(tap.cardImage as string));
    if (tap.tear !== null) card.simulator.tearAt({ command: 'debitForPurchase', moment: tap.tear });
    if (tap.stop !== null && device.profile.kind === 'bus') device.setBusStop(tap.stop);
    const result = device.tap(slowCard(card, latencyMs), tap.atMs ?? Date.now());
    // Printed only now: the journal commit inside tap() is durable.
    if (json) out(JSON.stringify({ tap: tap.index, ...result, decision: undefined }));
    else out(formatTapLine(tap.index, result));
    // Between taps: keep the WAL bounded (the automatic checkpoint is off; see Device).
    device.maybeCheckpoint();
  };

  try {
    if (taps !== null) {
      // A stream that names wallet cards needs the wallet before its first tap.
      if (taps.some((tap) => tap.index >= from && tap.card !== null)) wallet = openWallet(walletPath, false);
      for (const tap of taps) {
        if (tap.index < from) continue;
        doTap(tap);
        // Let the background sync (and blacklist batches) run between taps.
        await new Promise((r) => setImmediate(r));
      }
    } else {
      const rl = createInterface({ input: process.stdin, terminal: process.stdin.isTTY === true });
      if (process.stdin.isTTY) err('tap a card: "<card number> [stop]" or a JSON tap; "status", "quit"');
      let index = 0;
      for await (const raw of rl) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) continue;
        if (line === 'quit' || line === 'exit') break;
        if (line === 'status') {
          out(JSON.stringify(device.status()));
          continue;
        }
        try {
          let tap: ScriptedTap;
          if (line.startsWith('{')) tap = parseTapLine(line, index, index + 1);
          else {
            const [cardNo, stop] = line.split(/\s+/);
            tap = parseTapLine(JSON.stringify({ card: cardNo, ...(stop !== undefined ? { stop: Number(stop) } : {}) }), index, index + 1);
          }
          index++;
          doTap(tap);
        } catch (error) {
          err(`not a tap: ${(error as Error).message}`);
        }
      }
    }
  } finally {
    stopping = true;
    if (syncTimer !== null) clearTimeout(syncTimer);
    await syncing;
    (wallet as CardWallet | null)?.close();
    device.checkpoint();
    device.close();
  }
  return EXIT_OK;
}

const SYNC_OPTIONS = { ...DB_OPTION, batch: { type: 'string' } } as const;

async function commandSync(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: options } = parseCommandLine(argv, SYNC_OPTIONS);
  if (options.help) {
    io.out(commandHelp('sync'));
    return EXIT_OK;
  }
  const batchRecords = count('batch', options.batch, 5_000, 1, 5_000);
  const dbPath = dbPathOf(options.db);
  const device = openDevice(dbPath);
  try {
    const link = device.gatewayLink();
    if (link === undefined) throw new Error('this device has no gateway: run "validator init --gateway URL ..."');
    const client = new SyncClient({ device, gatewayUrl: link.url, credential: link.credential, batchRecords, ...deviceTlsFor(dbPath) });
    const result = await client.drain();
    device.checkpoint();
    io.out(JSON.stringify({ ...result, state: device.status() }));
    return result.status === 'drained' ? EXIT_OK : EXIT_FAILED;
  } finally {
    device.close();
  }
}

async function commandStatus(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: options } = parseCommandLine(argv, DB_OPTION);
  if (options.help) {
    io.out(commandHelp('status'));
    return EXIT_OK;
  }
  const device = openDevice(dbPathOf(options.db));
  try {
    io.out(JSON.stringify(device.status(), null, 2));
  } finally {
    device.close();
  }
  return EXIT_OK;
}

const PKI_OPTIONS = {
  enrol: { ...DB_OPTION, code: { type: 'string' }, 'operator-token': { type: 'string' }, gateway: { type: 'string' } },
  renew: { ...DB_OPTION, 'device-url': { type: 'string' }, 'if-due': { type: 'boolean' } },
} as const;

async function commandPki(command: 'enrol' | 'renew', argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommandLine(argv, { ...PKI_OPTIONS.enrol, ...PKI_OPTIONS.renew });
  // One parse for both (their option values share a type); a flag of the other command is refused here.
  const allowed = new Set<string>([...Object.keys(PKI_OPTIONS[command]), 'help']);
  const stray = Object.keys(values).find((name) => !allowed.has(name));
  if (stray !== undefined) throw new UsageError(`unknown option '--${stray}'`);
  if (values.help) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  const dbPath = dbPathOf(values.db);
  const device = openDevice(dbPath);
  const deviceId = device.deviceId;
  const link = device.gatewayLink();
  device.close();
  const summary = await runPkiCommand(command, {
    dbPath,
    deviceId,
    link,
    code: values.code,
    operatorToken: values['operator-token'] ?? (command === 'enrol' && values.code === undefined ? process.env.GATEWAY_ADMIN_TOKEN || undefined : undefined),
    gatewayUrl: values.gateway,
    deviceUrl: values['device-url'],
    ifDue: values['if-due'] === true,
  });
  io.out(JSON.stringify(summary));
  return EXIT_OK;
}

const WALLET_OPTIONS = {
  issue: {
    wallet: { type: 'string' },
    gateway: { type: 'string' },
    'operator-token': { type: 'string' },
    count: { type: 'string' },
    load: { type: 'string' },
  },
  list: { wallet: { type: 'string' } },
} as const;

async function commandWalletIssue(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: options } = parseCommandLine(argv, WALLET_OPTIONS.issue);
  if (options.help) {
    io.out(commandHelp('wallet issue'));
    return EXIT_OK;
  }
  const gatewayUrl = requiredOption('gateway', options.gateway);
  const operatorToken = requiredOption('operator-token', options['operator-token'] ?? process.env.GATEWAY_ADMIN_TOKEN);
  const cards = count('count', options.count, 1);
  let amountFen: number;
  try {
    amountFen = parseYuan(options.load ?? '0');
  } catch {
    throw new UsageError(`--load needs an amount in yuan such as 50.00, got "${options.load}"`);
  }
  const wallet = openWallet(resolve(options.wallet ?? DEFAULT_WALLET), true);
  try {
    let counterToken: string | undefined;
    for (let i = 0; i < cards; i++) {
      const issued = await issueCardIntoWallet(wallet, { gatewayUrl, operatorToken, amountFen }, counterToken);
      counterToken = issued.counterToken;
      io.out(`issued ${issued.cardNo} with ${formatYuan(amountFen)}`);
    }
  } finally {
    wallet.close();
  }
  return EXIT_OK;
}

function commandWalletList(argv: readonly string[], io: CliIo): number {
  const { values: options } = parseCommandLine(argv, WALLET_OPTIONS.list);
  if (options.help) {
    io.out(commandHelp('wallet list'));
    return EXIT_OK;
  }
  const wallet = openWallet(resolve(options.wallet ?? DEFAULT_WALLET), false);
  try {
    for (const cardNo of wallet.cardNumbers()) {
      const image = wallet.image(cardNo);
      io.out(`${cardNo}  balance ${formatYuan(image.balanceFen - image.overdraftUsedFen)}${image.locked ? '  LOCKED' : ''}`);
    }
  } finally {
    wallet.close();
  }
  return EXIT_OK;
}

/** `validator wallet <issue|list>`; `wallet --help` prints both. */
async function commandWallet(argv: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'issue') return commandWalletIssue(rest, io);
  if (sub === 'list') return commandWalletList(rest, io);
  if (sub === undefined || sub.startsWith('-')) {
    const { values } = parseCommandLine(argv, {});
    if (values.help) {
      io.out(commandHelp('wallet'));
      return EXIT_OK;
    }
    throw new UsageError('wallet needs "issue" or "list"');
  }
  throw new UsageError(`unknown wallet command '${sub}' (wallet issue, wallet list)`);
}

const DEVICE_COMMANDS = ['init', 'run', 'sync', 'status', 'enrol', 'renew'] as const;

/** The usage printed with a usage error: the command's own when the command is known, else the full help. */
function usageFor(argv: readonly string[]): string {
  const [command, sub] = argv;
  if ((DEVICE_COMMANDS as readonly string[]).includes(command)) return commandHelp(command);
  if (command === 'wallet') return sub === 'issue' || sub === 'list' ? commandHelp(`wallet ${sub}`) : commandHelp('wallet');
  return HELP;
}

/** Runs one command line; returns the exit code (0 done, 1 failed, 2 usage) instead of exiting. */
export async function main(
  argv: string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  const io: CliIo = { out, err };
  return runCli(
    'validator',
    usageFor(argv),
    async () => {
      const [command, ...rest] = argv;
      switch (command) {
        case 'init':
          return commandInit(rest, io);
        case 'run':
          return commandRun(rest, io);
        case 'sync':
          return commandSync(rest, io);
        case 'status':
          return commandStatus(rest, io);
        case 'enrol':
        case 'renew':
          return commandPki(command, rest, io);
        case 'wallet':
          return commandWallet(rest, io);
        case 'help': {
          // "validator help [command [sub]]"
          const [topic, sub] = rest;
          if (topic === undefined) out(HELP);
          else if ((DEVICE_COMMANDS as readonly string[]).includes(topic) || topic === 'wallet') out(usageFor([topic, sub ?? '']));
          else throw new UsageError(`unknown command '${topic}'`);
          return EXIT_OK;
        }
        case undefined:
          throw new UsageError('missing command');
        default: {
          if (!command.startsWith('-')) throw new UsageError(`unknown command '${command}'`);
          // Only -h/--help may come before the command ("validator --help init" = "validator init --help").
          if (command === '-h' || command === '--help') {
            if (rest.length === 0) out(HELP);
            else if (usageFor(rest) !== HELP) out(usageFor(rest));
            else throw new UsageError(`unknown command '${rest[0]}'`);
            return EXIT_OK;
          }
          throw new UsageError(`the command comes first: validator <command> [options] (got '${command}')`);
        }
      }
    },
    io,
  );
}

if (isEntryScript(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
