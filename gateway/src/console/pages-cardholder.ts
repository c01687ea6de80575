/**
 * Cardholder pages (the app's web face, laid out for a phone): sign in with the card number and
 * the service password (the app login of the JSON API, with its lockout; the first sign-in forces
 * the change), balance and trips, report the card lost (temporary), the park pass and its
 * visits, change the service password. Buying the pass needs the card present, so it is offered
 * only where a card-reader port is wired (sandbox, demo).
 */
import { isCardNo } from '#core';
import type { FastifyInstance } from 'fastify';
import { changeAppPassword } from '../auth/app-login.ts';
import { callApi } from './api.ts';
import { FORM_KEY_PATTERN, runFormOnce } from './form-once.ts';
import type { ConsoleKit } from './install.ts';
import { CONSOLE_PREFIX, SESSION_COOKIE } from './install.ts';
import { openSession, revokeOtherSessions } from './sessions.ts';

type Form = Record<string, string | undefined>;
type Json = Record<string, unknown>;

export async function cardholderPages(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const { store, clock, policies } = kit.app.gateway;
  const holder = kit.requireCardholder();

  app.get('/my/sign-in', async (request, reply) => kit.render(request, reply, 'my-sign-in', { title: 'my.signin', mobile: true }));

  app.post('/my/sign-in', { config: { rateLimit: { max: kit.options.signInPerMinute, timeWindow: 60_000 } }, preHandler: kit.csrf }, async (request, reply) => {
    const body = (request.body ?? {}) as Form;
    const cardNo = String(body.cardNo ?? '').trim();
    const password = String(body.password ?? '');
    const errors: Record<string, string> = {};
    if (!isCardNo(cardNo)) errors.cardNo = 'counter.query-invalid';
    else if (password.length === 0) errors.password = 'signin.invalid';
    else {
      // The JSON API's app login: same password check, same lockout.
      const answer = await callApi<Json>(kit.app, null, 'POST', '/v1/auth/app-sessions', { body: { cardNo, password }, requestId: String(request.id) });
      if (answer.ok) {
        // The API's bearer token is not kept: the console session stands for the cardholder.
        const id = await openSession(store, 'cardholder', cardNo, clock(), kit.sessionPolicy);
        reply.setCookie(SESSION_COOKIE, id, kit.cookieOptions(request));
        return reply.redirect(answer.body.mustChangePassword ? `${CONSOLE_PREFIX}/my/password` : `${CONSOLE_PREFIX}/my`, 303);
      }
      errors.password = answer.problem.code === 'account-locked' ? 'signin.locked' : 'signin.invalid';
    }
    return kit.render(request, reply, 'my-sign-in', { title: 'my.signin', mobile: true, errors, values: { cardNo } }, 401);
  });

  app.get('/my', { preHandler: holder }, async (request, reply) => {
    const user = request.consoleUser!;
    const card = await callApi<Json>(kit.app, user.principal, 'GET', `/v1/cards/${user.cardNo}`);
    const trips = await callApi<{ transactions: Json[] }>(kit.app, user.principal, 'GET', `/v1/cards/${user.cardNo}/transactions?limit=30`);
    // The passes with the visits the back office has uploaded (the JSON route); the card's own count where a reader is wired.
    const passAnswer = await callApi<{ passes: Json[] }>(kit.app, user.principal, 'GET', `/v1/cards/${user.cardNo}/park-passes`);
    const passes = passAnswer.ok ? passAnswer.body.passes : [];
    let cardPasses: Array<{ year: number; visits: number }> | null = null;
    if (kit.options.cardReader) cardPasses = await kit.options.cardReader.parkPasses(user.cardNo!).catch(() => null);
    const notice = (request.query as Form).done;
    return kit.render(request, reply, 'my-card', {
      title: 'my.title',
      mobile: true,
      card: card.ok ? card.body : null,
      trips: trips.ok ? trips.body.transactions : [],
      passes,
      cardPasses,
      notice: notice === 'reported' ? 'my.reported' : notice === 'password' ? 'password.changed' : notice === 'park-pass' ? 'my.park-pass-bought' : null,
    });
  });

  app.post('/my/loss', { preHandler: [holder, kit.csrf] }, async (request, reply) => {
    const user = request.consoleUser!;
    const formKey = String(((request.body ?? {}) as Form).formKey ?? '');
    if (!FORM_KEY_PATTERN.test(formKey)) return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.form-expired', mobile: true }, 400);
    const outcome = await runFormOnce<Json>(store, `card:${user.cardNo}`, formKey, clock(), async () => {
      const answer = await callApi<Json>(kit.app, user.principal, 'POST', `/v1/cards/${user.cardNo}/loss-reports`, {
        body: { kind: 'temporary' },
        requestId: String(request.id),
      });
      if (!answer.ok) return { kind: 'refused', result: { code: answer.problem.code, detail: answer.problem.detail } };
      return { kind: 'done', result: answer.body };
    });
    if (outcome.kind === 'refused')
      return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.error', detail: String(outcome.result.detail), mobile: true }, 409);
    return reply.redirect(`${CONSOLE_PREFIX}/my?done=reported`, 303);
  });

  // Buying the park pass needs the card present: offered only where a card reader is wired (sandbox, demo).
  app.get('/my/park-pass', { preHandler: holder }, async (request, reply) => {
    if (!kit.options.cardReader) return reply.callNotFound();
    return kit.render(request, reply, 'my-park-pass', { title: 'my.buy-park-pass', mobile: true, price: policies.parkPassPriceFen });
  });

  app.post('/my/park-pass', { preHandler: [holder, kit.csrf] }, async (request, reply) => {
    const reader = kit.options.cardReader;
    if (!reader) return reply.callNotFound();
    const user = request.consoleUser!;
    const cardNo = user.cardNo!;
    const formKey = String(((request.body ?? {}) as Form).formKey ?? '');
    if (!FORM_KEY_PATTERN.test(formKey)) return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.form-expired', mobile: true }, 400);
    const outcome = await runFormOnce<Json>(store, `card:${cardNo}`, formKey, clock(), async () => {
      const challenge = await reader.getChallenge(cardNo);
      if (!challenge.value) return { kind: 'refused', result: { code: 'card.reader-refused', detail: `SW ${challenge.sw.toString(16)}` } };
      const slots = await reader.parkPasses(cardNo);
      const sale = await callApi<Json>(kit.app, user.principal, 'POST', `/v1/cards/${cardNo}/park-passes`, {
        headers: { 'idempotency-key': `console-${formKey}` },
        body: { challenge: challenge.value, cardPassYears: [slots[0]?.year ?? 0, slots[1]?.year ?? 0] },
        requestId: String(request.id),
      });
      if (!sale.ok) return { kind: 'refused', result: { code: sale.problem.code, detail: sale.problem.detail } };
      const write = sale.body.write as { kind: 'park-pass-current' | 'park-pass-previous'; record: string; mac: string };
      const written = await reader.updateRecord(cardNo, write.kind, write.record, write.mac);
      return { kind: 'done', result: { passYear: sale.body.passYear, written: written.value === true } };
    });
    if (outcome.kind === 'in-progress') return kit.render(request, reply, 'error', { title: 'app.in-progress', message: 'app.in-progress', mobile: true }, 409);
    if (outcome.kind === 'refused') {
      const code = String(outcome.result.code);
      return kit.render(
        request,
        reply,
        'my-park-pass',
        { title: 'my.buy-park-pass', mobile: true, price: policies.parkPassPriceFen, errors: { form: code }, problem: String(outcome.result.detail) },
        409,
      );
    }
    return reply.redirect(`${CONSOLE_PREFIX}/my?done=park-pass`, 303);
  });

  app.get('/my/password', { preHandler: kit.requireCardholder({ allowPasswordChange: true }) }, async (request, reply) =>
    kit.render(request, reply, 'password', {
      title: 'my.change-password',
      mobile: true,
      action: `${CONSOLE_PREFIX}/my/password`,
      mustChange: request.consoleUser!.principal.mustChangePassword,
    }),
  );

  app.post('/my/password', { preHandler: [kit.requireCardholder({ allowPasswordChange: true }), kit.csrf] }, async (request, reply) => {
    const user = request.consoleUser!;
    const body = (request.body ?? {}) as Form;
    const current = String(body.currentPassword ?? '');
    const next = String(body.newPassword ?? '');
    const errors: Record<string, string> = {};
    if (next.length < 6) errors.newPassword = 'my.password-short';
    else if (next === current) errors.newPassword = 'password.same';
    else {
      try {
        // The API's own service (POST /v1/auth/app-password needs the bearer token the console does not keep).
        await changeAppPassword(store, user.cardNo!, current, next, user.sessionHash, clock, policies.passwordKdf);
        await revokeOtherSessions(store, 'cardholder', user.cardNo!, user.sessionHash, clock());
        return reply.redirect(`${CONSOLE_PREFIX}/my?done=password`, 303);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'invalid-credentials') errors.currentPassword = 'password.wrong';
        else if (code === 'invalid-request') errors.newPassword = 'password.same';
        else throw error;
      }
    }
    return kit.render(
      request,
      reply,
      'password',
      { title: 'my.change-password', mobile: true, action: `${CONSOLE_PREFIX}/my/password`, errors, mustChange: user.principal.mustChangePassword },
      400,
    );
  });
}
