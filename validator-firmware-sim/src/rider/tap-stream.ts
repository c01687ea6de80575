/**
 * A scripted rider stream: JSON lines, one tap each.
 *
 *   {"card": "1000754300000015", "at": "2026-11-25T08:00:00+08:00"}
 *   {"cardImage": "cards/alice.card", "atMs": 1764028800000, "stop": 3}
 *   {"card": "1000754300000015", "at": "2026-11-25T08:40:00+08:00", "tear": "after-write"}
 *
 * Fields: `card` (a card number in the wallet) or `cardImage` (a file holding an encoded card
 * image, written back after the tap: the card keeps its own state); `at` (ISO time) or `atMs`
 * (epoch ms), default: now; `stop` (bus validators: the stop the bus is at); `tear`
 * ('before-write' | 'after-write': the card is pulled away during its DEBIT, for rehearsing
 * torn transactions). Blank lines and lines starting with # are skipped.
 */
import { isCardNo } from '../storage/blacklist-store.ts';

export interface ScriptedTap {
  /** 0-based index among the stream's taps (comments and blank lines not counted). */
  index: number;
  card: string | null;
  cardImage: string | null;
  atMs: number | null;
  stop: number | null;
  tear: 'before-write' | 'after-write' | null;
}

export class TapStreamError extends Error {
  override readonly name = 'TapStreamError';
}

export function parseTapLine(line: string, index: number, lineNo: number): ScriptedTap {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TapStreamError(`line ${lineNo}: not JSON`);
  }
  const v = value as Record<string, unknown>;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TapStreamError(`line ${lineNo}: not an object`);
  const card = v.card === undefined ? null : v.card;
  const cardImage = v.cardImage === undefined ? null : v.cardImage;
  if ((card === null) === (cardImage === null)) throw new TapStreamError(`line ${lineNo}: give exactly one of "card" or "cardImage"`);
  if (card !== null && !isCardNo(card)) throw new TapStreamError(`line ${lineNo}: "card" must be 16 digits`);
  if (cardImage !== null && (typeof cardImage !== 'string' || cardImage.length === 0)) throw new TapStreamError(`line ${lineNo}: "cardImage" must be a path`);
  let atMs: number | null = null;
  if (v.atMs !== undefined) {
    if (!Number.isSafeInteger(v.atMs)) throw new TapStreamError(`line ${lineNo}: "atMs" must be epoch milliseconds`);
    atMs = v.atMs as number;
  } else if (v.at !== undefined) {
    const parsed = typeof v.at === 'string' ? Date.parse(v.at) : Number.NaN;
    if (!Number.isFinite(parsed)) throw new TapStreamError(`line ${lineNo}: "at" must be an ISO time such as 2026-11-25T08:00:00+08:00`);
    atMs = parsed;
  }
  const stop = v.stop === undefined ? null : v.stop;
  if (stop !== null && (!Number.isInteger(stop) || (stop as number) < 0)) throw new TapStreamError(`line ${lineNo}: "stop" must be a stop index`);
  const tear = v.tear === undefined ? null : v.tear;
  if (tear !== null && tear !== 'before-write' && tear !== 'after-write')
    throw new TapStreamError(`line ${lineNo}: "tear" must be before-write or after-write`);
  return { index, card: card as string | null, cardImage: cardImage as string | null, atMs, stop: stop as number | null, tear: tear as ScriptedTap['tear'] };
}

/** Parses a whole stream text. */
export function parseTapStream(text: string): ScriptedTap[] {
  const taps: ScriptedTap[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    taps.push(parseTapLine(line, taps.length, i + 1));
  });
  return taps;
}
