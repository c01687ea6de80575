/**
 * The console acts only through the JSON API: each page calls the same route an integrator
 * would, in process (`app.inject`), as the signed-in person (auth/internal-principal.ts). So the
 * console has no second copy of a business rule: roles, channel rules, validation, idempotency
 * and the audit entry (naming the person) are the route's own, and a refusal comes back as the
 * route's problem code, which the page shows next to the field it concerns.
 */
import type { FastifyInstance } from 'fastify';
import { INTERNAL_CALL_HEADER, withInternalPrincipal } from '../auth/internal-principal.ts';
import type { Principal } from '../auth/principal.ts';

export interface ApiProblem {
  status: number;
  code: string;
  detail: string;
  [extra: string]: unknown;
}

export type ApiAnswer<T> =
  | { ok: true; status: number; body: T; headers: Record<string, unknown>; raw: string }
  | { ok: false; status: number; problem: ApiProblem };

export interface ApiCallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Ask for text/csv (the report routes): the answer's body is the raw text. */
  csv?: boolean;
  requestId?: string;
}

export async function callApi<T = Record<string, unknown>>(
  app: FastifyInstance,
  principal: Principal | null,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  options: ApiCallOptions = {},
): Promise<ApiAnswer<T>> {
  const run = async (handle: string | null) =>
    app.inject({
      method,
      url,
      headers: {
        ...(handle ? { [INTERNAL_CALL_HEADER]: handle } : {}),
        ...(options.csv ? { accept: 'text/csv' } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(options.requestId ? { 'x-request-id': options.requestId } : {}),
        ...(options.headers ?? {}),
      },
      ...(options.body !== undefined ? { payload: JSON.stringify(options.body) } : {}),
    });
  const res = principal ? await withInternalPrincipal(principal, run) : await run(null);
  if (res.statusCode >= 400) {
    let problem: ApiProblem;
    try {
      problem = res.json() as ApiProblem;
    } catch {
      problem = { status: res.statusCode, code: 'internal', detail: res.body.slice(0, 200) };
    }
    return { ok: false, status: res.statusCode, problem };
  }
  const raw = res.body;
  const body = (options.csv || raw.length === 0 ? raw : res.json()) as T;
  return { ok: true, status: res.statusCode, body, headers: res.headers as Record<string, unknown>, raw };
}
