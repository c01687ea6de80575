/**
 * A `fetch`-compatible function over node:https with the device's key and certificate (mutual
 * TLS) and the pinned device CA as the only trusted root. Node's built-in fetch cannot present a
 * client certificate without the undici package, so SyncClient takes this one through its
 * `fetch` option: `new SyncClient({ ..., gatewayUrl: identity.deviceUrl, fetch: createMtlsFetch(() => loadDeviceIdentity(dir)!) })`.
 *
 * The identity is read through a getter so a renewed certificate is used by the next request
 * (a new keep-alive agent is made when the certificate changes).
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { DeviceIdentity } from './device-identity.ts';

export interface MtlsFetchOptions {
  /** Keep connections open between sync rounds (default true). */
  keepAlive?: boolean;
  /** Answers larger than this are cut off with an error (default 64 MiB). */
  maxAnswerBytes?: number;
}

function headersOf(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError('mtlsFetch sends string, Buffer, Uint8Array or ArrayBuffer bodies only');
}

/** A fetch that also closes its kept-alive connections. */
export type MtlsFetch = typeof fetch & { close(): void };

export function createMtlsFetch(identity: DeviceIdentity | (() => DeviceIdentity), options: MtlsFetchOptions = {}): MtlsFetch {
  const current = typeof identity === 'function' ? identity : () => identity;
  const maxAnswerBytes = options.maxAnswerBytes ?? 64 * 1024 * 1024;
  let agent: Agent | null = null;
  let agentSerial = '';

  const agentFor = (id: DeviceIdentity): Agent => {
    if (agent && agentSerial === id.serial) return agent;
    agent?.destroy();
    agent = new Agent({ key: id.keyPem, cert: id.certPem, ca: [id.caPem], keepAlive: options.keepAlive ?? true, maxCachedSessions: 10 });
    agentSerial = id.serial;
    return agent;
  };

  const mtlsFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input.toString() : input.url);
    if (url.protocol !== 'https:') return Promise.reject(new TypeError(`mutual TLS needs an https URL, got ${url.protocol}`));
    const id = current();
    const headers: Record<string, string> = {};
    new Headers(init.headers ?? {}).forEach((value, name) => {
      headers[name] = value;
    });
    // The certificate is the credential on the device port; a bearer token is not sent there.
    delete headers.authorization;
    const body = bodyBytes(init.body);
    if (body) headers['content-length'] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason ?? new Error('aborted'));
        return;
      }
      const req = httpsRequest(url, {
        method: init.method ?? 'GET',
        headers,
        agent: agentFor(id),
        servername: /^[0-9.]+$|:/.test(url.hostname) ? undefined : url.hostname,
      });
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('request aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (error) => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxAnswerBytes) {
            req.destroy(new Error(`answer over ${maxAnswerBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          signal?.removeEventListener('abort', onAbort);
          const status = res.statusCode ?? 0;
          const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(payload, { status, statusText: res.statusMessage, headers: headersOf(res.headers) }));
        });
      });
      req.end(body);
    });
  };
  const close = (): void => {
    agent?.destroy();
    agent = null;
    agentSerial = '';
  };
  return Object.assign(mtlsFetch, { close }) as unknown as MtlsFetch;
}
