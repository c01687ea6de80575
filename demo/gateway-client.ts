/**
 * The demo's client of the gateway's HTTP API, over real loopback HTTP (global fetch), typed by the
 * contract: openapi-fetch over `paths` from demo/gateway-api-types.ts, which `npm run api:types`
 * generates from the gateway's OpenAPI document. Paths, path and query parameters, headers,
 * request bodies and answers are checked against the document, so a renamed field or route breaks
 * the demo's typecheck. The demo talks to the gateway only through it (and validators through their
 * SyncClient, msgpack over mutual TLS, which is not part of the JSON API).
 */
import createClient, { type Client, type ClientPathsWithMethod, type MaybeOptionalInit, type MethodResponse } from 'openapi-fetch';
import type { components, paths } from './gateway-api-types.ts';

export type { components, paths } from './gateway-api-types.ts';
/** The shared schemas of the OpenAPI document (Problem, Device, …). */
export type GatewaySchemas = components['schemas'];

/** The typed JSON client: every answer is parsed as application/json. */
export type GatewayApi = Client<paths, 'application/json'>;
type Method = 'get' | 'post';
/** The documented paths that answer `method`. */
export type GatewayPath<M extends Method> = ClientPathsWithMethod<GatewayApi, M>;
/** The body of a 2xx answer to `method path`, as documented. */
export type GatewayAnswer<M extends Method, P extends GatewayPath<M>> = MethodResponse<GatewayApi, M, P>;
/** What a call to `method path` takes (params, body, headers); optional when nothing in it is required. */
type Init<M extends Method, P extends GatewayPath<M>> = MaybeOptionalInit<paths[P], M>;
type InitArgs<M extends Method, P extends GatewayPath<M>> = undefined extends Init<M, P> ? [init?: Init<M, P>] : [init: Init<M, P>];
/** The JSON request body of `method path`, as documented. */
export type GatewayBody<M extends Method, P extends GatewayPath<M>> = Exclude<Init<M, P>, undefined> extends { body?: infer B } ? Exclude<B, undefined> : never;

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

/** The Authorization header of a bearer token (none without one). */
export function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

export class GatewayClient {
  /** Requests made, for the report. */
  requests = 0;
  /** openapi-fetch itself, for answers that are not errors when they are not 2xx: { data, error, response }. */
  readonly api: GatewayApi;

  constructor(readonly baseUrl: string) {
    this.api = createClient<paths, 'application/json'>({ baseUrl, headers: { accept: 'application/json' } });
    this.api.use({
      onRequest: () => {
        this.requests++;
        return undefined;
      },
    });
  }

  /** POST as `token`: the 2xx answer's body; any other status throws GatewayHttpError. */
  async post<P extends GatewayPath<'post'>>(path: P, token: string | undefined, ...init: InitArgs<'post', P>): Promise<GatewayAnswer<'post', P>> {
    const options = init[0] as { headers?: Record<string, string> } | undefined;
    // The generic init is checked at the call site; openapi-fetch cannot re-check it through P.
    const answer = await this.api.POST(path, { ...options, headers: { ...options?.headers, ...bearer(token) } } as never);
    return this.ok('POST', answer);
  }

  /** GET as `token`: the 2xx answer's body; any other status throws GatewayHttpError. */
  async get<P extends GatewayPath<'get'>>(path: P, token: string | undefined, ...init: InitArgs<'get', P>): Promise<GatewayAnswer<'get', P>> {
    const options = init[0] as { headers?: Record<string, string> } | undefined;
    const answer = await this.api.GET(path, { ...options, headers: { ...options?.headers, ...bearer(token) } } as never);
    return this.ok('GET', answer);
  }

  private ok<T>(method: string, answer: { data?: unknown; error?: unknown; response: Response }): T {
    if (answer.response.ok) return (answer.data ?? null) as T;
    const url = new URL(answer.response.url);
    throw new GatewayHttpError(method, `${url.pathname}${url.search}`, answer.response.status, answer.error ?? null);
  }
}
