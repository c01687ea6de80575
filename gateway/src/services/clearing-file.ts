/**
 * The inter-issuer clearing file, format TUCF version 1 (issue 18; docs/settlement.md, "Clearing
 * between issuers"). One file: taps an acquirer's terminals took on one issuer's cards in one
 * business day. UTF-8 text, one record per line (LF), fields separated by `|`:
 *
 *   H|TUCF|1|<sender>|<receiver>|<business day>|<sequence>
 *   R|<n>|<cardNo>|<offlineAtc>|<onlineAtc>|<amountFen>|<balanceBeforeFen>|<transactionType>|<terminalId>|<tsn>|<date>|<time>|<keyVersion>|<algorithm>|<tac>|<occurredAtMs>
 *   ... one R line per tap, n = 1, 2, ...
 *   T|<record count>|<sum of amountFen>|<SHA-256 hex of every line above, each with its LF>
 *   S|<base64 RSA-SHA256 signature of every line above (H, R..., T), each with its LF>
 *
 * Sender and receiver are issuer names (core's IssuerRegistry). The receiver verifies the
 * signature with the sender's configured certificate and the trailer against the records; a file
 * that does not match is refused whole.
 */
import { createHash } from 'node:crypto';
import { type ClearingSigner, verifySignature } from './clearing-key.ts';

export const CLEARING_FILE_MAGIC = 'TUCF';
export const CLEARING_FILE_VERSION = 1;

export interface ClearingRecord {
  cardNo: string;
  offlineAtc: number;
  onlineAtc: number;
  amountFen: number;
  balanceBeforeFen: number;
  transactionType: number;
  /** 6 bytes hex. */
  terminalId: string;
  tsn: number;
  /** YYYYMMDD, hhmmss (what the TAC covers). */
  date: number;
  time: number;
  /** As the acquirer knows them (0 and '-' when it does not: the issuer uses its own card record). */
  keyVersion: number;
  algorithm: '3des' | 'sm4' | '-';
  /** 4 bytes hex. */
  tac: string;
  occurredAtMs: number;
}

export interface ClearingFileHeader {
  sender: string;
  receiver: string;
  day: string;
  sequence: number;
}

export interface ClearingFile extends ClearingFileHeader {
  records: ClearingRecord[];
  count: number;
  sumFen: number;
  hash: string;
  signature: string;
}

export class ClearingFileError extends Error {
  override readonly name = 'ClearingFileError';
  constructor(
    readonly reason: 'malformed' | 'trailer-mismatch' | 'signature-invalid' | 'unknown-sender' | 'wrong-receiver',
    message: string,
  ) {
    super(message);
  }
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

function recordLine(n: number, r: ClearingRecord): string {
  return [
    'R',
    n,
    r.cardNo,
    r.offlineAtc,
    r.onlineAtc,
    r.amountFen,
    r.balanceBeforeFen,
    r.transactionType,
    r.terminalId.toUpperCase(),
    r.tsn,
    r.date,
    r.time,
    r.keyVersion,
    r.algorithm,
    r.tac.toUpperCase(),
    r.occurredAtMs,
  ].join('|');
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function algorithmOf(text: string, line: number): '3des' | 'sm4' | '-' {
  if (text === '3des' || text === 'sm4' || text === '-') return text;
  throw new ClearingFileError('malformed', `line ${line}: algorithm must be 3des, sm4 or -`);
}

/** Builds and signs a file. */
export function buildClearingFile(header: ClearingFileHeader, records: readonly ClearingRecord[], signer: ClearingSigner): string {
  if (!NAME.test(header.sender) || !NAME.test(header.receiver)) throw new Error('sender and receiver are issuer names');
  const body = [
    `H|${CLEARING_FILE_MAGIC}|${CLEARING_FILE_VERSION}|${header.sender}|${header.receiver}|${header.day}|${header.sequence}`,
    ...records.map((r, i) => recordLine(i + 1, r)),
  ]
    .map((line) => `${line}\n`)
    .join('');
  const sum = records.reduce((s, r) => s + r.amountFen, 0);
  const signed = `${body}T|${records.length}|${sum}|${sha256(body)}\n`;
  return `${signed}S|${signer.sign(signed)}\n`;
}

const int = (text: string, what: string, line: number): number => {
  if (!/^-?\d{1,16}$/.test(text)) throw new ClearingFileError('malformed', `line ${line}: ${what} is not an integer`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new ClearingFileError('malformed', `line ${line}: ${what} is out of range`);
  return value;
};

/**
 * Parses a file and checks its trailer (count, sum, hash) and, with `certificateOf`, its
 * signature under the sender's certificate; throws ClearingFileError naming what does not match.
 */
export function parseClearingFile(text: string, certificateOf: (sender: string) => string | null): ClearingFile {
  if (!text.endsWith('\n')) throw new ClearingFileError('malformed', 'the file does not end with a line feed');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new ClearingFileError('malformed', 'a file has a header, a trailer and a signature line');
  const h = lines[0].split('|');
  if (h.length !== 7 || h[0] !== 'H' || h[1] !== CLEARING_FILE_MAGIC) throw new ClearingFileError('malformed', 'line 1 is not a TUCF header');
  if (Number(h[2]) !== CLEARING_FILE_VERSION) throw new ClearingFileError('malformed', `format version ${h[2]} is not supported (1)`);
  if (!NAME.test(h[3]) || !NAME.test(h[4]) || !DAY.test(h[5])) throw new ClearingFileError('malformed', 'header: sender, receiver or business day malformed');
  const sequence = int(h[6], 'sequence', 1);
  const sLine = lines[lines.length - 1];
  const tLine = lines[lines.length - 2];
  if (!sLine.startsWith('S|')) throw new ClearingFileError('malformed', 'the last line is not the signature');
  const t = tLine.split('|');
  if (t.length !== 4 || t[0] !== 'T') throw new ClearingFileError('malformed', 'the line before the signature is not the trailer');
  const records: ClearingRecord[] = [];
  for (let i = 1; i < lines.length - 2; i++) {
    const f = lines[i].split('|');
    const n = i + 1;
    if (f.length !== 16 || f[0] !== 'R') throw new ClearingFileError('malformed', `line ${n} is not a record`);
    if (int(f[1], 'record number', n) !== i) throw new ClearingFileError('malformed', `line ${n}: records are numbered 1, 2, ...`);
    if (!/^(?:[0-9]{16}|31[0-9]{17})$/.test(f[2])) throw new ClearingFileError('malformed', `line ${n}: card number malformed`);
    if (!/^[0-9A-F]{12}$/.test(f[8]) || !/^[0-9A-F]{8}$/.test(f[14])) throw new ClearingFileError('malformed', `line ${n}: terminal id or TAC malformed`);
    records.push({
      cardNo: f[2],
      offlineAtc: int(f[3], 'offline ATC', n),
      onlineAtc: int(f[4], 'online ATC', n),
      amountFen: int(f[5], 'amount', n),
      balanceBeforeFen: int(f[6], 'balance before', n),
      transactionType: int(f[7], 'transaction type', n),
      terminalId: f[8],
      tsn: int(f[9], 'TSN', n),
      date: int(f[10], 'date', n),
      time: int(f[11], 'time', n),
      keyVersion: int(f[12], 'key version', n),
      algorithm: algorithmOf(f[13], n),
      tac: f[14],
      occurredAtMs: int(f[15], 'occurred at', n),
    });
    const r = records[records.length - 1];
    if (r.amountFen <= 0) throw new ClearingFileError('malformed', `line ${n}: amount must be above 0`);
  }
  const body = lines
    .slice(0, -2)
    .map((line) => `${line}\n`)
    .join('');
  const count = int(t[1], 'trailer count', lines.length - 1);
  const sumFen = int(t[2], 'trailer sum', lines.length - 1);
  const actualSum = records.reduce((s, r) => s + r.amountFen, 0);
  if (count !== records.length) throw new ClearingFileError('trailer-mismatch', `trailer count ${count}, the file has ${records.length} records`);
  if (sumFen !== actualSum) throw new ClearingFileError('trailer-mismatch', `trailer sum ${sumFen} fen, the records sum to ${actualSum} fen`);
  if (t[3] !== sha256(body)) throw new ClearingFileError('trailer-mismatch', 'trailer hash does not match the header and records');
  const certificate = certificateOf(h[3]);
  if (certificate === null) throw new ClearingFileError('unknown-sender', `no certificate is configured for sender ${h[3]}`);
  const signature = sLine.slice(2);
  if (!verifySignature(certificate, `${body}${tLine}\n`, signature))
    throw new ClearingFileError('signature-invalid', `the signature does not verify under ${h[3]}'s certificate`);
  return { sender: h[3], receiver: h[4], day: h[5], sequence, records, count, sumFen, hash: t[3], signature };
}
