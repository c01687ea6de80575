/**
 * The journal row's msgpack bytes, written without msgpackr on the tap path.
 *
 * Why: msgpackr's pack and the read-back unpack cost ~3 us of a ~14 us tap (measured in
 * bench/validator-exit-tap.bench.ts). A JournalRecord is a flat object of short ASCII strings,
 * integers and one boolean, so it is written here straight into a reused buffer, byte for byte
 * what msgpackr's default `pack` writes (map16 header; fixint/uint8/16/32, negative fixint and
 * int8/16/32, float64 for anything else; fixstr/str8; true/false) — test/validator/storage
 * compares the two on random records. Anything else (a non-ASCII or long string, a nested
 * value, undefined) returns -1 and the caller uses msgpackr itself.
 *
 * The read-back check walks the written bytes with a reader of its own and compares the fields
 * the journal checks (deviceSeq, amountFen, cardNo) with the record, building no object.
 */

/** Longest string (and key) written here; longer ones go to msgpackr. */
const MAX_SHORT_STRING = 0xff;

const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
/** Little-endian hosts store a double's bytes reversed relative to msgpack's big-endian order. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes an ASCII string (fixstr or str8); returns the new position, or -1 when it is not short ASCII. */
function writeAscii(out: Uint8Array, pos: number, s: string): number {
  const n = s.length;
  if (n > MAX_SHORT_STRING) return -1;
  if (n < 0x20) out[pos++] = 0xa0 | n;
  else {
    out[pos++] = 0xd9;
    out[pos++] = n;
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    out[pos++] = c;
  }
  return pos;
}

/** Writes a number exactly as msgpackr's default packr does (useRecords: false, no float32). */
function writeNumber(out: Uint8Array, pos: number, value: number): number {
  if (value >>> 0 === value) {
    if (value < 0x80) out[pos++] = value;
    else if (value < 0x100) {
      out[pos++] = 0xcc;
      out[pos++] = value;
    } else if (value < 0x10000) {
      out[pos++] = 0xcd;
      out[pos++] = value >> 8;
      out[pos++] = value & 0xff;
    } else {
      out[pos++] = 0xce;
      out[pos++] = value >>> 24;
      out[pos++] = (value >>> 16) & 0xff;
      out[pos++] = (value >>> 8) & 0xff;
      out[pos++] = value & 0xff;
    }
  } else if (value >> 0 === value) {
    if (value >= -0x20) out[pos++] = 0x100 + value;
    else if (value >= -0x80) {
      out[pos++] = 0xd0;
      out[pos++] = value + 0x100;
    } else if (value >= -0x8000) {
      out[pos++] = 0xd1;
      out[pos++] = (value >> 8) & 0xff;
      out[pos++] = value & 0xff;
    } else {
      out[pos++] = 0xd2;
      out[pos++] = (value >>> 24) & 0xff;
      out[pos++] = (value >>> 16) & 0xff;
      out[pos++] = (value >>> 8) & 0xff;
      out[pos++] = value & 0xff;
    }
  } else {
    out[pos++] = 0xcb;
    F64[0] = value;
    if (LITTLE_ENDIAN) for (let i = 7; i >= 0; i--) out[pos++] = F64_BYTES[i];
    else for (let i = 0; i < 8; i++) out[pos++] = F64_BYTES[i];
  }
  return pos;
}

/** Room one entry may need at most: key and value strings of MAX_SHORT_STRING plus headers. */
export const JOURNAL_ENTRY_MAX_BYTES = 2 * (MAX_SHORT_STRING + 2);

/**
 * Writes `record` (a flat object) as msgpack into `out` from offset 0; returns the length, or
 * -1 when the record holds something this writer does not handle (use msgpackr). `out` must
 * have room for 3 + entries * JOURNAL_ENTRY_MAX_BYTES bytes; -1 also when it has not.
 */
export function writeFlatRecord(out: Uint8Array, record: object): number {
  const values = record as Record<string, unknown>;
  out[0] = 0xde; // msgpackr always writes map16
  let pos = 3;
  let size = 0;
  for (const key in values) {
    // msgpackr's own rule for which keys it writes.
    if (typeof values.hasOwnProperty === 'function' && !Object.hasOwn(values, key)) continue;
    if (pos + JOURNAL_ENTRY_MAX_BYTES > out.length) return -1;
    pos = writeAscii(out, pos, key);
    if (pos < 0) return -1;
    const value = values[key];
    switch (typeof value) {
      case 'string':
        pos = writeAscii(out, pos, value);
        if (pos < 0) return -1;
        break;
      case 'number':
        pos = writeNumber(out, pos, value);
        break;
      case 'boolean':
        out[pos++] = value ? 0xc3 : 0xc2;
        break;
      default:
        return -1;
    }
    size++;
  }
  if (size > 0xffff) return -1;
  out[1] = size >> 8;
  out[2] = size & 0xff;
  return pos;
}

const KEY_DEVICE_SEQ = 'deviceSeq';
const KEY_AMOUNT_FEN = 'amountFen';
const KEY_CARD_NO = 'cardNo';

function keyIs(bytes: Uint8Array, start: number, length: number, name: string): boolean {
  if (length !== name.length) return false;
  for (let i = 0; i < length; i++) if (bytes[start + i] !== name.charCodeAt(i)) return false;
  return true;
}

/** Scratch for the reader (no allocation per field). */
const STR = { start: 0, length: 0 };
const NUM = { value: 0, next: 0 };

/** Sets STR to the str at pos (fixstr, str8, str16, str32); false if the value is not a str. */
function strAt(bytes: Uint8Array, pos: number): boolean {
  const t = bytes[pos];
  if ((t & 0xe0) === 0xa0) {
    STR.start = pos + 1;
    STR.length = t & 0x1f;
  } else if (t === 0xd9) {
    STR.start = pos + 2;
    STR.length = bytes[pos + 1];
  } else if (t === 0xda) {
    STR.start = pos + 3;
    STR.length = (bytes[pos + 1] << 8) | bytes[pos + 2];
  } else if (t === 0xdb) {
    STR.start = pos + 5;
    STR.length = ((bytes[pos + 1] << 24) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 8) | bytes[pos + 4]) >>> 0;
  } else return false;
  return true;
}

/** Sets NUM to the number at pos and the position after it; false if the value is not a number. */
function numberAt(bytes: Uint8Array, pos: number): boolean {
  const t = bytes[pos];
  if (t < 0x80) {
    NUM.value = t;
    NUM.next = pos + 1;
  } else if (t >= 0xe0) {
    NUM.value = t - 0x100;
    NUM.next = pos + 1;
  } else if (t === 0xcc) {
    NUM.value = bytes[pos + 1];
    NUM.next = pos + 2;
  } else if (t === 0xcd) {
    NUM.value = (bytes[pos + 1] << 8) | bytes[pos + 2];
    NUM.next = pos + 3;
  } else if (t === 0xce || t === 0xd2) {
    const u = ((bytes[pos + 1] << 24) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 8) | bytes[pos + 4]) >>> 0;
    NUM.value = t === 0xce ? u : u | 0;
    NUM.next = pos + 5;
  } else if (t === 0xd0) {
    NUM.value = (bytes[pos + 1] << 24) >> 24;
    NUM.next = pos + 2;
  } else if (t === 0xd1) {
    NUM.value = (((bytes[pos + 1] << 8) | bytes[pos + 2]) << 16) >> 16;
    NUM.next = pos + 3;
  } else if (t === 0xcb) {
    if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) F64_BYTES[7 - i] = bytes[pos + 1 + i];
    else for (let i = 0; i < 8; i++) F64_BYTES[i] = bytes[pos + 1 + i];
    NUM.value = F64[0];
    NUM.next = pos + 9;
  } else return false;
  return true;
}

/**
 * Reads the first `length` bytes back as a flat msgpack map (its own reader, not the writer's
 * bookkeeping) and checks what the journal checks: its entries end exactly at `length` and it
 * holds `deviceSeq`, `amountFen` and `cardNo` equal to the record's. False when they differ or the
 * bytes are not such a map (truncated, nested, an unknown type): a failed encoding.
 */
export function flatRecordMatches(bytes: Uint8Array, length: number, record: { deviceSeq: number; amountFen: number; cardNo: string }): boolean {
  let pos: number;
  let count: number;
  const t = bytes[0];
  if ((t & 0xf0) === 0x80) {
    count = t & 0x0f;
    pos = 1;
  } else if (t === 0xde) {
    count = (bytes[1] << 8) | bytes[2];
    pos = 3;
  } else return false;
  let seen = 0;
  for (let e = 0; e < count; e++) {
    if (pos >= length || !strAt(bytes, pos)) return false;
    const keyStart = STR.start;
    const keyLength = STR.length;
    pos = keyStart + keyLength;
    if (pos >= length) return false;
    const v = bytes[pos];
    if (v === 0xc2 || v === 0xc3 || v === 0xc0) {
      pos++;
    } else if (strAt(bytes, pos)) {
      if (keyIs(bytes, keyStart, keyLength, KEY_CARD_NO)) {
        const cardNo = record.cardNo;
        if (STR.length !== cardNo.length) return false;
        for (let i = 0; i < STR.length; i++) if (bytes[STR.start + i] !== cardNo.charCodeAt(i)) return false;
        seen |= 4;
      }
      pos = STR.start + STR.length;
    } else if (numberAt(bytes, pos)) {
      if (keyIs(bytes, keyStart, keyLength, KEY_DEVICE_SEQ)) {
        if (NUM.value !== record.deviceSeq) return false;
        seen |= 1;
      } else if (keyIs(bytes, keyStart, keyLength, KEY_AMOUNT_FEN)) {
        if (NUM.value !== record.amountFen) return false;
        seen |= 2;
      }
      pos = NUM.next;
    } else return false;
  }
  return pos === length && seen === 7;
}
