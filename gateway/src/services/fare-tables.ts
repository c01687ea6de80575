/**
 * Fare tables: versions published by operators, and which one a device receives at sync.
 *
 * Version 1 is built in (the configured subway network CSV and core's default policies, in force
 * from the epoch); it is never stored. Operators publish later versions with an effective date
 * (POST /v1/fare-tables): the bundle is decoded and every rule checked by core's decoder
 * (parseFareTablesJson), the version must be greater than every version there is, and the
 * effective date may not precede the latest version's. So a higher version is always in force
 * from the same instant or later, and "the table in force at t" (core's selectFareTables: latest
 * effective date not after t) never skips back to an older version.
 *
 * Sync hands a device one table per answer, the next one it needs: the table in force now if the
 * device does not have it yet, else the lowest announced (future) version above the device's.
 * "Now" is the earlier of the gateway's clock and the device's (SyncRequest.deviceTimeMs):
 * validators pick the table by their own clock, so a device running behind gets the table in
 * force on its clock first, then the newer one as announced.
 * Versions superseded before the device could use them are skipped. A device therefore holds
 * the table in force and every announced one (the validator keeps them and picks by the tap's
 * time); its sync client syncs again after an install until none is left.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  FareTablesFormatError,
  defaultFareTablesSpec,
  encodeFareTablesJson,
  LineWithoutOperatorError,
  linesWithoutOperator,
  parseFareTablesJson,
  revenueSplitTableOf,
  type FareTables,
} from '#core';
import { ApiError } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';

/** The built-in table's version (the network CSV with core's defaults). */
export const BUILT_IN_FARE_TABLE_VERSION = 1;

export interface FareTableText {
  version: number;
  json: string;
}

/** The built-in table (null when the network file cannot be read: devices keep theirs). */
export type BuiltInFareTable = () => (FareTableText & { effectiveFromMs: number }) | null;

const BUILT_IN_BY_GATEWAY = new WeakMap<object, BuiltInFareTable>();

/**
 * The built-in fare table of one gateway: version 1, in force from the epoch, built from its
 * subway network CSV and core's default policies (read once, lazily, and shared by the sync and
 * fare-table routes); null when the network file cannot be read. Operators publish later
 * versions; sync hands a device the next one it needs (fareTableForDevice), falling back to this.
 */
export function builtInFareTableOf(gateway: { subwayNetworkCsvPath: string }): BuiltInFareTable {
  let builtIn = BUILT_IN_BY_GATEWAY.get(gateway);
  if (builtIn === undefined) {
    let cached: (FareTableText & { effectiveFromMs: number }) | null | undefined;
    builtIn = () => {
      if (cached === undefined) {
        try {
          const spec = defaultFareTablesSpec(readFileSync(gateway.subwayNetworkCsvPath, 'utf8'), BUILT_IN_FARE_TABLE_VERSION, 0);
          cached = { version: BUILT_IN_FARE_TABLE_VERSION, effectiveFromMs: 0, json: encodeFareTablesJson(spec) };
        } catch {
          cached = null;
        }
      }
      return cached;
    };
    BUILT_IN_BY_GATEWAY.set(gateway, builtIn);
  }
  return builtIn;
}

export interface FareTableListing {
  version: number;
  effectiveFromMs: number;
  /** true for version 1 (built into the gateway); false for published versions. */
  builtIn: boolean;
  /** SHA-256 (hex) of the JSON text devices receive; null for the built-in table. */
  sha256: string | null;
  bytes: number | null;
  publishedBy: string | null;
  publishedMs: number | null;
}

type Raw = Record<string, string | number | bigint | null>;

function listingFromRow(r: Raw): FareTableListing {
  return {
    version: Number(r.version),
    effectiveFromMs: Number(r.effective_from_ms),
    builtIn: false,
    sha256: String(r.sha256),
    bytes: Number(r.bytes),
    publishedBy: String(r.published_by),
    publishedMs: Number(r.published_ms),
  };
}

const BUILT_IN_LISTING: FareTableListing = {
  version: BUILT_IN_FARE_TABLE_VERSION,
  effectiveFromMs: 0,
  builtIn: true,
  sha256: null,
  bytes: null,
  publishedBy: null,
  publishedMs: null,
};

async function latestPublished(tx: Tx): Promise<{ version: number; effectiveFromMs: number } | null> {
  const row = await tx.get<Raw>('SELECT version, effective_from_ms FROM fare_tables ORDER BY version DESC LIMIT 1');
  return row === undefined ? null : { version: Number(row.version), effectiveFromMs: Number(row.effective_from_ms) };
}

/**
 * Decodes a fare-tables bundle with core's decoder: malformed JSON, a missing or mistyped field,
 * or a broken rule (bands, ladder, network CSV, ids) is a 400 'invalid-fare-tables'.
 */
export function decodeFareTables(json: string): FareTables {
  let tables: FareTables;
  try {
    tables = parseFareTablesJson(json);
  } catch (error) {
    const cause = (error as Error).cause;
    if (cause instanceof LineWithoutOperatorError) throw lineWithoutOperator(cause.lines, 'revenueSplit');
    const detail = error instanceof FareTablesFormatError ? error.message : `fare tables invalid: ${(error as Error).message}`;
    throw new ApiError('invalid-fare-tables', detail.slice(0, 600));
  }
  // A bundle without its own table is split by the 2026 default: it too must cover the network.
  if (tables.spec.revenueSplit === undefined) {
    const missing = linesWithoutOperator(revenueSplitTableOf(tables.spec), tables.subway.lines);
    if (missing.length > 0) throw lineWithoutOperator(missing, 'the 2026 default table (the bundle has no revenueSplit)');
  }
  return tables;
}

function lineWithoutOperator(lines: readonly string[], table: string): ApiError {
  const shown = lines.slice(0, 20);
  return new ApiError(
    'fare-table-line-without-operator',
    `${table} gives no operator for ${lines.length === 1 ? 'line' : 'lines'} ${shown.join(', ')}${lines.length > shown.length ? ', …' : ''} of the network: every line needs one (revenueSplit.subwayLines)`,
    { lines: shown },
  );
}

/** How far back an effective date may lie (clock difference, "in force at once"): 5 minutes. */
export const FARE_TABLE_BACKDATE_GRACE_MS = 5 * 60_000;

/**
 * Publishes a fare-tables bundle (JSON text of core's format 'fare-tables/1'). Call inside one
 * transaction; refuses with ApiError and changes nothing when the bundle is bad (400) or its
 * version or effective date do not come after the latest, or the date lies in the past (409).
 */
export async function publishFareTables(tx: Tx, json: string, actor: string, nowMs: number): Promise<FareTableListing> {
  const tables = decodeFareTables(json);
  if (tables.effectiveFromMs < 0) throw new ApiError('invalid-fare-tables', 'effectiveFromMs must be epoch milliseconds (>= 0)');
  if (tables.effectiveFromMs < nowMs - FARE_TABLE_BACKDATE_GRACE_MS) {
    // Validators priced every tap since that date on the table then in force; a table dated
    // back would say those taps were charged wrongly, and nothing can re-price them.
    throw new ApiError(
      'fare-table-effective-in-past',
      `effectiveFromMs ${tables.effectiveFromMs} is more than ${FARE_TABLE_BACKDATE_GRACE_MS / 60_000} minutes in the past: a fare table takes effect now or later`,
      { nowMs },
    );
  }
  const latest = (await latestPublished(tx)) ?? { version: BUILT_IN_FARE_TABLE_VERSION, effectiveFromMs: 0 };
  if (tables.version <= latest.version) {
    throw new ApiError('fare-table-version-not-newer', `version ${tables.version} is not greater than the latest version ${latest.version}`, {
      latestVersion: latest.version,
    });
  }
  if (tables.effectiveFromMs < latest.effectiveFromMs) {
    throw new ApiError(
      'fare-table-effective-before-latest',
      `effectiveFromMs ${tables.effectiveFromMs} precedes version ${latest.version}'s ${latest.effectiveFromMs}: a later version may not take effect earlier`,
      { latestVersion: latest.version, latestEffectiveFromMs: latest.effectiveFromMs },
    );
  }
  // What devices receive: the decoded spec re-encoded (unknown members dropped, one canonical text).
  const text = encodeFareTablesJson(tables);
  const sha256 = createHash('sha256').update(text).digest('hex');
  const bytes = Buffer.byteLength(text);
  const inserted = await tx.run(
    `INSERT INTO fare_tables (version, effective_from_ms, json, sha256, bytes, published_by, published_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (version) DO NOTHING`,
    [tables.version, tables.effectiveFromMs, text, sha256, bytes, actor, nowMs],
  );
  if (inserted === 0) throw new ApiError('fare-table-version-not-newer', `version ${tables.version} was published meanwhile`);
  return { version: tables.version, effectiveFromMs: tables.effectiveFromMs, builtIn: false, sha256, bytes, publishedBy: actor, publishedMs: nowMs };
}

/** Every version, ascending: the built-in version 1, then the published ones. */
export async function listFareTables(tx: Tx): Promise<FareTableListing[]> {
  const rows = await tx.all<Raw>('SELECT version, effective_from_ms, sha256, bytes, published_by, published_ms FROM fare_tables ORDER BY version');
  return [BUILT_IN_LISTING, ...rows.map(listingFromRow)];
}

/** The JSON text of a published version (null when there is none; version 1 is built in). */
export async function publishedFareTableJson(tx: Tx, version: number): Promise<string | null> {
  const row = await tx.get<{ json: string }>('SELECT json FROM fare_tables WHERE version = ?', [version]);
  return row === undefined ? null : row.json;
}

/**
 * The table to hand a device that runs `deviceVersion`, or null when it has everything it needs.
 * Candidates are the versions above the device's (the built-in one included while the device has
 * none): the one in force at `nowMs` goes first (older candidates it supersedes are never sent),
 * else the lowest announced one.
 */
export async function fareTableForDevice(tx: Tx, deviceVersion: number, nowMs: number, builtIn: BuiltInFareTable): Promise<FareTableText | null> {
  const rows = await tx.all<Raw>('SELECT version, effective_from_ms FROM fare_tables WHERE version > ? ORDER BY version', [deviceVersion]);
  const candidates: Array<{ version: number; effectiveFromMs: number }> = rows.map((r) => ({
    version: Number(r.version),
    effectiveFromMs: Number(r.effective_from_ms),
  }));
  const fallback = deviceVersion < BUILT_IN_FARE_TABLE_VERSION ? builtIn() : null;
  if (fallback !== null) candidates.unshift({ version: fallback.version, effectiveFromMs: fallback.effectiveFromMs });
  if (candidates.length === 0) return null;
  // Effective dates ascend with versions (publishFareTables): the last one in force wins.
  let chosen = candidates[0];
  for (const c of candidates) if (c.effectiveFromMs <= nowMs) chosen = c;
  if (fallback !== null && chosen.version === fallback.version) return { version: fallback.version, json: fallback.json };
  const json = await publishedFareTableJson(tx, chosen.version);
  return json === null ? null : { version: chosen.version, json };
}
