/**
 * A small JSON client for the gateway's HTTP API, over real loopback HTTP (global fetch).
 * The demo talks to the gateway only through it (and validators through their SyncClient).
 */

export class GatewayHttpError extends Error {
  override readonly name = 'GatewayHttpError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`${method} ${path} answered ${status}: ${JSON.stringify(body).slice(0, 400)}`);
  }

  /** The problem+json code, when the answer is a problem. */
  get code(): string | undefined {
    const body = this.body as { code?: unknown } | null;
    return body !== null && typeof body === 'object' && typeof body.code === 'string' ? body.code : undefined;
  }
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Statuses that are answers, not errors (default: 200 and 201). */
  expect?: readonly number[];
}

export class GatewayClient {
  /** Requests made, for the report. */
  requests = 0;

  constructor(readonly baseUrl: string) {}

  async call<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { accept: 'application/json', ...(options.headers ?? {}) };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(options.body);
    }
    this.requests++;
    const response = await fetch(`${this.baseUrl}${path}`, { method, headers, body: payload });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text.length === 0 ? null : JSON.parse(text);
    } catch {
      // keep the text
    }
    const expect = options.expect ?? [200, 201];
    if (!expect.includes(response.status)) throw new GatewayHttpError(method, path, response.status, body);
    return { status: response.status, body: body as T };
  }

  async post<T = any>(path: string, token: string | undefined, body: unknown, headers?: Record<string, string>): Promise<T> {
    return (await this.call<T>('POST', path, { token, body, headers })).body;
  }

  async get<T = any>(path: string, token: string | undefined): Promise<T> {
    return (await this.call<T>('GET', path, { token })).body;
  }
}
