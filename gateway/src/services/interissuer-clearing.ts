/**
 * Clearing between issuers (issue 18; docs/settlement.md, "Clearing between issuers").
 *
 * Inbound: a file (services/clearing-file.ts) from another issuer's acquirer with the taps its
 * terminals took on OUR cards. The file is verified first (trailer, then the signature under the
 * sender's configured certificate): a file that does not match is refused whole and changes
 * nothing. Then, in one money transaction (READ COMMITTED with the cards locked, as every card
 * money writer):
 * - the file is claimed in `clearing_files` (sender, receiver, day, sequence): the same file
 *   again answers the first import's result and changes nothing; another file under the same
 *   key is refused (`409 clearing-file-conflict`);
 * - each record is checked: an unknown card, a TAC our keys do not verify ('bad-tac'), a tap
 *   already counted (same card and offline ATC with the same content: 'duplicate', whether from
 *   this file, an earlier one or a Beijing validator; different content: 'atc-conflict') is
 *   rejected and reported, the others are applied; nothing of a rejected record is kept;
 * - an applied record takes its amount off the card's shadow balance and the ledger owes it to
 *   the sender: liability:card-purse + / payable:issuer:<sender> −. A card whose broken-card
 *   refund was already paid: its balance is gone, so the amount goes to the existing write-offs
 *   (writeoff:late-taps +, the refund's written_off_fen), still owed to the sender; a lost card
 *   whose balance was forfeited: from liability:lost-card-forfeited, as on Beijing gates.
 * Records are keyed on (card, offline ATC) like card_debits: the same taps imported in one file
 * or in pieces, in any order, end in the same ledger.
 *
 * Outbound: per business day and foreign issuer, the accepted debits our terminals took on that
 * issuer's cards, signed; made again from the journal each time (the same day, the same file).
 */
import { type CipherAlgorithm, type Issuer, purchaseTacData } from '#core';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import type { Store, Tx } from '../store/store-port.ts';
import { businessDayWindow } from './business-day.ts';
import { buildClearingFile, type ClearingFile, ClearingFileError, type ClearingRecord, parseClearingFile } from './clearing-file.ts';
import type { ClearingSigner } from './clearing-key.ts';
import { ACCOUNTS, postTransfer } from './ledger.ts';

export const CLEARING_ERROR_CODES = {
  'clearing-file-refused': { status: 422, title: 'The clearing file was refused whole: malformed, trailer or signature does not match' },
  'clearing-file-conflict': { status: 409, title: 'Another file was already imported under this sender, day and sequence' },
  'issuer-not-found': { status: 404, title: 'No such foreign issuer' },
} as const;
registerErrorCodes(CLEARING_ERROR_CODES);

export type RejectionReason = 'unknown-card' | 'bad-tac' | 'duplicate' | 'atc-conflict' | 'not-our-card';

export interface ImportResult {
  sender: string;
  receiver: string;
  day: string;
  sequence: number;
  records: number;
  accepted: number;
  acceptedFen: number;
  /** Of the accepted, records of cards whose refund was already paid (to the write-offs). */
  writtenOff: number;
  writtenOffFen: number;
  rejections: Array<{ n: number; cardNo: string; offlineAtc: number; reason: RejectionReason }>;
  /** True when this exact file had been imported before: the first import's result, nothing changed now. */
  replay: boolean;
}

export interface ClearingContext {
  store: Store;
  keys: IssuerKeysPort;
  signer: ClearingSigner;
  /** Our own issuer name (the receiver of inbound files, the sender of outbound ones). */
  home: Issuer;
  /** Foreign issuers by name. */
  issuers: readonly Issuer[];
  /** The counterparties' certificates (PEM) by issuer name. */
  certificates: ReadonlyMap<string, string>;
  cutoffMinutes: number;
}

export const payableAccount = (issuer: string): string => `payable:issuer:${issuer}`;
export const receivableAccount = (issuer: string): string => `receivable:issuer:${issuer}`;

function digestOf(r: ClearingRecord): string {
  return `${r.amountFen}|${r.transactionType}|${r.terminalId.toUpperCase()}|${r.tsn}|${r.date}|${r.time}|${r.tac.toUpperCase()}`;
}

/** Checked with the card's own key version and algorithm from our card record (we are its issuer). */
function tacValid(keys: IssuerKeysPort, r: ClearingRecord, card: { keyVersion: number; algorithm: CipherAlgorithm }): boolean {
  try {
    return keys.verifyTac({
      cardNo: r.cardNo,
      keyVersion: card.keyVersion,
      algorithm: card.algorithm,
      data: purchaseTacData(r),
      tac: Buffer.from(r.tac, 'hex'),
    });
  } catch {
    return false;
  }
}

/** Parses and verifies a file; 422 clearing-file-refused naming why. */
export function verifiedFile(ctx: ClearingContext, text: string): ClearingFile {
  try {
    const file = parseClearingFile(text, (sender) => ctx.certificates.get(sender) ?? null);
    if (file.receiver !== ctx.home.name) throw new ClearingFileError('wrong-receiver', `the file is for ${file.receiver}, not ${ctx.home.name}`);
    return file;
  } catch (error) {
    if (error instanceof ClearingFileError) throw new ApiError('clearing-file-refused', error.message, { reason: error.reason });
    throw error;
  }
}

type Raw = Record<string, string | number | bigint | null>;

export async function importInboundFile(ctx: ClearingContext, text: string, nowMs: number): Promise<ImportResult> {
  const file = verifiedFile(ctx, text);
  return ctx.store.transaction(
    async (tx) => {
      const claimed = await tx.get(
        `INSERT INTO clearing_files (direction, sender, receiver, day, sequence, hash, records, sum_fen, result_json, at_ms)
         VALUES ('inbound', ?, ?, ?, ?, ?, ?, ?, '', ?) ON CONFLICT DO NOTHING RETURNING sequence`,
        [file.sender, file.receiver, file.day, file.sequence, file.hash, file.count, file.sumFen, nowMs],
      );
      if (claimed === undefined) {
        const existing = await tx.get<Raw>(
          "SELECT hash, result_json FROM clearing_files WHERE direction = 'inbound' AND sender = ? AND receiver = ? AND day = ? AND sequence = ?",
          [file.sender, file.receiver, file.day, file.sequence],
        );
        if (existing === undefined || String(existing.hash) !== file.hash) {
          throw new ApiError('clearing-file-conflict', `${file.sender} already sent another file for ${file.day} with sequence ${file.sequence}`);
        }
        return { ...(JSON.parse(String(existing.result_json)) as ImportResult), replay: true };
      }
      const cardNos = [...new Set(file.records.map((r) => r.cardNo))].sort();
      await tx.lockCards(cardNos);
      const known = new Map<string, { keyVersion: number; algorithm: CipherAlgorithm }>();
      const refunded = new Set<string>();
      const forfeited = new Set<string>();
      for (let from = 0; from < cardNos.length; from += 500) {
        const part = cardNos.slice(from, from + 500);
        const marks = part.map(() => '?').join(', ');
        for (const r of await tx.all<Raw>(`SELECT card_no, key_version, algorithm FROM cards WHERE card_no IN (${marks})`, part)) {
          known.set(String(r.card_no), { keyVersion: Number(r.key_version), algorithm: String(r.algorithm) as CipherAlgorithm });
        }
        for (const r of await tx.all<Raw>(`SELECT card_no FROM refunds WHERE status = 'paid' AND card_no IN (${marks})`, part)) refunded.add(String(r.card_no));
        for (const r of await tx.all<Raw>(`SELECT card_no FROM lost_card_forfeits WHERE card_no IN (${marks})`, part)) forfeited.add(String(r.card_no));
      }
      const result: ImportResult = {
        sender: file.sender,
        receiver: file.receiver,
        day: file.day,
        sequence: file.sequence,
        records: file.records.length,
        accepted: 0,
        acceptedFen: 0,
        writtenOff: 0,
        writtenOffFen: 0,
        rejections: [],
        replay: false,
      };
      const perCard = new Map<string, { purse: number; writeOff: number; forfeited: number }>();
      for (const [i, r] of file.records.entries()) {
        const reject = (reason: RejectionReason): void => {
          result.rejections.push({ n: i + 1, cardNo: r.cardNo, offlineAtc: r.offlineAtc, reason });
        };
        const card = known.get(r.cardNo);
        if (card === undefined) {
          reject('unknown-card');
          continue;
        }
        if (!tacValid(ctx.keys, r, card)) {
          reject('bad-tac');
          continue;
        }
        const digest = digestOf(r);
        const inserted = await tx.get(
          'INSERT INTO card_debits (card_no, offline_atc, digest, device_id, device_seq) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING card_no',
          [r.cardNo, r.offlineAtc, digest, `issuer:${file.sender}`, file.sequence * 1_000_000 + i + 1],
        );
        if (inserted === undefined) {
          const existing = await tx.get<Raw>('SELECT digest FROM card_debits WHERE card_no = ? AND offline_atc = ?', [r.cardNo, r.offlineAtc]);
          reject(existing !== undefined && String(existing.digest) === digest ? 'duplicate' : 'atc-conflict');
          continue;
        }
        const isRefunded = refunded.has(r.cardNo);
        await tx.run(
          'INSERT INTO clearing_inbound (card_no, offline_atc, sender, day, sequence, amount_fen, written_off, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [r.cardNo, r.offlineAtc, file.sender, file.day, file.sequence, r.amountFen, isRefunded ? 1 : 0, nowMs],
        );
        let sums = perCard.get(r.cardNo);
        if (sums === undefined) perCard.set(r.cardNo, (sums = { purse: 0, writeOff: 0, forfeited: 0 }));
        if (isRefunded) {
          sums.writeOff += r.amountFen;
          result.writtenOff++;
          result.writtenOffFen += r.amountFen;
        } else if (forfeited.has(r.cardNo)) sums.forfeited += r.amountFen;
        else sums.purse += r.amountFen;
        result.accepted++;
        result.acceptedFen += r.amountFen;
      }
      let purse = 0;
      let writeOff = 0;
      let forfeit = 0;
      for (const [cardNo, c] of perCard) {
        if (c.purse > 0) {
          await tx.run(
            `INSERT INTO card_accounts (card_no, shadow_balance_fen, updated_ms) VALUES (?, ?, ?)
             ON CONFLICT (card_no) DO UPDATE SET shadow_balance_fen = card_accounts.shadow_balance_fen + excluded.shadow_balance_fen, updated_ms = excluded.updated_ms`,
            [cardNo, -c.purse, nowMs],
          );
        }
        if (c.writeOff > 0) await tx.run('UPDATE refunds SET written_off_fen = written_off_fen + ? WHERE card_no = ?', [c.writeOff, cardNo]);
        if (c.forfeited > 0) await tx.run('UPDATE lost_card_forfeits SET late_taps_fen = late_taps_fen + ? WHERE card_no = ?', [c.forfeited, cardNo]);
        purse += c.purse;
        writeOff += c.writeOff;
        forfeit += c.forfeited;
      }
      await postTransfer(tx, {
        kind: 'clearing-inbound',
        reference: `${file.sender}#${file.day}#${file.sequence}`,
        atMs: nowMs,
        entries: [
          { account: ACCOUNTS.cardPurse, amountFen: purse },
          { account: ACCOUNTS.lateTapWriteOff, amountFen: writeOff },
          { account: ACCOUNTS.lostCardForfeited, amountFen: forfeit },
          { account: payableAccount(file.sender), amountFen: -(purse + writeOff + forfeit) },
        ],
      });
      await tx.run("UPDATE clearing_files SET result_json = ? WHERE direction = 'inbound' AND sender = ? AND receiver = ? AND day = ? AND sequence = ?", [
        JSON.stringify(result),
        file.sender,
        file.receiver,
        file.day,
        file.sequence,
      ]);
      return result;
    },
    { isolation: 'read-committed' },
  );
}

/** The issuer a card number belongs to among `issuers` (19-digit numbers by product prefix). */
function issuerOfCard(issuers: readonly Issuer[], cardNo: string): Issuer | undefined {
  return cardNo.length === 19 ? issuers.find((i) => cardNo.startsWith(i.productPrefix)) : undefined;
}

/**
 * The outbound file for `issuerName` and business `day`: the accepted debits our terminals took
 * on its cards that occurred in the day; recorded in clearing_files (sequence 1; the same day
 * gives the same records, so the same file but for the signature's randomness-free RSA: identical).
 */
export async function outboundFile(
  ctx: ClearingContext,
  issuerName: string,
  day: string,
  nowMs: number,
): Promise<{ text: string; records: number; sumFen: number }> {
  const issuer = ctx.issuers.find((i) => i.name === issuerName);
  if (issuer === undefined) throw new ApiError('issuer-not-found', `no foreign issuer ${issuerName}`);
  const window = businessDayWindow(day, ctx.cutoffMinutes);
  if (window === null) throw new ApiError('invalid-request', `day ${day} is not a calendar date`);
  return ctx.store.transaction(async (tx) => {
    const rows = await tx.all<Raw>(
      `SELECT card_no, offline_atc, online_atc, amount_fen, balance_before_fen, transaction_type, terminal_id, tsn, tx_date, tx_time, tac, occurred_at_ms
         FROM journal_records
        WHERE card_no LIKE ? AND occurred_at_ms >= ? AND occurred_at_ms < ? AND card_action = 'debit' AND status = 'accepted'
        ORDER BY card_no, offline_atc`,
      [`${issuer.productPrefix}%`, window.startMs, window.endMs],
    );
    const records: ClearingRecord[] = rows
      .filter((r) => issuerOfCard(ctx.issuers, String(r.card_no)) === issuer)
      .map((r) => ({
        cardNo: String(r.card_no),
        offlineAtc: Number(r.offline_atc),
        onlineAtc: Number(r.online_atc),
        amountFen: Number(r.amount_fen),
        balanceBeforeFen: Number(r.balance_before_fen),
        transactionType: Number(r.transaction_type),
        terminalId: String(r.terminal_id),
        tsn: Number(r.tsn),
        date: Number(r.tx_date),
        time: Number(r.tx_time),
        // The journal keeps no key version / algorithm: the issuer reads them from its own card record.
        keyVersion: 0,
        algorithm: '-' as const,
        tac: String(r.tac),
        occurredAtMs: Number(r.occurred_at_ms),
      }));
    const text = buildClearingFile({ sender: ctx.home.name, receiver: issuer.name, day, sequence: 1 }, records, ctx.signer);
    const sumFen = records.reduce((s, r) => s + r.amountFen, 0);
    const hash = text.split('\n').at(-3)?.split('|')[3] ?? '';
    await tx.run(
      `INSERT INTO clearing_files (direction, sender, receiver, day, sequence, hash, records, sum_fen, result_json, at_ms)
       VALUES ('outbound', ?, ?, ?, 1, ?, ?, ?, '{}', ?) ON CONFLICT DO NOTHING`,
      [ctx.home.name, issuer.name, day, hash, records.length, sumFen, nowMs],
    );
    return { text, records: records.length, sumFen };
  });
}

export interface CounterpartyPosition {
  issuer: string;
  day: string;
  valueDay: string;
  /** What they owe us: our terminals' taps on their cards (outbound files). */
  receivableFen: number;
  /** What we owe them: their terminals' taps on our cards (inbound records accepted). */
  payableFen: number;
  /** receivable − payable: positive = they pay us. */
  netFen: number;
}

/** Net settlement per counterparty for business day `day`, due on `valueDay`. */
export async function counterpartyPositions(tx: Tx, issuers: readonly Issuer[], day: string, valueDay: string): Promise<CounterpartyPosition[]> {
  const inbound = await tx.all<Raw>('SELECT sender, SUM(amount_fen) AS total FROM clearing_inbound WHERE day = ? GROUP BY sender', [day]);
  const outbound = await tx.all<Raw>("SELECT receiver, SUM(sum_fen) AS total FROM clearing_files WHERE direction = 'outbound' AND day = ? GROUP BY receiver", [
    day,
  ]);
  return issuers.map((i) => {
    const payableFen = Number(inbound.find((r) => r.sender === i.name)?.total ?? 0);
    const receivableFen = Number(outbound.find((r) => r.receiver === i.name)?.total ?? 0);
    return { issuer: i.name, day, valueDay, receivableFen, payableFen, netFen: receivableFen - payableFen };
  });
}
