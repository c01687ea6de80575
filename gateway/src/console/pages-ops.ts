/**
 * Operations pages: the day's dashboard (charts drawn by Chart.js from data the page carries as
 * JSON), devices (revoke, enrolment code), blacklist, ledger and reconciliation, clearing report
 * (with the API's CSV), audit search and staff management. Operations viewers see; operations
 * admins also act. Actions go through the JSON API as the person; staff accounts are the
 * console's own (console/staff.ts), each change in the audit log under the admin's name.
 */
import type { FastifyInstance } from 'fastify';
import { CLEARING_OPERATORS } from '../services/reports.ts';
import { beijingDayRange } from '../services/money-time.ts';
import { callApi } from './api.ts';
import { FORM_KEY_PATTERN, newFormKey, runFormOnce } from './form-once.ts';
import { beijingDay, translate } from './i18n.ts';
import type { ConsoleKit } from './install.ts';
import { CONSOLE_PREFIX } from './install.ts';
import { auditConsoleEvent } from './pages-sign-in.ts';
import { CONSOLE_ROLES, type ConsoleRole, createStaff, isConsoleRole, listStaff, newStaffProblems, setStaffDisabled } from './staff.ts';

type Form = Record<string, string | undefined>;
type Json = Record<string, unknown>;

const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The day's figures behind the dashboard charts (read-only queries on the journal, loads and refunds). */
export async function dashboardData(kit: ConsoleKit, day: string): Promise<Json> {
  const range = beijingDayRange(day)!;
  return kit.app.gateway.store.transaction(
    async (tx) => {
      const taps = await tx.all<{ operator: string; hour: number | bigint; n: number | bigint }>(
        'SELECT operator, tx_time / 10000 AS hour, COUNT(*) AS n FROM journal_records WHERE tx_date = ? GROUP BY operator, tx_time / 10000',
        [range.yyyymmdd],
      );
      const loads = await tx.all<{ hour: number | bigint; total: number | bigint; n: number | bigint }>(
        "SELECT load_time / 10000 AS hour, SUM(amount_fen) AS total, COUNT(*) AS n FROM loads WHERE load_date = ? AND status = 'confirmed' GROUP BY load_time / 10000",
        [range.yyyymmdd],
      );
      const revenue = await tx.all<{ operator: string; total: number | bigint }>(
        "SELECT operator, SUM(amount_fen) AS total FROM journal_records WHERE tx_date = ? AND card_action = 'debit' AND status = 'accepted' GROUP BY operator",
        [range.yyyymmdd],
      );
      const due = await tx.get<{ n: number | bigint }>("SELECT COUNT(*) AS n FROM refunds WHERE status = 'waiting'");
      const paid = await tx.get<{ n: number | bigint; total: number | bigint | null }>(
        "SELECT COUNT(*) AS n, SUM(paid_fen) AS total FROM refunds WHERE status = 'paid' AND paid_ms >= ? AND paid_ms < ?",
        [range.startMs, range.endMs],
      );
      const hours = Array.from({ length: 24 }, (_, h) => h);
      const operators = [...new Set([...CLEARING_OPERATORS, ...taps.map((t) => t.operator)])];
      return {
        hours,
        taps: operators.map((operator) => ({
          operator,
          counts: hours.map((h) => Number(taps.find((t) => t.operator === operator && Number(t.hour) === h)?.n ?? 0)),
        })),
        loadsFen: hours.map((h) => Number(loads.find((l) => Number(l.hour) === h)?.total ?? 0)),
        revenueFen: operators.map((operator) => ({ operator, fen: Number(revenue.find((r) => r.operator === operator)?.total ?? 0) })),
        refunds: { due: Number(due?.n ?? 0), paid: Number(paid?.n ?? 0), paidFen: Number(paid?.total ?? 0) },
        totals: {
          taps: taps.reduce((n, t) => n + Number(t.n), 0),
          loadsFen: loads.reduce((n, l) => n + Number(l.total), 0),
          loads: loads.reduce((n, l) => n + Number(l.n), 0),
        },
      };
    },
    { readOnly: true },
  );
}

export async function opsPages(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const viewer = kit.requireStaff('ops-viewer', 'ops-admin');
  const admin = kit.requireStaff('ops-admin');
  const { store, clock, policies } = kit.app.gateway;
  const dayOf = (query: unknown): string => {
    const day = String((query as Form).day ?? beijingDay(clock()));
    return beijingDayRange(day) ? day : beijingDay(clock());
  };

  app.get('/ops', { preHandler: viewer }, async (request, reply) => {
    const day = dayOf(request.query);
    const data = await dashboardData(kit, day);
    const locale = request.consoleLocale;
    const chart = {
      labels: {
        taps: translate(locale, 'ops.taps-by-hour'),
        loads: translate(locale, 'ops.loads-by-hour'),
        revenue: translate(locale, 'ops.revenue-by-operator'),
        refunds: translate(locale, 'ops.refunds'),
        due: translate(locale, 'ops.refunds-due'),
        paid: translate(locale, 'ops.refunds-paid'),
      },
      ...data,
    };
    return kit.render(request, reply, 'ops-dashboard', { title: 'ops.dashboard', day, data, chartJson: JSON.stringify(chart) });
  });

  app.get('/ops/devices', { preHandler: viewer }, async (request, reply) => {
    const principal = request.consoleUser!.principal;
    const devices = await callApi<{ devices: Json[] }>(kit.app, principal, 'GET', '/v1/devices?limit=500');
    const stale = await callApi<{ devices: Json[] }>(kit.app, principal, 'GET', '/v1/ops/devices/stale');
    const certs = await callApi<{ certificates: Json[] }>(kit.app, principal, 'GET', '/v1/ops/devices/certificates?limit=500');
    const staleIds = new Set((stale.ok ? stale.body.devices : []).map((d) => String(d.deviceId)));
    const certOf = new Map<string, Json>();
    for (const c of certs.ok ? certs.body.certificates : []) {
      const prev = certOf.get(String(c.deviceId));
      if (!prev || Number(c.notBeforeMs ?? 0) >= Number(prev.notBeforeMs ?? 0)) certOf.set(String(c.deviceId), c);
    }
    // Whether the device's bearer credential is still live (a revocation revokes it).
    const live = await store.transaction(
      (tx) => tx.all<{ subject: string }>("SELECT DISTINCT subject FROM auth_tokens WHERE role = 'device' AND revoked_ms IS NULL"),
      { readOnly: true },
    );
    const liveIds = new Set(live.map((r) => r.subject));
    const rows: Json[] = (devices.ok ? devices.body.devices : []).map((d) => ({
      ...d,
      stale: staleIds.has(String(d.deviceId)),
      certificate: certOf.get(String(d.deviceId)) ?? null,
      credentialLive: liveIds.has(String(d.deviceId)),
    }));
    const notice = (request.query as Form).done ?? null;
    const deviceKeys = Object.fromEntries(rows.map((d) => [String(d.deviceId), { revoke: newFormKey(), enrol: newFormKey() }]));
    return kit.render(request, reply, 'ops-devices', {
      title: 'devices.title',
      devices: rows,
      deviceKeys,
      pki: certs.ok,
      notice: notice === 'revoked' ? 'devices.revoked' : null,
    });
  });

  app.post('/ops/devices/:deviceId/:op', { preHandler: [admin, kit.csrf] }, async (request, reply) => {
    const { deviceId, op } = request.params as { deviceId: string; op: string };
    if (!DEVICE_ID.test(deviceId) || (op !== 'revoke' && op !== 'enrol')) return reply.callNotFound();
    const body = (request.body ?? {}) as Form;
    const formKey = String(body.formKey ?? '');
    if (!FORM_KEY_PATTERN.test(formKey)) return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.form-expired' }, 400);
    const user = request.consoleUser!;
    const outcome = await runFormOnce<Json>(store, `staff:${user.staff!.username}`, formKey, clock(), async () => {
      const answer =
        op === 'revoke'
          ? await callApi<Json>(kit.app, user.principal, 'POST', `/v1/devices/${deviceId}/revocation`, {
              body: {
                reason:
                  String(body.reason ?? '')
                    .trim()
                    .slice(0, 200) || 'revoked from the console',
              },
              requestId: String(request.id),
            })
          : await callApi<Json>(kit.app, user.principal, 'POST', `/v1/devices/${deviceId}/enrolment`, { requestId: String(request.id) });
      if (!answer.ok) return { kind: 'refused', result: { code: answer.problem.code, detail: answer.problem.detail } };
      return { kind: 'done', result: { ...answer.body, op } };
    });
    if (outcome.kind === 'in-progress') return kit.render(request, reply, 'error', { title: 'app.in-progress', message: 'app.in-progress' }, 409);
    if (outcome.kind === 'refused') {
      return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.error', detail: String(outcome.result.detail) }, 409);
    }
    if (op === 'enrol') return kit.render(request, reply, 'ops-enrolment', { title: 'devices.enrol', enrolment: outcome.result });
    return reply.redirect(`${CONSOLE_PREFIX}/ops/devices?done=revoked`, 303);
  });

  app.get('/ops/blacklist', { preHandler: viewer }, async (request, reply) => {
    const data = await store.transaction(
      async (tx) => ({
        version: Number((await tx.get<{ v: number | bigint | null }>('SELECT MAX(version) AS v FROM blacklist_log'))?.v ?? 0),
        size: Number((await tx.get<{ n: number | bigint }>('SELECT COUNT(*) AS n FROM blacklist_current'))?.n ?? 0),
        latest: await tx.all('SELECT version, card_no, op, reason, at_ms FROM blacklist_log ORDER BY version DESC LIMIT 50'),
      }),
      { readOnly: true },
    );
    return kit.render(request, reply, 'ops-blacklist', { title: 'blacklist.title', ...data });
  });

  app.get('/ops/ledger', { preHandler: viewer }, async (request, reply) => {
    const principal = request.consoleUser!.principal;
    const recon = await callApi<Json>(kit.app, principal, 'GET', '/v1/ledger/reconciliation');
    const balances = await callApi<{ accounts: Json[] }>(kit.app, principal, 'GET', '/v1/ledger/balances');
    return kit.render(request, reply, 'ops-ledger', {
      title: 'ledger.title',
      recon: recon.ok ? recon.body : null,
      balances: balances.ok ? (balances.body.accounts ?? []) : [],
    });
  });

  app.get('/ops/clearing', { preHandler: viewer }, async (request, reply) => {
    const day = dayOf(request.query);
    const answer = await callApi<Json>(kit.app, request.consoleUser!.principal, 'GET', `/v1/reports/clearing?day=${day}`);
    return kit.render(request, reply, 'ops-clearing', { title: 'clearing.title', day, report: answer.ok ? answer.body : null });
  });

  app.get('/ops/clearing.csv', { preHandler: viewer }, async (request, reply) => {
    const day = dayOf(request.query);
    const answer = await callApi<string>(kit.app, request.consoleUser!.principal, 'GET', `/v1/reports/clearing?day=${day}`, { csv: true });
    if (!answer.ok) return reply.code(answer.status).type('text/plain').send(answer.problem.detail);
    return reply
      .header('content-type', String(answer.headers['content-type']))
      .header('content-disposition', String(answer.headers['content-disposition'] ?? `attachment; filename="clearing-${day}.csv"`))
      .send(answer.raw);
  });

  app.get('/ops/audit', { preHandler: viewer }, async (request, reply) => {
    const q = String((request.query as Form).q ?? '')
      .trim()
      .slice(0, 64);
    const rows = await store.transaction(
      (tx) =>
        q === ''
          ? tx.all('SELECT id, at_ms, role, subject, branch_id, method, route, target, status_code FROM audit_log ORDER BY id DESC LIMIT 100')
          : tx.all(
              'SELECT id, at_ms, role, subject, branch_id, method, route, target, status_code FROM audit_log WHERE subject = ? OR target = ? OR branch_id = ? ORDER BY id DESC LIMIT 100',
              [q, q, q],
            ),
      { readOnly: true },
    );
    return kit.render(request, reply, 'ops-audit', { title: 'audit.title', rows, values: { q } });
  });

  app.get('/ops/staff', { preHandler: viewer }, async (request, reply) => {
    const staff = await store.transaction((tx) => listStaff(tx), { readOnly: true });
    return kit.render(request, reply, 'ops-staff', { title: 'staff.title', staff, roles: CONSOLE_ROLES, values: { role: 'teller' } });
  });

  app.post('/ops/staff', { preHandler: [admin, kit.csrf] }, async (request, reply) => {
    const body = (request.body ?? {}) as Form;
    const user = request.consoleUser!;
    const role = String(body.role ?? '');
    const input = {
      username: String(body.username ?? '').trim(),
      displayName: String(body.displayName ?? '').trim(),
      organisationId: String(body.organisationId ?? '').trim() || null,
      role: (isConsoleRole(role) ? role : 'teller') as ConsoleRole,
      password: String(body.password ?? ''),
    };
    const errors = newStaffProblems(input);
    if (!isConsoleRole(role)) errors.role = 'staff.role-invalid';
    if (Object.keys(errors).length === 0) {
      try {
        await createStaff(store, input, user.staff!.username, clock(), policies.passwordKdf);
        await auditConsoleEvent(kit, request, { role: 'operator', subject: user.staff!.username, branchId: null }, '/console/ops/staff', input.username, 201);
        return reply.redirect(`${CONSOLE_PREFIX}/ops/staff`, 303);
      } catch (error) {
        const message = (error as Error).message;
        if (message === 'staff.organisation-unknown') errors.organisationId = message;
        else errors.username = message === 'staff.username-taken' ? 'staff.username-taken' : 'app.error';
      }
    }
    const staff = await store.transaction((tx) => listStaff(tx), { readOnly: true });
    return kit.render(request, reply, 'ops-staff', { title: 'staff.title', staff, roles: CONSOLE_ROLES, errors, values: { ...input, password: '' } }, 400);
  });

  app.post('/ops/staff/:username/:op', { preHandler: [admin, kit.csrf] }, async (request, reply) => {
    const { username, op } = request.params as { username: string; op: string };
    if (op !== 'disable' && op !== 'enable') return reply.callNotFound();
    const user = request.consoleUser!;
    if (username === user.staff!.username) return kit.render(request, reply, 'error', { title: 'app.not-allowed', message: 'app.not-allowed' }, 403);
    const changed = await setStaffDisabled(store, username, op === 'disable', clock());
    await auditConsoleEvent(
      kit,
      request,
      { role: 'operator', subject: user.staff!.username, branchId: null },
      `/console/ops/staff/:username/${op}`,
      username,
      changed ? 200 : 404,
    );
    return reply.redirect(`${CONSOLE_PREFIX}/ops/staff`, 303);
  });
}
