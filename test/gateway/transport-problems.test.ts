/**
 * Requests refused below the routes (Node's HTTP parser, the router, the query string, the body
 * parsers) answer RFC 9457 problem+json with a stable code, like every other error, and change
 * nothing. Sent as raw bytes over a real loopback socket: inject and fetch would percent-encode
 * the URL and never show what a sloppy client actually sends.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorResponse, queryEncodingError } from '#gateway/http/transport-problems';
import { ADMIN_TOKEN, makeHarness, SSN, type Harness } from './support/harness.ts';

let h: Harness;
let port: number;
let counter: string;
let device: string;
let cardNo: string;
beforeAll(async () => {
  h = await makeHarness();
  counter = await h.counterToken();
  device = await h.registerDevice('gate-raw-01');
  cardNo = (await h.issueCard()).cardNo;
  port = Number(new URL(await h.app.listen({ host: '127.0.0.1', port: 0 })).port);
});
afterAll(async () => {
  await h.close();
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `requestLine` (raw bytes, no CRLF), the headers and the body; reads until the server closes. */
function rawRequest(requestLine: Buffer | string, headers: Record<string, string> = {}, body: Buffer | string = ''): Promise<RawAnswer> {
  const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = {
    host: '127.0.0.1',
    connection: 'close',
    ...headers,
    ...(bodyBytes.length > 0 || 'content-type' in headers ? { 'content-length': String(bodyBytes.length) } : {}),
  };
  const headText = Object.entries(head)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const bytes = Buffer.concat([
    typeof requestLine === 'string' ? Buffer.from(requestLine, 'latin1') : requestLine,
    Buffer.from(`\r\n${headText}\r\n`, 'latin1'),
    bodyBytes,
  ]);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server closes after a parse error; what it wrote before is the answer.
      if (error.code === 'ECONNRESET' && chunks.length > 0) return;
      reject(error);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, split).split('\r\n');
      const headersOut: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headersOut[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(lines[0].split(' ')[1]), headers: headersOut, body: text.slice(split + 4) });
    });
    // Not end(): a half-closed socket may be dropped before an async route answers; the server
    // closes after its answer (Connection: close).
    socket.write(bytes);
  });
}

const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')];

function expectProblem(answer: RawAnswer, status: number, code: string): Record<string, unknown> {
  expect(answer.status, answer.body).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(answer.body) as Record<string, unknown>;
  expect(problem).toMatchObject({ status, code, type: `https://transit-purse.example/problems/${code}` });
  expect(typeof problem.title).toBe('string');
  expect(typeof problem.detail).toBe('string');
  return problem;
}

async function snapshot(): Promise<string> {
  return h.store.transaction(async (tx) => {
    const tables = (await tx.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")).map(
      (t) => t.name,
    );
    const parts: Record<string, unknown> = {};
    // The audit log records refused operator actions too (by design); everything else must stay.
    for (const table of tables) if (table !== 'audit_log') parts[table] = await tx.all(`SELECT * FROM "${table}" ORDER BY 1`);
    return JSON.stringify(parts);
  });
}

const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

describe('URLs the gateway cannot read', () => {
  it('a malformed percent-encoding in the query is 400 invalid-url, not a station named "%E0%A4%A"', async () => {
    expectProblem(await rawRequest('GET /v1/fares/subway?from=%E0%A4%A&to=x HTTP/1.1', auth(counter)), 400, 'invalid-url');
    expectProblem(await rawRequest('GET /v1/fares/subway?from=%zz&to=x HTTP/1.1', auth(counter)), 400, 'invalid-url');
    // %FF is not UTF-8; a lone '%' is no escape at all.
    expectProblem(await rawRequest('GET /v1/blacklist?since=%FF HTTP/1.1', auth(counter)), 400, 'invalid-url');
    expectProblem(await rawRequest('GET /v1/blacklist?since=100% HTTP/1.1', auth(counter)), 400, 'invalid-url');
    // Whoever calls: the URL is read before the credential.
    expectProblem(await rawRequest('GET /v1/blacklist?since=%E0%A4%A HTTP/1.1'), 400, 'invalid-url');
  });

  it('raw non-ASCII bytes in the query or path are 400 invalid-url problem+json', async () => {
    expectProblem(await rawRequest(bytes('GET /v1/fares/subway?from=', utf8('西单'), '&to=x HTTP/1.1'), auth(counter)), 400, 'invalid-url');
    expectProblem(await rawRequest(bytes('GET /v1/fares/subway?from=', [0xff, 0xfe], '&to=x HTTP/1.1'), auth(counter)), 400, 'invalid-url');
    expectProblem(await rawRequest(bytes('GET /v1/cards/', utf8('卡'), ' HTTP/1.1'), auth(ADMIN_TOKEN)), 400, 'invalid-url');
    expectProblem(await rawRequest(bytes('GET /v1/cards/', [0x80], ' HTTP/1.1')), 400, 'invalid-url');
  });

  it('a malformed percent-encoding in the path is 400 invalid-url; an over-long path parameter 414 url-too-long', async () => {
    const problem = expectProblem(await rawRequest('GET /v1/cards/%E0%A4%A HTTP/1.1', auth(ADMIN_TOKEN)), 400, 'invalid-url');
    expect(problem.instance).toBe('/v1/cards/%E0%A4%A');
    expectProblem(await rawRequest('GET /v1/cards/%zz/transactions?x=1 HTTP/1.1', auth(ADMIN_TOKEN)), 400, 'invalid-url');
    expectProblem(await rawRequest(`GET /v1/cards/${'1'.repeat(150)} HTTP/1.1`, auth(ADMIN_TOKEN)), 414, 'url-too-long');
  });

  it('well-formed encodings still work', async () => {
    const from = encodeURIComponent('苹果园');
    const to = encodeURIComponent('古城');
    const ok = await rawRequest(`GET /v1/fares/subway?from=${from}&to=${to} HTTP/1.1`, auth(counter));
    expect(ok.status, ok.body).toBe(200);
    const plus = await rawRequest(`GET /v1/fares/subway?from=${from}&to=Atlantis+City HTTP/1.1`, auth(counter));
    expect(JSON.parse(plus.body)).toMatchObject({ code: 'station-not-found', station: 'Atlantis City' });
    const card = await rawRequest(`GET /v1/cards/${cardNo}?since=%E8%A5%BF HTTP/1.1`, auth(ADMIN_TOKEN));
    expect(card.status, card.body).toBe(200);
  });
});

describe('requests Node cannot parse', () => {
  it('bad header characters and bad Content-Length are 400 invalid-http; oversized headers 431', async () => {
    expectProblem(await rawRequest('GET /healthz HTTP/1.1', { 'x-bad': '\x01' }), 400, 'invalid-http');
    expectProblem(await rawRequest('POST /v1/cards HTTP/1.1', { ...auth(ADMIN_TOKEN), 'content-length': 'abc' }), 400, 'invalid-http');
    expectProblem(await rawRequest('G@T /healthz HTTP/1.1'), 400, 'invalid-http');
    expectProblem(await rawRequest('GET /healthz HTTP/1.1', { 'x-big': 'a'.repeat(20_000) }), 431, 'headers-too-large');
  });

  it('the raw answer is one well-formed problem with a matching Content-Length', () => {
    const text = clientErrorResponse({ code: 'HPE_INVALID_URL' });
    const [head, body] = text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
    expect(JSON.parse(body)).toMatchObject({ status: 400, code: 'invalid-url' });
  });
});

describe('bodies the gateway cannot read', () => {
  const issue = (body: Buffer | string, type = 'application/json'): Promise<RawAnswer> =>
    rawRequest('POST /v1/cards HTTP/1.1', { ...auth(ADMIN_TOKEN), 'content-type': type }, body);

  it('invalid and empty JSON are 400 invalid-json; a prototype-poisoning body too', async () => {
    expectProblem(await issue('{bad'), 400, 'invalid-json');
    expectProblem(await issue(''), 400, 'invalid-json');
    expectProblem(await issue('{"__proto__":{"x":1},"holderName":"Wang"}'), 400, 'invalid-json');
  });

  it('JSON that is not UTF-8 is 400 invalid-json and issues no card (it used to store U+FFFD in the name)', async () => {
    const before = await snapshot();
    const body = bytes('{"holderName":"W', [0xff, 0xc3], `","socialSecurityNo":"${SSN}","profile":"adult"}`);
    expectProblem(await issue(body), 400, 'invalid-json');
    expect(await snapshot()).toBe(before);
    // The same body in UTF-8 is accepted: the check refuses only broken text.
    const good = await issue(`{"holderName":"王芳","socialSecurityNo":"${SSN}","profile":"adult"}`);
    expect(good.status, good.body).toBe(201);
    expect(JSON.parse(good.body).card.holderName).toBe('王芳');
  });

  it('unsupported content types are 415, bodies over the limit 413', async () => {
    expectProblem(await issue('<card/>', 'application/xml'), 415, 'unsupported-media-type');
    expectProblem(await issue('{}', '\u00e9/x'), 415, 'unsupported-media-type');
    expectProblem(await issue(`{"holderName":"${'x'.repeat(2_000_000)}"}`), 413, 'body-too-large');
  });

  it('bad msgpack on the sync route is 400 invalid-msgpack', async () => {
    const sync = (body: Buffer): Promise<RawAnswer> =>
      rawRequest('POST /v1/devices/gate-raw-01/sync HTTP/1.1', { ...auth(device), 'content-type': 'application/x-msgpack' }, body);
    expectProblem(await sync(Buffer.from([0x92, 0x01])), 400, 'invalid-msgpack');
    expectProblem(await sync(Buffer.from([0xdf, 0xff, 0xff])), 400, 'invalid-msgpack');
  });

  it('none of the refusals above changed anything', async () => {
    const before = await snapshot();
    await rawRequest('GET /v1/fares/subway?from=%E0%A4%A&to=x HTTP/1.1', auth(counter));
    await rawRequest(
      bytes('POST /v1/cards?x=', utf8('卡'), ' HTTP/1.1'),
      { ...auth(ADMIN_TOKEN), 'content-type': 'application/json' },
      `{"holderName":"Li","socialSecurityNo":"${SSN}","profile":"adult"}`,
    );
    await rawRequest(
      'POST /v1/cards?x=%E0 HTTP/1.1',
      { ...auth(ADMIN_TOKEN), 'content-type': 'application/json' },
      `{"holderName":"Li","socialSecurityNo":"${SSN}","profile":"adult"}`,
    );
    await rawRequest(`POST /v1/cards/${cardNo}/loss-reports?x=%zz HTTP/1.1`, { ...auth(ADMIN_TOKEN), 'content-type': 'application/json' }, '{"kind":"formal"}');
    await issue(bytes('{"holderName":"', [0xc0, 0xaf], `","socialSecurityNo":"${SSN}","profile":"adult"}`));
    expect(await snapshot()).toBe(before);
  });
});

describe('queryEncodingError', () => {
  it('accepts what encodeURIComponent writes and refuses what it never would', () => {
    expect(queryEncodingError('/a')).toBeNull();
    expect(queryEncodingError('/a?')).toBeNull();
    expect(queryEncodingError(`/a?x=${encodeURIComponent('西单 & 100%')}&y=a+b`)).toBeNull();
    for (const bad of ['/a?x=%', '/a?x=%4', '/a?x=%G0', '/a?x=%E0%A4%A', '/a?x=%C3&y=%A9', '/a?x=%ED%A0%80', '/a?x=西', '/a?x=a b', '/a?x=\x7f']) {
      expect(queryEncodingError(bad), bad).not.toBeNull();
    }
  });
});
