/**
 * The sandbox's start rules (main.ts runs them before anything is written):
 * - GATEWAY_SANDBOX=1 runs only on a SQLite file the sandbox created (a missing file is created
 *   and marked; an existing one must carry the mark) and on sandbox keys (`"sandbox": true`; a
 *   missing key file at the default path is generated as such, unless the sandbox database
 *   exists already: its cards were made with the keys that are gone). PostgreSQL is refused by the
 *   configuration itself (config.ts).
 * - A gateway without the sandbox refuses a sandbox database and sandbox keys.
 * Each refusal is one line; nothing is created or changed.
 */
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { readKeyFile } from '#issuer/key-file';
import { type BuildGatewayOptions, buildGateway } from '../app.ts';
import { sandboxCardReader } from '../console/card-reader.ts';
import type { GatewayConfig } from '../config.ts';
import type { Store } from '../store/store-port.ts';
import { installSandboxHeader, registerSandboxRoutes, type SandboxOptions } from './install.ts';
import { SandboxClock } from './sandbox-clock.ts';
import { inspectSqliteFile, isSandboxStore, markSandboxDatabase } from './sandbox-db.ts';
import { VirtualCards, type VirtualCardsOptions } from './virtual-cards.ts';

/** The refusals for this configuration, one line each (empty: the start may go on). Writes nothing. */
export function sandboxStartRefusals(config: Pick<GatewayConfig, 'sandbox' | 'keyFile' | 'sqlitePath' | 'databaseUrl'>): string[] {
  const refusals: string[] = [];
  const keys = existsSync(config.keyFile) ? readKeyFile(config.keyFile) : null;
  if (config.sandbox) {
    if (keys !== null && keys.sandbox !== true) {
      refusals.push(
        `GATEWAY_SANDBOX=1 refuses the key file ${config.keyFile}: it holds real issuer keys; the sandbox runs only on keys it generated (use a GATEWAY_SECRETS_DIR of its own)`,
      );
    }
    let kind: ReturnType<typeof inspectSqliteFile>;
    try {
      kind = inspectSqliteFile(config.sqlitePath);
    } catch (error) {
      refusals.push(`GATEWAY_SANDBOX=1 refuses ${config.sqlitePath}: not a SQLite database (${(error as Error).message})`);
      return refusals;
    }
    if (kind === 'sandbox' && keys === null) {
      refusals.push(
        `GATEWAY_SANDBOX=1 refuses the database ${config.sqlitePath}: its cards were made with sandbox keys, and the key file ${config.keyFile} is gone (start a new sandbox: a new GATEWAY_DB)`,
      );
    }
    if (kind === 'not-sandbox') {
      refusals.push(
        `GATEWAY_SANDBOX=1 refuses the database ${config.sqlitePath}: it was not created by the sandbox (give GATEWAY_DB a new file: the sandbox creates and marks it)`,
      );
    }
    return refusals;
  }
  if (keys?.sandbox === true) {
    refusals.push(`the key file ${config.keyFile} holds sandbox keys: only a sandbox (GATEWAY_SANDBOX=1) runs on them, never a gateway for real money`);
  }
  if (!config.databaseUrl) {
    let kind: ReturnType<typeof inspectSqliteFile> = 'missing';
    try {
      kind = inspectSqliteFile(config.sqlitePath);
    } catch {
      // Not a database: the store says so when it opens it.
    }
    if (kind === 'sandbox') {
      refusals.push(
        `the database ${config.sqlitePath} was created by the sandbox: only a sandbox (GATEWAY_SANDBOX=1) runs on it, never a gateway for real money`,
      );
    }
  }
  return refusals;
}

/**
 * The sandbox on an open store: marks a database it has just created (`created`), checks the
 * mark, opens the clock and the card service (its own key holder, read from the sandbox key file).
 */
export async function openSandbox(
  store: Store,
  keyFile: string,
  options: { created: boolean; realNow?: () => number } & VirtualCardsOptions,
): Promise<SandboxOptions> {
  const realNow = options.realNow ?? Date.now;
  if (options.created) await markSandboxDatabase(store, realNow());
  if (!(await isSandboxStore(store))) throw new Error('the sandbox runs only on a database it created');
  const clock = await SandboxClock.open(store, realNow);
  const cardKeys = readKeyFile(keyFile);
  const cards = new VirtualCards(store, cardKeys, { random: options.random, clock: clock.now });
  return { clock, cards };
}

/** buildGateway on the sandbox clock, with the `Sandbox: true` header and the sandbox routes. */
export async function buildSandboxGateway(options: Omit<BuildGatewayOptions, 'clock'> & { sandbox: SandboxOptions }): Promise<FastifyInstance> {
  const { sandbox, ...rest } = options;
  // The console's counter card reader is the sandbox card service (its simulated cards).
  const consoleOptions = rest.console === false ? false : { ...(rest.console ?? {}), cardReader: rest.console?.cardReader ?? sandboxCardReader(sandbox.cards) };
  const app = await buildGateway({ ...rest, clock: sandbox.clock.now, console: consoleOptions });
  installSandboxHeader(app);
  await registerSandboxRoutes(app, sandbox);
  return app;
}
