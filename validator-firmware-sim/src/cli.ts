/**
 * `npm run validator -- <command>`: the validator firmware simulator from a terminal.
 * See HELP below (printed by --help) for every command and option.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
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
import { defaultSubwayNetworkCsv } from '#tools/shared-data';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { readKeyFile } from '#issuer/key-file';
import { Device, initDevice, type DeviceTapResult } from './device.ts';
import { DEVICE_KINDS, isDeviceKind, terminalIdFor, type DeviceProfile } from './device-profile.ts';
import { registerDevice } from './gateway-admin.ts';
import { psamFilePath, readPsamFile, writePsamFile } from './psam-file.ts';
import { presentCardFile } from './rider/card-file.ts';
import { CardWallet, type PersistentCard } from './rider/card-wallet.ts';
import { issueCardIntoWallet } from './rider/issue-cards.ts';
import { parseTapLine, parseTapStream, type ScriptedTap } from './rider/tap-stream.ts';
import { SyncClient } from './sync-client.ts';
import { deviceTlsFor, PKI_HELP, runPkiCommand } from './pki/device-tls.ts';

export const HELP = `validator: the offline validator firmware simulator (subway gate, bus validator, P+R gate, park gate)

Usage: npm run validator -- <command> [options]

Commands
  init      Create the device database, personalise its software PSAM, register it with the gateway
  run       Run the device: taps from a scripted rider stream (--taps) or typed at a prompt
  sync      Upload unsent journal rows, download blacklist and fare-table updates (until drained)
  status    Print the device's counters, journal level and versions (JSON)
  enrol     Make the device's own key and CSR and get its certificate (then sync uses mutual TLS)
  renew     Renew the device certificate over mutual TLS (sync also renews by itself when due)
  wallet    Riders' simulated cards: "wallet issue" (issued and loaded through the gateway), "wallet list"

Every command
  --db PATH                 the device database (one SQLite file per device); default ./var/validator.db

init
  --device-id ID            device id (letters, digits, . _ -), as registered at the gateway
  --kind KIND               ${DEVICE_KINDS.join(' | ')}
  --station NAME|CODE       subway/suburban gates: the station (a name from the network, e.g. 西单)
  --line ID --stop N        bus validators: the line id and the stop the bus starts at
  --lot ID                  P+R gates: the lot id
  --park ID                 park gates: the park id
  --gateway URL             the gateway, e.g. http://127.0.0.1:8080 (registration and sync)
  --operator-token TOKEN    operator Bearer token to register the device (default: env GATEWAY_ADMIN_TOKEN)
  --credential TOKEN        use an existing device credential instead of registering
  --key-file PATH           the issuer's development key file the PSAM is personalised from
                            (default: env GATEWAY_KEY_FILE or ./var/issuer-keys.json). In production this
                            step is PSAM personalisation in a secure room; the PSAM gets the purchase and
                            block master keys only (never load or TAC keys). They are written to
                            <db>.psam.json (mode 0600), never into the database.
  --fare-tables FILE        initial fare tables JSON (default: built from --subway-csv)
  --subway-csv PATH         the network CSV (default: env SUBWAY_NETWORK_CSV or ../shared/data/beijing-subway-sections.csv)

run
  --taps FILE               JSON-lines rider stream, one tap per line ("-" = standard input); without it,
                            an interactive prompt reads "<card number> [stop]" or a JSON tap per line
                            Line format: {"card": "<16 digits>" | "cardImage": "<file>", "at": "<ISO time>" |
                            "atMs": <epoch ms>, "stop": <bus stop>, "tear": "before-write" | "after-write"}
  --wallet PATH             the riders' card wallet (SQLite) that "card" numbers are taken from
                            (default ./var/cards.db)
  --from N                  skip the stream's first N taps (resume after a restart)
  --json                    print one JSON object per tap instead of a text line
  --sync-every-ms N         background sync period while running (default 5000; needs a gateway)
  --no-sync                 never sync while running
  --card-latency-ms N       simulated radio time per card command (a real tap takes ~200 ms in total)
  --kill-after-card-writes N
                            fault injection for crash tests: the process SIGKILLs itself right after the
                            N-th successful card debit (the card has committed, the device's journal not)
  A tap's line is printed only after its journal row is durable (the gate opens then).

sync
  --batch N                 journal rows per upload (default and maximum 5000)

${PKI_HELP}
wallet issue
  --wallet PATH --gateway URL --operator-token TOKEN --count N --load YUAN
                            issue N cards through the gateway and load YUAN on each (e.g. --load 50.00)
wallet list
  --wallet PATH             card numbers and effective balances

Exit status: 0 success, 1 failure, 2 usage error.
`;

const DEFAULT_SUBWAY_CSV = defaultSubwayNetworkCsv();

class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = Record<string, string | boolean>;

/** Minimal flag parser: --name value, --flag, --name=value. */
export function parseCliArgs(argv: string[]): { command: string | null; sub: string | null; options: Options } {
  const options: Options = {};
  const positional: string[] = [];
  const booleans = new Set(['json', 'no-sync', 'help', 'h', 'if-due']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--') || arg === '-h') {
      const eq = arg.indexOf('=');
      const name = arg === '-h' ? 'help' : arg.slice(2, eq > 0 ? eq : undefined);
      if (eq > 0) options[name] = arg.slice(eq + 1);
      else if (booleans.has(name)) options[name] = true;
      else {
        const value = argv[i + 1];
        if (value === undefined || (value.startsWith('--') && value !== '-')) throw new UsageError(`--${name} needs a value`);
        options[name] = value;
        i++;
      }
    } else positional.push(arg);
  }
  return { command: positional[0] ?? null, sub: positional[1] ?? null, options };
}

function str(options: Options, name: string, fallback?: string): string {
  const value = options[name];
  if (typeof value === 'string') return value;
  if (fallback !== undefined) return fallback;
  throw new UsageError(`--${name} is required`);
}

function int(options: Options, name: string, fallback?: number): number {
  const value = options[name];
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new UsageError(`--${name} is required`);
  }
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

function operatorOf(kind: DeviceKind): Operator {
  if (kind === 'bus') return 'bus';
  if (kind.startsWith('subway')) return 'subway';
  if (kind.startsWith('suburban')) return 'suburban';
  if (kind.startsWith('pr')) return 'pr';
  return 'park';
}

function loadFareTablesJson(options: Options): string {
  if (typeof options['fare-tables'] === 'string') return readFileSync(options['fare-tables'], 'utf8');
  const csvPath = str(options, 'subway-csv', process.env.SUBWAY_NETWORK_CSV ?? DEFAULT_SUBWAY_CSV);
  if (!existsSync(csvPath)) throw new UsageError(`subway network CSV not found at ${csvPath}: give --subway-csv or --fare-tables`);
  return encodeFareTablesJson(defaultFareTablesSpec(readFileSync(csvPath, 'utf8'), 1, 0));
}

async function commandInit(options: Options, out: (line: string) => void): Promise<void> {
  const dbPath = resolve(str(options, 'db', './var/validator.db'));
  const deviceId = str(options, 'device-id');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(deviceId)) throw new UsageError('--device-id must be letters, digits, . _ - (at most 64)');
  const kind = str(options, 'kind');
  if (!isDeviceKind(kind)) throw new UsageError(`--kind must be one of ${DEVICE_KINDS.join(', ')}`);
  const fareJson = loadFareTablesJson(options);
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
    const station = str(options, 'station');
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
    profile.busLine = int(options, 'line');
    profile.busStop = int(options, 'stop', 0);
    if (!fares.busLineById.has(profile.busLine))
      throw new UsageError(`bus line ${profile.busLine} is not in the fare tables (known: ${[...fares.busLineById.keys()].join(', ')})`);
  } else if (kind === 'pr-entry' || kind === 'pr-exit') {
    profile.lotId = int(options, 'lot');
    if (!fares.lotById.has(profile.lotId)) throw new UsageError(`P+R lot ${profile.lotId} is not in the fare tables`);
  } else {
    profile.parkId = int(options, 'park');
    if (!fares.parkById.has(profile.parkId)) throw new UsageError(`park ${profile.parkId} is not in the fare tables`);
  }

  // PSAM personalisation (development: from the issuer's key file).
  const keyFile = resolve(str(options, 'key-file', process.env.GATEWAY_KEY_FILE ?? './var/issuer-keys.json'));
  if (!existsSync(keyFile)) throw new UsageError(`key file ${keyFile} not found (start the gateway once to create it, or give --key-file)`);
  const keys = readKeyFile(keyFile);
  const material = IssuerKeyService.fromKeySets(keys.keySets, keys.currentKeyVersion).psamKeyMaterial();
  writePsamFile(psamFilePath(dbPath), profile.terminalIdHex, material);

  let gateway: { url: string; credential: string } | undefined;
  if (typeof options.gateway === 'string') {
    const url = options.gateway;
    let credential = typeof options.credential === 'string' ? options.credential : undefined;
    if (credential === undefined) {
      const token = str(options, 'operator-token', process.env.GATEWAY_ADMIN_TOKEN ?? '');
      if (token === '') throw new UsageError('registering needs --operator-token (or env GATEWAY_ADMIN_TOKEN), or give --credential');
      credential = await registerDevice(url, token, profile);
    }
    gateway = { url, credential };
  }
  const state = initDevice(dbPath, { profile, fareTablesJson: fareJson, gateway, nowMs: Date.now() });
  out(
    `initialised ${deviceId} (${kind}${profile.stationName ? ` at ${profile.stationName}` : ''}${kind === 'bus' ? ` on line ${profile.busLine}` : ''}) ` +
      `terminal ${profile.terminalIdHex}, fare tables v${fares.version}, next seq ${state.nextDeviceSeq}${gateway ? `, registered at ${gateway.url}` : ', no gateway'}`,
  );
}

function openDevice(options: Options): Device {
  const dbPath = resolve(str(options, 'db', './var/validator.db'));
  if (!existsSync(dbPath)) throw new UsageError(`device database ${dbPath} does not exist: run "validator init" first`);
  const psam = readPsamFile(psamFilePath(dbPath));
  try {
    return Device.open(dbPath, { psamKeys: psam.keys });
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw new UsageError(`device database ${dbPath} is in use by a running validator (it holds the database lock; use "status" at its prompt)`);
    }
    throw error;
  }
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

async function commandRun(options: Options, out: (line: string) => void, err: (line: string) => void): Promise<void> {
  const device = openDevice(options);
  const walletPath = resolve(str(options, 'wallet', './var/cards.db'));
  let wallet: CardWallet | null = null;
  const latencyMs = int(options, 'card-latency-ms', 0);
  const json = options.json === true;
  const from = int(options, 'from', 0);
  const killAfterWrites = int(options, 'kill-after-card-writes', 0);
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
    const client = new SyncClient({
      device,
      gatewayUrl: link.url,
      credential: link.credential,
      ...deviceTlsFor(resolve(str(options, 'db', './var/validator.db'))),
    });
    const every = int(options, 'sync-every-ms', 5_000);
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
      wallet ??= new CardWallet(walletPath);
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
    if (typeof options.taps === 'string') {
      const text = options.taps === '-' ? readFileSync(0, 'utf8') : readFileSync(resolve(options.taps), 'utf8');
      const taps = parseTapStream(text);
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
}

async function commandSync(options: Options, out: (line: string) => void): Promise<boolean> {
  const device = openDevice(options);
  try {
    const link = device.gatewayLink();
    if (link === undefined) throw new UsageError('this device has no gateway: run "validator init --gateway URL ..."');
    const client = new SyncClient({
      device,
      gatewayUrl: link.url,
      credential: link.credential,
      batchRecords: int(options, 'batch', 5_000),
      ...deviceTlsFor(resolve(str(options, 'db', './var/validator.db'))),
    });
    const result = await client.drain();
    device.checkpoint();
    out(JSON.stringify({ ...result, state: device.status() }));
    return result.status === 'drained';
  } finally {
    device.close();
  }
}

async function commandWallet(sub: string | null, options: Options, out: (line: string) => void): Promise<void> {
  const wallet = new CardWallet(resolve(str(options, 'wallet', './var/cards.db')));
  try {
    if (sub === 'list') {
      for (const cardNo of wallet.cardNumbers()) {
        const image = wallet.image(cardNo);
        out(`${cardNo}  balance ${formatYuan(image.balanceFen - image.overdraftUsedFen)}${image.locked ? '  LOCKED' : ''}`);
      }
      return;
    }
    if (sub !== 'issue') throw new UsageError('wallet needs "issue" or "list"');
    const count = int(options, 'count', 1);
    const amountFen = parseYuan(str(options, 'load', '0'));
    let counterToken: string | undefined;
    for (let i = 0; i < count; i++) {
      const issued = await issueCardIntoWallet(
        wallet,
        { gatewayUrl: str(options, 'gateway'), operatorToken: str(options, 'operator-token', process.env.GATEWAY_ADMIN_TOKEN), amountFen },
        counterToken,
      );
      counterToken = issued.counterToken;
      out(`issued ${issued.cardNo} with ${formatYuan(amountFen)}`);
    }
  } finally {
    wallet.close();
  }
}

export async function main(
  argv: string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  try {
    const { command, sub, options } = parseCliArgs(argv);
    if (options.help === true || command === null || command === 'help') {
      out(HELP);
      return command === null && options.help !== true ? 2 : 0;
    }
    switch (command) {
      case 'init':
        await commandInit(options, out);
        return 0;
      case 'run':
        await commandRun(options, out, err);
        return 0;
      case 'sync':
        return (await commandSync(options, out)) ? 0 : 1;
      case 'status': {
        const device = openDevice(options);
        try {
          out(JSON.stringify(device.status(), null, 2));
        } finally {
          device.close();
        }
        return 0;
      }
      case 'wallet':
        await commandWallet(sub, options, out);
        return 0;
      case 'enrol':
      case 'renew': {
        const device = openDevice(options);
        const deviceId = device.deviceId;
        const link = device.gatewayLink();
        device.close();
        const text = (name: string): string | undefined => (typeof options[name] === 'string' ? (options[name] as string) : undefined);
        const summary = await runPkiCommand(command, {
          dbPath: resolve(str(options, 'db', './var/validator.db')),
          deviceId,
          link,
          code: text('code'),
          operatorToken:
            text('operator-token') ?? (command === 'enrol' && text('code') === undefined ? process.env.GATEWAY_ADMIN_TOKEN || undefined : undefined),
          gatewayUrl: text('gateway'),
          deviceUrl: text('device-url'),
          ifDue: options['if-due'] === true,
        });
        out(JSON.stringify(summary));
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}" (try --help)`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      err(`validator: ${error.message}`);
      return 2;
    }
    err(`validator: ${(error as Error).message}`);
    return 1;
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
