/**
 * In-process calls of the JSON API on behalf of a person signed in to the console
 * (console/api.ts): the console resolves its session to a principal and calls the very same
 * route with `app.inject`, so every rule, refusal and audit entry is the API's own. The
 * principal travels as a random one-time handle known only to this process: a request from
 * outside cannot present one (the header is ignored unless the handle is pending here).
 */
import { randomBytes } from 'node:crypto';
import type { Principal } from './principal.ts';

export const INTERNAL_CALL_HEADER = 'x-console-call';

const pending = new Map<string, Principal>();

/** Runs `call` with a handle that stands for `principal` until `call` settles. */
export async function withInternalPrincipal<T>(principal: Principal, call: (handle: string) => Promise<T>): Promise<T> {
  const handle = randomBytes(32).toString('base64url');
  pending.set(handle, principal);
  try {
    return await call(handle);
  } finally {
    pending.delete(handle);
  }
}

/** The principal of a pending handle, or null. */
export function internalPrincipal(header: string | string[] | undefined): Principal | null {
  if (typeof header !== 'string' || header.length !== 43) return null;
  return pending.get(header) ?? null;
}
