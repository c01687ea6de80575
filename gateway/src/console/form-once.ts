/**
 * Each mutating console form carries an idempotency key made when the form is rendered (and
 * kept when the form is shown again with errors). The key is claimed in the store before the
 * action runs: a second submit of the same form (a double click, a reload, another instance)
 * finds the claim and shows the first outcome instead of acting again. A refusal that changed
 * nothing releases the claim, so the corrected form can be sent with the same key.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/store-port.ts';

export const FORM_KEY_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function newFormKey(): string {
  return randomUUID();
}

/** What the action reports: `done` is kept (and replayed), `refused` releases the key. */
export type FormOutcome<T> = { kind: 'done'; result: T } | { kind: 'refused'; result: T };

export type OnceResult<T> = { kind: 'done'; result: T; replay: boolean } | { kind: 'refused'; result: T } | { kind: 'in-progress' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runFormOnce<T>(
  store: Store,
  scope: string,
  key: string,
  nowMs: number,
  action: () => Promise<FormOutcome<T>>,
  waitMs = 10_000,
): Promise<OnceResult<T>> {
  const claimed = await store.transaction((tx) =>
    tx.run("INSERT INTO console_form_results (scope, form_key, state, result_json, created_ms) VALUES (?, ?, 'running', NULL, ?) ON CONFLICT DO NOTHING", [
      scope,
      key,
      nowMs,
    ]),
  );
  if (claimed === 0) {
    // Another submit of this form holds the key: wait for its outcome.
    const deadline = Date.now() + waitMs;
    for (;;) {
      const row = await store.transaction(
        (tx) =>
          tx.get<{ state: string; result_json: string | null }>('SELECT state, result_json FROM console_form_results WHERE scope = ? AND form_key = ?', [
            scope,
            key,
          ]),
        { readOnly: true },
      );
      if (row === undefined) return runFormOnce(store, scope, key, nowMs, action, Math.max(0, deadline - Date.now()));
      if (row.state === 'done') return { kind: 'done', result: JSON.parse(String(row.result_json)) as T, replay: true };
      if (Date.now() >= deadline) return { kind: 'in-progress' };
      await sleep(50);
    }
  }
  let outcome: FormOutcome<T>;
  try {
    outcome = await action();
  } catch (error) {
    await store.transaction((tx) => tx.run("DELETE FROM console_form_results WHERE scope = ? AND form_key = ? AND state = 'running'", [scope, key]));
    throw error;
  }
  if (outcome.kind === 'refused') {
    await store.transaction((tx) => tx.run("DELETE FROM console_form_results WHERE scope = ? AND form_key = ? AND state = 'running'", [scope, key]));
    return outcome;
  }
  await store.transaction((tx) =>
    tx.run("UPDATE console_form_results SET state = 'done', result_json = ? WHERE scope = ? AND form_key = ?", [JSON.stringify(outcome.result), scope, key]),
  );
  return { kind: 'done', result: outcome.result, replay: false };
}

/** The kept outcome of a form (receipts are read back by key), or null. */
export async function formResult<T>(store: Store, scope: string, key: string): Promise<T | null> {
  const row = await store.transaction(
    (tx) =>
      tx.get<{ result_json: string | null }>("SELECT result_json FROM console_form_results WHERE scope = ? AND form_key = ? AND state = 'done'", [scope, key]),
    { readOnly: true },
  );
  return row?.result_json ? (JSON.parse(row.result_json) as T) : null;
}
