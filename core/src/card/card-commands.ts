/**
 * Command headers that command MACs cover (DOMAIN.md section 3: APPLICATION BLOCK, UNBLOCK and
 * issuer-authorised record writes), and the IV built from the card's challenge. The card, the
 * PSAM and the issuer key service all build MAC input here, so they agree byte for byte.
 *
 *   APPLICATION BLOCK    84 1E 00 00 04            MAC over the header; key: block key
 *   APPLICATION UNBLOCK  84 18 00 00 04            MAC over the header; key: issuer key
 *   UPDATE RECORD        04 DC P1 BC Lc || record  MAC over header || record; key: issuer key
 *                        P1 = 01 park pass previous, 02 park pass current, 03 functions;
 *                        BC = SFI 0x17 << 3 | 4 (record number in P1); Lc = record length + 4 (the MAC)
 * IV: 3DES challenge(4) || 00000000; SM4 challenge(4) || 12 zero bytes.
 */
import type { CipherAlgorithm } from '../crypto/algorithm.ts';
import type { CardRecordKind } from '../ports/card-port.ts';

export const APPLICATION_BLOCK_HEADER: Uint8Array = Uint8Array.of(0x84, 0x1e, 0x00, 0x00, 0x04);
export const APPLICATION_UNBLOCK_HEADER: Uint8Array = Uint8Array.of(0x84, 0x18, 0x00, 0x00, 0x04);

export const CARD_RECORD_KINDS: readonly CardRecordKind[] = ['park-pass-previous', 'park-pass-current', 'functions'];
const RECORD_NUMBER: Readonly<Record<CardRecordKind, number>> = { 'park-pass-previous': 1, 'park-pass-current': 2, functions: 3 };

export function isCardRecordKind(value: unknown): value is CardRecordKind {
  return value === 'park-pass-previous' || value === 'park-pass-current' || value === 'functions';
}

/** Challenge is 4 bytes; the IV is padded with zeros to the cipher block. */
export function commandMacIv(challenge: Uint8Array, algorithm: CipherAlgorithm): Uint8Array {
  if (!(challenge instanceof Uint8Array) || challenge.length !== 4) throw new RangeError('challenge must be 4 bytes');
  const iv = new Uint8Array(algorithm === 'sm4' ? 16 : 8);
  iv.set(challenge, 0);
  return iv;
}

/** What the UPDATE RECORD command MAC covers: header(5) || record. */
export function updateRecordMacData(kind: CardRecordKind, record: Uint8Array): Uint8Array {
  if (!isCardRecordKind(kind)) throw new RangeError(`unknown record kind ${String(kind)}`);
  if (!(record instanceof Uint8Array) || record.length + 4 > 0xff) throw new RangeError('record must be a Uint8Array of at most 251 bytes');
  const out = new Uint8Array(5 + record.length);
  out[0] = 0x04;
  out[1] = 0xdc;
  out[2] = RECORD_NUMBER[kind];
  out[3] = (0x17 << 3) | 4;
  out[4] = record.length + 4;
  out.set(record, 5);
  return out;
}
