/**
 * CSV exports: the one module that turns rows of typed columns into CSV text, for the API's
 * report exports (`Accept: text/csv` on /v1/reports/*) and the console's downloads.
 *
 * The text (pure functions, no I/O):
 * - RFC 4180: records end with CRLF (the last one too), fields are separated by commas, a field
 *   containing a comma, a double quote, CR or LF is enclosed in double quotes and its quotes are
 *   doubled; every record has the same number of fields (an empty field for a missing value).
 * - UTF-8 with a byte-order mark at the start, so that Excel reads Chinese text as UTF-8.
 * - Money is integer fen inside and is written twice: `<name>_yuan` with exactly two decimals
 *   (core's formatYuan, never a float) and `<name>_fen` (the integer).
 * - Times (epoch ms) are written twice: `<name>_at` (ISO 8601 with the Beijing offset) and `<name>_ms`.
 * - Formula injection (OWASP "CSV injection"): a text cell that begins with `=`, `+`, `-`, `@`,
 *   a tab or a carriage return gets a single quote `'` in front, so that a spreadsheet shows it
 *   as text and never runs it. Number cells (integers, fen, yuan) are written as plain numbers and
 *   never escaped: a negative amount stays `-150` / `-1.50`. Only text cells are escaped.
 *
 * The HTTP glue at the end (`prefersCsv`, `sendCsv`) needs @fastify/accepts registered in the
 * caller's plugin context; it imports no Fastify code.
 */
import type { FastifyReply } from 'fastify';
import { formatYuan } from '#core';

export const CSV_MEDIA_TYPE = 'text/csv';
export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';
export const JSON_MEDIA_TYPE = 'application/json';
export const UTF8_BOM = '\uFEFF';
export const CSV_LINE_END = '\r\n';

/** First characters that make a spreadsheet read a cell as a formula (OWASP list). */
export const FORMULA_TRIGGERS: readonly string[] = ['=', '+', '-', '@', '\t', '\r'];

const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000;

export type CsvColumn<Row> =
  | { kind: 'text'; header: string; value: (row: Row) => string | null }
  | { kind: 'integer'; header: string; value: (row: Row) => number | null }
  | { kind: 'money'; name: string; value: (row: Row) => number | null }
  | { kind: 'time'; name: string; value: (row: Row) => number | null };

/** A text column: escaped against formulas, quoted when needed; null is an empty field. */
export function textColumn<Row>(header: string, value: (row: Row) => string | null): CsvColumn<Row> {
  return { kind: 'text', header, value };
}

/** An integer column (a count, an id number): a plain number, never escaped; null is empty. */
export function integerColumn<Row>(header: string, value: (row: Row) => number | null): CsvColumn<Row> {
  return { kind: 'integer', header, value };
}

/** A money column from integer fen: two fields, `<name>_yuan` ("-1.50") and `<name>_fen` (-150). */
export function moneyColumn<Row>(name: string, value: (row: Row) => number | null): CsvColumn<Row> {
  return { kind: 'money', name, value };
}

/** A time column from epoch ms: two fields, `<name>_at` (2026-03-10T10:00:00.000+08:00) and `<name>_ms`. */
export function timeColumn<Row>(name: string, value: (row: Row) => number | null): CsvColumn<Row> {
  return { kind: 'time', name, value };
}

/** The header fields the columns produce, in order (money and time columns give two each). */
export function csvHeaders<Row>(columns: readonly CsvColumn<Row>[]): string[] {
  return columns.flatMap((column): string[] => {
    if (column.kind === 'money') return [`${column.name}_yuan`, `${column.name}_fen`];
    if (column.kind === 'time') return [`${column.name}_at`, `${column.name}_ms`];
    return [column.header];
  });
}

/** `'` in front of a text that a spreadsheet would run as a formula; any other text unchanged. */
export function escapeFormula(text: string): string {
  return text.length > 0 && FORMULA_TRIGGERS.includes(text[0]) ? `'${text}` : text;
}

/** RFC 4180 field: quoted (quotes doubled) when it holds a comma, a quote, CR or LF. */
export function quoteField(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}

/** A text cell as written: formula-escaped, then quoted when needed. */
export function textCell(text: string | null): string {
  return text === null ? '' : quoteField(escapeFormula(text));
}

/** An integer cell: the plain decimal number. Anything but a safe integer is refused (never a float). */
export function integerCell(value: number | null): string {
  if (value === null) return '';
  if (!Number.isSafeInteger(value)) throw new RangeError(`CSV integer cell must be a safe integer, got ${value}`);
  return String(value);
}

/** ISO 8601 in Beijing time with its offset: 2026-03-10T10:00:00.000+08:00. */
export function beijingIsoTime(epochMs: number): string {
  if (!Number.isSafeInteger(epochMs)) throw new RangeError(`time must be integer epoch ms, got ${epochMs}`);
  return `${new Date(epochMs + BEIJING_OFFSET_MS).toISOString().slice(0, -1)}+08:00`;
}

function rowCells<Row>(columns: readonly CsvColumn<Row>[], row: Row): string[] {
  return columns.flatMap((column): string[] => {
    if (column.kind === 'text') return [textCell(column.value(row))];
    if (column.kind === 'integer') return [integerCell(column.value(row))];
    const value = column.value(row);
    if (value === null) return ['', ''];
    return column.kind === 'money' ? [formatYuan(value), integerCell(value)] : [beijingIsoTime(value), integerCell(value)];
  });
}

/** The CSV text: BOM, the header record, one record per row, every record ending with CRLF. */
export function toCsv<Row>(columns: readonly CsvColumn<Row>[], rows: Iterable<Row>): string {
  const records = [csvHeaders(columns).map(textCell).join(',')];
  for (const row of rows) records.push(rowCells(columns, row).join(','));
  return UTF8_BOM + records.map((record) => record + CSV_LINE_END).join('');
}

/** A safe download name: parts joined by '-', anything but [A-Za-z0-9._-] replaced by '_', then `.csv`. */
export function csvFilename(...parts: string[]): string {
  return `${parts.map((part) => part.replace(/[^A-Za-z0-9._-]/g, '_')).join('-')}.csv`;
}

// --- HTTP glue -------------------------------------------------------------------------------

/** What negotiation needs of a request: `request.accepts()` of @fastify/accepts (RFC 9110 q-values). */
export interface AcceptsRequest {
  accepts(): { type(types: string[]): string | string[] | false };
}

/**
 * True when the request's Accept header prefers text/csv to application/json (q-values, then
 * specificity, then the header's order). No Accept, `*\/*`, or neither type acceptable: JSON.
 */
export function prefersCsv(request: AcceptsRequest): boolean {
  // Offered with its charset: `text/csv`, `text/*` and `text/csv; charset=utf-8` match it, another charset does not.
  return request.accepts().type([JSON_MEDIA_TYPE, CSV_CONTENT_TYPE]) === CSV_CONTENT_TYPE;
}

/** Sends CSV text as a download: text/csv; charset=utf-8 and Content-Disposition attachment. */
export function sendCsv(reply: FastifyReply, filename: string, csv: string): FastifyReply {
  const safe = csvFilename(filename.replace(/\.csv$/, ''));
  return reply.type(CSV_CONTENT_TYPE).header('content-disposition', `attachment; filename="${safe}"`).send(csv);
}
