/**
 * Operations pages for fare tables and money anomalies (issue 15): every fare-table version with
 * the one in force, one version's contents, the difference between two versions, and publishing a
 * new version with its effective date (an operations admin; a confirmation step shows the
 * difference from the latest version first); the money anomalies with their evidence (the
 * uploaded records at the card's offline ATC, or the load a reinstated void concerns).
 *
 * Fare tables are read and published through the JSON API (GET/POST /v1/fare-tables), whose
 * decoder checks every fare rule: this module only lays the bundle out and compares two of them.
 */
import type { FastifyInstance } from 'fastify';
import { isCardNo } from '#core';
import { MONEY_ANOMALY_KIND_NAMES } from '../services/anomalies.ts';
import { beijingDayRange } from '../services/money-time.ts';
import { callApi } from './api.ts';
import { FORM_KEY_PATTERN, newFormKey, runFormOnce } from './form-once.ts';
import { beijingDay } from './i18n.ts';
import type { ConsoleKit } from './install.ts';
import { CONSOLE_PREFIX } from './install.ts';

type Form = Record<string, string | undefined>;
type Json = Record<string, unknown>;

/** The bundle's leaves by path ('busPolicy.baseFareFen', 'parks[3].priceFen'); the network CSV apart. */
export function flattenBundle(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, '[]');
    for (const [i, item] of value.entries()) flattenBundle(item, `${path}[${i}]`, out);
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Json);
    if (entries.length === 0) out.set(path, '{}');
    for (const [key, item] of entries) {
      if (path === '' && key === 'subwayCsv') continue;
      flattenBundle(item, path === '' ? key : `${path}.${key}`, out);
    }
  } else {
    out.set(path, JSON.stringify(value));
  }
  return out;
}

export interface BundleDifference {
  /** Leaves that differ: path, before (null: absent), after (null: absent). */
  changed: Array<{ path: string; before: string | null; after: string | null }>;
  /** Sections of the subway network (CSV lines) only in the newer / only in the older. */
  sectionsAdded: string[];
  sectionsRemoved: string[];
}

/** What changed from bundle `a` to bundle `b` (version and effective date included). */
export function bundleDifference(a: Json, b: Json): BundleDifference {
  const before = flattenBundle(a);
  const after = flattenBundle(b);
  const paths = [...new Set([...before.keys(), ...after.keys()])];
  const changed = paths
    .filter((path) => before.get(path) !== after.get(path))
    .map((path) => ({ path, before: before.get(path) ?? null, after: after.get(path) ?? null }));
  const lines = (bundle: Json) =>
    new Set(
      String(bundle.subwayCsv ?? '')
        .split(/\r?\n/)
        .slice(1)
        .filter((line) => line.trim() !== ''),
    );
  const linesA = lines(a);
  const linesB = lines(b);
  return {
    changed,
    sectionsAdded: [...linesB].filter((line) => !linesA.has(line)),
    sectionsRemoved: [...linesA].filter((line) => !linesB.has(line)),
  };
}

const VERSION = /^[1-9][0-9]{0,9}$/;

/** The leaves by the bundle's top-level part (subwayPolicy, busLines, parks, ...): the version page shows each part apart. */
function groupLeaves(leaves: Map<string, string>): Array<{ name: string; leaves: Array<[string, string]> }> {
  const groups = new Map<string, Array<[string, string]>>();
  for (const [path, value] of leaves) {
    const name = path.split(/[.[]/)[0];
    if (name === 'version' || name === 'effectiveFromMs' || name === 'format') continue;
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name)!.push([path, value]);
  }
  return [...groups.entries()].map(([name, entries]) => ({ name, leaves: entries }));
}

export async function farePages(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const viewer = kit.requireStaff('ops-viewer', 'ops-admin');
  const admin = kit.requireStaff('ops-admin');
  const { store, clock } = kit.app.gateway;

  async function listing(request: { consoleUser: { principal: import('../auth/principal.ts').Principal } | null }) {
    const answer = await callApi<{ fareTables: Json[]; inForceVersion: number | null }>(kit.app, request.consoleUser!.principal, 'GET', '/v1/fare-tables');
    return answer.ok ? answer.body : { fareTables: [], inForceVersion: null };
  }
  async function bundle(request: { consoleUser: { principal: import('../auth/principal.ts').Principal } | null }, version: string): Promise<Json | null> {
    const answer = await callApi<Json>(kit.app, request.consoleUser!.principal, 'GET', `/v1/fare-tables/${version}`);
    return answer.ok ? answer.body : null;
  }

  app.get('/ops/fares', { preHandler: viewer }, async (request, reply) => {
    const list = await listing(request);
    const notice = (request.query as Form).done === 'published' ? 'fares.published' : null;
    return kit.render(request, reply, 'ops-fares', { title: 'fares.title', ...list, notice });
  });

  app.get('/ops/fares/diff', { preHandler: viewer }, async (request, reply) => {
    const query = request.query as Form;
    const a = String(query.a ?? '');
    const b = String(query.b ?? '');
    const list = await listing(request);
    const [older, newer] = VERSION.test(a) && VERSION.test(b) ? await Promise.all([bundle(request, a), bundle(request, b)]) : [null, null];
    if (!older || !newer) {
      return kit.render(request, reply, 'ops-fares', { title: 'fares.title', ...list, errors: { compare: 'fares.no-version' }, values: { a, b } }, 404);
    }
    return kit.render(request, reply, 'ops-fare-diff', { title: 'fares.diff-title', a, b, diff: bundleDifference(older, newer) });
  });

  app.get('/ops/fares/new', { preHandler: admin }, async (request, reply) => {
    const list = await listing(request);
    const latest = list.fareTables.at(-1);
    const base = latest ? await bundle(request, String(latest.version)) : null;
    const nextVersion = Number(latest?.version ?? 0) + 1;
    // Tomorrow, Beijing: the earliest midnight not in the past.
    const effectiveDay = beijingDay(clock() + 24 * 3_600_000);
    const draft = base ? JSON.stringify({ ...base, version: nextVersion }, null, 1) : '';
    return kit.render(request, reply, 'ops-fare-new', {
      title: 'fares.publish',
      step: 'input',
      formKey: newFormKey(),
      values: { version: String(nextVersion), effectiveDay, bundle: draft },
    });
  });

  app.post('/ops/fares', { preHandler: [admin, kit.csrf], bodyLimit: 6 * 1024 * 1024 }, async (request, reply) => {
    const body = (request.body ?? {}) as Form;
    const user = request.consoleUser!;
    const formKey = String(body.formKey ?? '');
    if (!FORM_KEY_PATTERN.test(formKey)) return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.form-expired' }, 400);
    const values = { version: String(body.version ?? '').trim(), effectiveDay: String(body.effectiveDay ?? '').trim(), bundle: String(body.bundle ?? '') };
    const view = { title: 'fares.publish', formKey, values };
    const errors: Record<string, string> = {};
    if (!VERSION.test(values.version)) errors.version = 'fares.version-invalid';
    const range = beijingDayRange(values.effectiveDay);
    if (!range) errors.effectiveDay = 'report.day';
    let parsed: Json | null = null;
    try {
      const value = JSON.parse(values.bundle) as unknown;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) parsed = value as Json;
      else errors.bundle = 'fares.bundle-invalid';
    } catch {
      errors.bundle = 'fares.bundle-invalid';
    }
    if (Object.keys(errors).length > 0 || !parsed || !range) return kit.render(request, reply, 'ops-fare-new', { ...view, step: 'input', errors }, 400);
    const candidate: Json = { ...parsed, version: Number(values.version), effectiveFromMs: range.startMs };

    if (body.step !== 'confirm') {
      // The confirmation shows what changes from the latest version.
      const list = await listing(request);
      const latest = list.fareTables.at(-1);
      const base = latest ? await bundle(request, String(latest.version)) : null;
      return kit.render(request, reply, 'ops-fare-new', {
        ...view,
        step: 'review',
        latestVersion: latest?.version ?? null,
        diff: base ? bundleDifference(base, candidate) : null,
      });
    }
    const outcome = await runFormOnce<Json>(store, `staff:${user.staff!.username}`, formKey, clock(), async () => {
      const answer = await callApi<Json>(kit.app, user.principal, 'POST', '/v1/fare-tables', { body: candidate, requestId: String(request.id) });
      if (!answer.ok) return { kind: 'refused', result: { code: answer.problem.code, detail: answer.problem.detail } };
      return { kind: 'done', result: answer.body };
    });
    if (outcome.kind === 'in-progress') return kit.render(request, reply, 'error', { title: 'app.in-progress', message: 'app.in-progress' }, 409);
    if (outcome.kind === 'refused') {
      const code = String(outcome.result.code);
      const field = code.startsWith('fare-table-effective') ? 'effectiveDay' : code === 'fare-table-version-not-newer' ? 'version' : 'bundle';
      return kit.render(request, reply, 'ops-fare-new', { ...view, step: 'input', errors: { [field]: code }, problem: String(outcome.result.detail) }, 409);
    }
    return reply.redirect(`${CONSOLE_PREFIX}/ops/fares?done=published`, 303);
  });

  app.get('/ops/fares/:version', { preHandler: viewer }, async (request, reply) => {
    const { version } = request.params as { version: string };
    if (!VERSION.test(version)) return reply.callNotFound();
    const found = await bundle(request, version);
    if (!found) return reply.callNotFound();
    const sections = String(found.subwayCsv ?? '')
      .split(/\r?\n/)
      .slice(1)
      .filter((line) => line.trim() !== '');
    return kit.render(request, reply, 'ops-fare-version', {
      title: 'fares.version-title',
      version,
      effectiveFromMs: Number(found.effectiveFromMs),
      sections: sections.length,
      groups: groupLeaves(flattenBundle(found)),
    });
  });

  app.get('/ops/anomalies', { preHandler: viewer }, async (request, reply) => {
    const query = request.query as Form;
    const kind = MONEY_ANOMALY_KIND_NAMES.includes(String(query.kind) as never) ? String(query.kind) : undefined;
    const cardNo = isCardNo(String(query.cardNo ?? '')) ? String(query.cardNo) : undefined;
    const params = new URLSearchParams({ limit: '200' });
    if (kind) params.set('kind', kind);
    if (cardNo) params.set('cardNo', cardNo);
    const answer = await callApi<{ anomalies: Json[] }>(kit.app, request.consoleUser!.principal, 'GET', `/v1/ops/anomalies?${params}`);
    const anomalies = answer.ok ? answer.body.anomalies.slice().reverse() : [];
    // The evidence: the uploaded records of the card at that offline ATC, or the load of a reinstated void.
    const evidence = await store.transaction(
      async (tx) => {
        const out: Record<string, Json[]> = {};
        for (const a of anomalies) {
          const id = String(a.id);
          if (a.kind === 'load-void-reversed' && a.loadId !== null && a.loadId !== undefined) {
            out[id] = await tx.all('SELECT id, branch, amount_fen, status, resolution, online_atc, created_ms, resolved_ms FROM loads WHERE id = ?', [
              String(a.loadId),
            ]);
          } else {
            out[id] = await tx.all(
              'SELECT device_id, device_seq, status, amount_fen, tac, tx_date, tx_time, offline_atc FROM journal_records WHERE card_no = ? AND offline_atc BETWEEN ? AND ? ORDER BY offline_atc, device_id, device_seq LIMIT 10',
              [String(a.cardNo), Number(a.atc) - 1, Number(a.atc) + 1],
            );
          }
        }
        return out;
      },
      { readOnly: true },
    );
    return kit.render(request, reply, 'ops-anomalies', {
      title: 'anomalies.title',
      anomalies,
      evidence,
      kinds: MONEY_ANOMALY_KIND_NAMES,
      values: { kind: kind ?? '', cardNo: cardNo ?? '' },
    });
  });
}
