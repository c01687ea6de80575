/**
 * A small, strict RFC 4180 parser for the tests, written independently of gateway/src/http/csv.ts:
 * records end with CRLF, fields are separated by commas, a quoted field may hold anything with
 * its quotes doubled. A bare CR or LF outside quotes, a quote inside an unquoted field, text
 * after a closing quote or a missing final CRLF is an error, so a sloppy writer fails the test.
 */
export function parseRfc4180(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`CSV: ${why} at offset ${i}`);
  };
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) fail('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') fail('quote in an unquoted field');
        field += text[i++];
      }
    }
    record.push(field);
    if (text[i] === ',') {
      i++;
      if (i >= text.length) fail('a comma at the end of the text');
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') {
      i += 2;
      records.push(record);
      record = [];
      continue;
    }
    fail(i >= text.length ? 'no CRLF after the last record' : `unexpected ${JSON.stringify(text[i])}`);
  }
  return records;
}

/** Records → objects keyed by the header record (the first). */
export function csvObjects(records: string[][]): Array<Record<string, string>> {
  const [header, ...rows] = records;
  return rows.map((row) => {
    if (row.length !== header.length) throw new Error(`record has ${row.length} fields, header has ${header.length}`);
    return Object.fromEntries(header.map((name, k) => [name, row[k]]));
  });
}
