/**
 * Money anomalies for the engineer on call: the rows sync ingest (services/sync-ingest.ts) and
 * load resolution (services/loads.ts) write to `money_anomalies` (migration 102) when the money
 * needs a person: an ATC gap, a cloned card, a replayed or bad TAC, a reinstated teller void.
 *
 * Read in ascending id (oldest first) with keyset pagination: `after` is the last id the caller
 * has seen, so a poller that keeps it sees each new anomaly once. On SQLite writes are
 * serialised, so ids become visible in order. On PostgreSQL two transactions may commit out of
 * id order (a sequence value is taken at insert, not at commit): a row can appear below an id
 * already read, so a poller that must miss nothing re-reads a short overlap and drops ids it
 * has. Plain `?` SQL through the store port: SQLite and PostgreSQL alike.
 */
import type { Tx } from '../store/store-port.ts';

/**
 * Every kind written today, with what it means and what to do. The query's `kind` filter accepts
 * exactly these (test/gateway/ops-anomalies.test.ts checks the writers use no other).
 */
export const MONEY_ANOMALY_KINDS = {
  'atc-gap':
    'a card\'s debits arrived above an offline ATC that has not been uploaded yet (atc = the first missing one): a device holding that tap has not synced, or lost it; see "open"',
  'cloned-card': 'two different debits at one offline ATC of the card: the second is quarantined and the card blacklisted "cloned"',
  'tac-replayed': 'a genuine debit uploaded again under another offline ATC: the copy is quarantined, never charged; check the device',
  'tac-invalid': 'a debit whose TAC does not verify: quarantined, the device flagged',
  'load-void-reversed':
    'a teller-voided load (payment returned) was credited on the card with its MAC2 after all: the load is reinstated; the branch must re-charge the payer',
} as const;

export type MoneyAnomalyKind = keyof typeof MONEY_ANOMALY_KINDS;
export const MONEY_ANOMALY_KIND_NAMES = Object.keys(MONEY_ANOMALY_KINDS) as MoneyAnomalyKind[];

export interface MoneyAnomaly {
  id: number;
  /** One of MONEY_ANOMALY_KINDS (a string, so a row of a kind added later is still shown). */
  kind: string;
  cardNo: string;
  /** Offline ATC for the journal kinds (atc-gap: the first missing one); online ATC of the load for load-void-reversed. */
  atc: number;
  /** The device whose record it is; null for atc-gap (no record) and load-void-reversed (a load). */
  deviceId: string | null;
  deviceSeq: number | null;
  /** load-void-reversed only: the reinstated load (GET /v1/loads/{id}). */
  loadId: string | null;
  /** atc-gap only: true while the missing ATC has still not arrived, false once it has; null for other kinds. */
  open: boolean | null;
  detail: string;
  atMs: number;
}

export interface MoneyAnomalyQuery {
  kind?: MoneyAnomalyKind;
  cardNo?: string;
  /** Rows with a greater id only (0: from the start). */
  afterId: number;
  limit: number;
}

export interface MoneyAnomalyPage {
  anomalies: MoneyAnomaly[];
  /** More rows match after this page. */
  more: boolean;
  /** Pass as `after` for the next page: the last id of this page, or the `after` asked when the page is empty. */
  nextAfter: number;
}

/** `load-void-reversed` rows carry `load:<id>` in device_id (services/loads.ts): the table is keyed like a device record. */
const LOAD_DEVICE_PREFIX = 'load:';

type Raw = Record<string, string | number | bigint | null>;

function anomalyFromRow(r: Raw): MoneyAnomaly {
  const kind = String(r.kind);
  const device = String(r.device_id);
  const isLoad = device.startsWith(LOAD_DEVICE_PREFIX);
  const hasDevice = device !== '' && !isLoad;
  return {
    id: Number(r.id),
    kind,
    cardNo: String(r.card_no),
    atc: Number(r.atc),
    deviceId: hasDevice ? device : null,
    deviceSeq: hasDevice ? Number(r.device_seq) : null,
    loadId: isLoad ? device.slice(LOAD_DEVICE_PREFIX.length) : null,
    open: r.gap_open === null ? null : Number(r.gap_open) === 1,
    detail: String(r.detail),
    atMs: Number(r.at_ms),
  };
}

export async function listMoneyAnomalies(tx: Tx, query: MoneyAnomalyQuery): Promise<MoneyAnomalyPage> {
  const where = ['a.id > ?'];
  const params: (string | number)[] = [query.afterId];
  if (query.kind !== undefined) {
    where.push('a.kind = ?');
    params.push(query.kind);
  }
  if (query.cardNo !== undefined) {
    where.push('a.card_no = ?');
    params.push(query.cardNo);
  }
  // One row more than asked tells whether another page follows.
  params.push(query.limit + 1);
  // card_chains.next_atc is the card's lowest offline ATC not yet seen: a gap at `atc` is closed once it is past it.
  const rows = await tx.all<Raw>(
    `SELECT a.id, a.kind, a.card_no, a.atc, a.device_id, a.device_seq, a.detail, a.at_ms,
            CASE WHEN a.kind <> 'atc-gap' THEN NULL WHEN c.next_atc > a.atc THEN 0 ELSE 1 END AS gap_open
       FROM money_anomalies a LEFT JOIN card_chains c ON c.card_no = a.card_no
      WHERE ${where.join(' AND ')}
      ORDER BY a.id
      LIMIT ?`,
    params,
  );
  const more = rows.length > query.limit;
  const anomalies = rows.slice(0, query.limit).map(anomalyFromRow);
  return { anomalies, more, nextAfter: anomalies.length > 0 ? anomalies[anomalies.length - 1].id : query.afterId };
}
