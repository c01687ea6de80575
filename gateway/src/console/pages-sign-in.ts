/**
 * Staff sign-in, sign-out and the person's own password change. Sign-in is rate-limited per
 * address (@fastify/rate-limit) on top of the account lockout (staff.ts); both sign-ins and
 * sign-outs are in the audit log under the person's name.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { recordAudit } from '../services/audit.ts';
import type { ConsoleKit } from './install.ts';
import { CONSOLE_PREFIX, SESSION_COOKIE } from './install.ts';
import { openSession, revokeOtherSessions, revokeSession } from './sessions.ts';
import { changeStaffPassword, isCounterRole, MIN_PASSWORD_LENGTH, type StaffAccount, verifyStaffLogin } from './staff.ts';

type Form = Record<string, string | undefined>;

/** Only local console paths are followed after sign-in (no open redirect). */
export function safeNext(next: unknown, fallback: string): string {
  return typeof next === 'string' && /^\/console(\/[A-Za-z0-9/_.?=&%-]*)?$/.test(next) && !next.includes('//') ? next : fallback;
}

export async function auditConsoleEvent(
  kit: ConsoleKit,
  request: FastifyRequest,
  who: { role: string; subject: string; branchId: string | null },
  route: string,
  target: string | null,
  statusCode: number,
): Promise<void> {
  const { store, clock } = kit.app.gateway;
  await store.transaction((tx) =>
    recordAudit(tx, {
      atMs: clock(),
      role: who.role,
      subject: who.subject,
      branchId: who.branchId,
      method: 'POST',
      route,
      target,
      statusCode,
      requestId: String(request.id),
    }),
  );
}

function home(account: StaffAccount): string {
  return `${CONSOLE_PREFIX}/${isCounterRole(account.role) ? 'counter' : 'ops'}`;
}

export async function staffSignInPages(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const { store, clock, policies } = kit.app.gateway;

  app.get('/sign-in', async (request, reply) => {
    const query = request.query as Form;
    return kit.render(request, reply, 'sign-in', { title: 'signin.title', next: safeNext(query.next, '') });
  });

  app.post(
    '/sign-in',
    {
      config: { rateLimit: { max: kit.options.signInPerMinute, timeWindow: 60_000 } },
      preHandler: kit.csrf,
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as Form;
      const username = String(body.username ?? '').trim();
      const password = String(body.password ?? '');
      const errors: Record<string, string> = {};
      if (username === '') errors.username = 'signin.invalid';
      if (password === '') errors.password = 'signin.invalid';
      if (Object.keys(errors).length === 0) {
        const result = await verifyStaffLogin(store, username, password, clock, {
          maxFailures: kit.options.staffMaxFailures,
          lockoutMs: kit.options.staffLockoutMs,
          kdf: policies.passwordKdf,
        });
        if (result.ok) {
          const id = await openSession(store, 'staff', result.account.username, clock(), kit.sessionPolicy);
          const principal = isCounterRole(result.account.role) ? 'counter' : 'operator';
          await auditConsoleEvent(
            kit,
            request,
            { role: principal, subject: result.account.username, branchId: result.account.organisationId },
            '/console/sign-in',
            username,
            200,
          );
          reply.setCookie(SESSION_COOKIE, id, kit.cookieOptions(request));
          return reply.redirect(result.account.mustChange ? `${CONSOLE_PREFIX}/password` : safeNext(body.next, home(result.account)), 303);
        }
        await auditConsoleEvent(
          kit,
          request,
          { role: 'staff', subject: username.slice(0, 64), branchId: null },
          '/console/sign-in',
          username.slice(0, 64),
          401,
        );
        errors.password = result.code === 'account-locked' ? 'signin.locked' : 'signin.invalid';
      }
      return kit.render(request, reply, 'sign-in', { title: 'signin.title', errors, values: { username }, next: safeNext(body.next, '') }, 401);
    },
  );

  app.post('/sign-out', { preHandler: kit.csrf }, async (request, reply) => {
    const id = request.cookies[SESSION_COOKIE];
    const user = request.consoleUser;
    if (id) await revokeSession(store, id, clock());
    if (user?.kind === 'staff' && user.staff) {
      await auditConsoleEvent(
        kit,
        request,
        { role: user.principal.role, subject: user.staff.username, branchId: user.principal.branchId },
        '/console/sign-out',
        null,
        200,
      );
    }
    reply.clearCookie(SESSION_COOKIE, { path: CONSOLE_PREFIX });
    return reply.redirect(user?.kind === 'cardholder' ? `${CONSOLE_PREFIX}/my/sign-in` : `${CONSOLE_PREFIX}/sign-in`, 303);
  });

  app.get('/password', { preHandler: kit.requireStaff() }, async (request, reply) =>
    kit.render(request, reply, 'password', {
      title: 'password.title',
      action: `${CONSOLE_PREFIX}/password`,
      mustChange: request.consoleUser?.staff?.mustChange,
    }),
  );

  app.post('/password', { preHandler: [kit.requireStaff(), kit.csrf] }, async (request, reply) => {
    const user = request.consoleUser!;
    const body = (request.body ?? {}) as Form;
    const current = String(body.currentPassword ?? '');
    const next = String(body.newPassword ?? '');
    const errors: Record<string, string> = {};
    const check = await verifyStaffLogin(store, user.staff!.username, current, clock, {
      maxFailures: kit.options.staffMaxFailures,
      lockoutMs: kit.options.staffLockoutMs,
      kdf: policies.passwordKdf,
    });
    if (!check.ok) errors.currentPassword = check.code === 'account-locked' ? 'signin.locked' : 'password.wrong';
    else if (next.length < MIN_PASSWORD_LENGTH) errors.newPassword = 'staff.password-short';
    else if (next === current) errors.newPassword = 'password.same';
    if (Object.keys(errors).length > 0) {
      return kit.render(
        request,
        reply,
        'password',
        { title: 'password.title', action: `${CONSOLE_PREFIX}/password`, errors, mustChange: user.staff!.mustChange },
        400,
      );
    }
    await changeStaffPassword(store, user.staff!.username, next, clock(), policies.passwordKdf);
    await revokeOtherSessions(store, 'staff', user.staff!.username, user.sessionHash, clock());
    return reply.redirect(home(user.staff!), 303);
  });
}
