/**
 * Operations: system integrations' bearer tokens (issue 15, "staff and token management"). The
 * list shows operator and counter tokens (label, organisation, who made it, expiry, revoked) but
 * never a token: only its hash is stored. An operations admin issues a token through the JSON
 * route POST /v1/auth/tokens (shown once on the answer page, never kept in the form's stored
 * outcome) and revokes one (refused at once by every instance: tokens are checked in the store),
 * each in the audit log under the admin's name.
 */
import type { FastifyInstance } from 'fastify';
import { listIntegrationTokens, revokeIntegrationToken } from '../auth/tokens.ts';
import { STAFF_ROLES } from '../services/channel-rules.ts';
import { callApi } from './api.ts';
import { FORM_KEY_PATTERN, newFormKey, runFormOnce } from './form-once.ts';
import type { ConsoleKit } from './install.ts';
import { CONSOLE_PREFIX } from './install.ts';
import { auditConsoleEvent } from './pages-sign-in.ts';

type Form = Record<string, string | undefined>;
type Json = Record<string, unknown>;

const TOKEN_HASH = /^[0-9a-f]{64}$/;
const ORGANISATION_ID = /^[A-Za-z0-9._-]{1,64}$/;

export async function tokenPages(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const viewer = kit.requireStaff('ops-viewer', 'ops-admin');
  const admin = kit.requireStaff('ops-admin');
  const { store, clock } = kit.app.gateway;

  const page = async (extra: Json = {}) => ({
    title: 'tokens.title',
    tokens: await store.transaction((tx) => listIntegrationTokens(tx), { readOnly: true }),
    staffRoles: STAFF_ROLES,
    formKey: newFormKey(),
    values: { role: 'counter', staffRole: 'teller' },
    ...extra,
  });

  app.get('/ops/tokens', { preHandler: viewer }, async (request, reply) => {
    const done = (request.query as Form).done;
    return kit.render(request, reply, 'ops-tokens', await page({ notice: done === 'revoked' ? 'tokens.revoked' : null }));
  });

  app.post('/ops/tokens', { preHandler: [admin, kit.csrf] }, async (request, reply) => {
    const body = (request.body ?? {}) as Form;
    const user = request.consoleUser!;
    const formKey = String(body.formKey ?? '');
    if (!FORM_KEY_PATTERN.test(formKey)) return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.form-expired' }, 400);
    const values = {
      role: body.role === 'operator' ? 'operator' : 'counter',
      label: String(body.label ?? '').trim(),
      organisationId: String(body.organisationId ?? '').trim(),
      staffRole: (STAFF_ROLES as readonly string[]).includes(String(body.staffRole)) ? String(body.staffRole) : 'teller',
      ttlMinutes: String(body.ttlMinutes ?? '').trim(),
    };
    const errors: Record<string, string> = {};
    if (values.label.length === 0 || values.label.length > 64) errors.label = 'tokens.label-invalid';
    if (values.role === 'counter' && !ORGANISATION_ID.test(values.organisationId)) errors.organisationId = 'staff.organisation-invalid';
    if (values.ttlMinutes !== '' && !/^[1-9][0-9]{0,5}$/.test(values.ttlMinutes)) errors.ttlMinutes = 'tokens.ttl-invalid';
    if (Object.keys(errors).length > 0) return kit.render(request, reply, 'ops-tokens', await page({ formKey, values, errors }), 400);
    // The clear token is shown on this answer only: the stored outcome (replayed on a second submit) never holds it.
    let shown: string | null = null;
    const outcome = await runFormOnce<Json>(store, `staff:${user.staff!.username}`, formKey, clock(), async () => {
      const answer = await callApi<Json>(kit.app, user.principal, 'POST', '/v1/auth/tokens', {
        body: {
          role: values.role,
          label: values.label,
          ...(values.role === 'counter' ? { organisationId: values.organisationId, staffRole: values.staffRole } : {}),
          ...(values.ttlMinutes ? { ttlMinutes: Number(values.ttlMinutes) } : {}),
        },
        requestId: String(request.id),
      });
      if (!answer.ok) return { kind: 'refused', result: { code: answer.problem.code, detail: answer.problem.detail } };
      shown = String(answer.body.token);
      const { token: _token, ...rest } = answer.body;
      return { kind: 'done', result: rest };
    });
    if (outcome.kind === 'in-progress') return kit.render(request, reply, 'error', { title: 'app.in-progress', message: 'app.in-progress' }, 409);
    if (outcome.kind === 'refused') {
      const code = String(outcome.result.code);
      const field = code === 'organisation-not-found' ? 'organisationId' : 'label';
      return kit.render(
        request,
        reply,
        'ops-tokens',
        await page({ formKey, values, errors: { [field]: code === 'organisation-not-found' ? 'staff.organisation-unknown' : 'app.error' } }),
        409,
      );
    }
    return kit.render(request, reply, 'ops-token-issued', {
      title: 'tokens.issued',
      issued: { ...outcome.result, label: values.label },
      token: shown,
      notice: outcome.replay ? 'tokens.replayed' : null,
    });
  });

  app.post('/ops/tokens/:hash/revoke', { preHandler: [admin, kit.csrf] }, async (request, reply) => {
    const { hash } = request.params as { hash: string };
    if (!TOKEN_HASH.test(hash)) return reply.callNotFound();
    const user = request.consoleUser!;
    const changed = await store.transaction((tx) => revokeIntegrationToken(tx, hash, clock()));
    await auditConsoleEvent(
      kit,
      request,
      { role: 'operator', subject: user.staff!.username, branchId: null },
      '/console/ops/tokens/:hash/revoke',
      hash.slice(0, 16),
      changed ? 200 : 404,
    );
    return reply.redirect(`${CONSOLE_PREFIX}/ops/tokens?done=revoked`, 303);
  });
}
