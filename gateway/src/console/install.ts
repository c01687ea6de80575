/**
 * The web console (issue 15), served under /console by the gateway's own Fastify process, on
 * either store. Server-rendered pages (Eta templates through @fastify/view, autoescaped) with
 * plain HTML forms; the only scripts are our own file and Chart.js, served from node_modules
 * (@fastify/static), so the Content-Security-Policy allows no inline script or style.
 *
 * Everything here is encapsulated in one plugin context: helmet's headers, the CSRF secret
 * cookie, the form-body parser, the sign-in rate limit and the HTML error pages apply to
 * /console only (the JSON API, /docs and /openapi.json keep theirs).
 *
 * The pages act through the JSON API (console/api.ts) as the signed-in person; sessions live in
 * the store (console/sessions.ts); each mutating form carries an idempotency key
 * (console/form-once.ts) and a CSRF token (@fastify/csrf-protection).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { projectRoot } from '#tools/shared-data';
import { ONLINE_ORGANISATION, type Principal } from '../auth/principal.ts';
import type { CardReaderPort } from './card-reader.ts';
import { newFormKey } from './form-once.ts';
import { beijingDay, beijingTime, type Locale, parseLocale, translate, yuan } from './i18n.ts';
import { cardholderPages } from './pages-cardholder.ts';
import { counterPages } from './pages-counter.ts';
import { farePages } from './pages-fares.ts';
import { opsPages } from './pages-ops.ts';
import { tokenPages } from './pages-tokens.ts';
import { staffSignInPages } from './pages-sign-in.ts';
import { DEFAULT_SESSION_POLICY, resumeSession, type SessionPolicy } from './sessions.ts';
import { findOrganisation } from '../services/organisations.ts';
import { type ConsoleRole, findStaff, isCounterRole, type StaffAccount, staffPrincipal } from './staff.ts';

export const CONSOLE_PREFIX = '/console';
export const SESSION_COOKIE = 'console_session';
export const LOCALE_COOKIE = 'console_lang';

export interface ConsoleOptions {
  /** The counter's card reader (sandbox and demo: the simulated cards); null: none. */
  cardReader?: CardReaderPort | null;
  session?: Partial<SessionPolicy>;
  /** Remote addresses of reverse proxies whose X-Forwarded-Proto is believed (GATEWAY_CONSOLE_TRUSTED_PROXIES). */
  trustedProxies?: readonly string[];
  /** Sign-in attempts per address and minute (both sign-in forms). Default 10. */
  signInPerMinute?: number;
  /** Staff lockout: consecutive failures and its length. Defaults 5 and 15 minutes. */
  staffMaxFailures?: number;
  staffLockoutMs?: number;
}

export interface ConsoleUser {
  kind: 'staff' | 'cardholder';
  /** Staff: the account. */
  staff: StaffAccount | null;
  /** Cardholder: the card number. */
  cardNo: string | null;
  principal: Principal;
  sessionHash: string;
}

export interface ConsoleKit {
  app: FastifyInstance;
  options: Required<Pick<ConsoleOptions, 'signInPerMinute' | 'staffMaxFailures' | 'staffLockoutMs'>> & { cardReader: CardReaderPort | null };
  sessionPolicy: SessionPolicy;
  /** Renders a page with the layout and the common data (words, user, CSRF token). */
  render(request: FastifyRequest, reply: FastifyReply, page: string, data?: Record<string, unknown>, status?: number): Promise<FastifyReply>;
  /** The signed-in person, or null. */
  user(request: FastifyRequest): ConsoleUser | null;
  locale(request: FastifyRequest): Locale;
  /** Cookie options for this request (Secure unless loopback / trusted proxy over http). */
  cookieOptions(request: FastifyRequest): { path: string; httpOnly: true; sameSite: 'strict'; secure: boolean };
  /** preHandler: staff with one of the roles, else sign-in (no session) or 403. */
  requireStaff(...roles: ConsoleRole[]): (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  requireCardholder(options?: { allowPasswordChange?: boolean }): (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The CSRF check for POST routes (@fastify/csrf-protection). */
  csrf: (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void;
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleUser: ConsoleUser | null;
    consoleLocale: Locale;
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Whether the console's cookies get `Secure` for this request. */
export function isSecureRequest(request: { socket: { remoteAddress?: string }; headers: Record<string, unknown> }, trustedProxies: readonly string[]): boolean {
  const remote = request.socket.remoteAddress ?? '';
  if (trustedProxies.includes(remote))
    return (
      String(request.headers['x-forwarded-proto'] ?? '')
        .split(',')[0]
        .trim() === 'https'
    );
  return !LOOPBACK.has(remote);
}

function viewsDir(): string {
  return join(projectRoot(), 'gateway', 'src', 'console', 'views');
}

function assetDirs(): string[] {
  const require = createRequire(import.meta.url);
  const chartDist = dirname(require.resolve('chart.js'));
  return [join(projectRoot(), 'gateway', 'src', 'console', 'assets'), chartDist];
}

export async function installConsole(app: FastifyInstance, options: ConsoleOptions = {}): Promise<void> {
  const sessionPolicy: SessionPolicy = { ...DEFAULT_SESSION_POLICY, ...(options.session ?? {}) };
  const trusted = options.trustedProxies ?? [];
  const kitOptions = {
    cardReader: options.cardReader ?? null,
    signInPerMinute: options.signInPerMinute ?? 10,
    staffMaxFailures: options.staffMaxFailures ?? 5,
    staffLockoutMs: options.staffLockoutMs ?? 15 * 60_000,
  };

  await app.register(
    async (scope) => {
      // Pages for people, not API operations: none of them is in the OpenAPI document.
      scope.addHook('onRoute', (route) => {
        route.schema = { ...(route.schema ?? {}), hide: true };
      });
      await scope.register(formbody, { bodyLimit: 64 * 1024 });
      await scope.register(cookie);
      await scope.register(csrf, { cookieKey: 'console_csrf', cookieOpts: { path: CONSOLE_PREFIX, sameSite: 'strict', httpOnly: true } });
      await scope.register(helmet, {
        contentSecurityPolicy: {
          useDefaults: false,
          directives: {
            defaultSrc: ["'self'"],
            scriptSrc: ["'self'"],
            styleSrc: ["'self'"],
            imgSrc: ["'self'", 'data:'],
            fontSrc: ["'self'"],
            connectSrc: ["'self'"],
            formAction: ["'self'"],
            frameAncestors: ["'none'"],
            baseUri: ["'none'"],
            objectSrc: ["'none'"],
          },
        },
        // Loopback development runs over plain http: no HSTS pinning from the console.
        strictTransportSecurity: false,
      });
      await scope.register(rateLimit, { global: false });
      await scope.register(view, {
        engine: { eta: new Eta({ views: viewsDir(), autoEscape: true, cache: true }) },
        root: viewsDir(),
        viewExt: 'eta',
      });
      await scope.register(fastifyStatic, { root: assetDirs(), prefix: '/assets/', decorateReply: false, index: false, maxAge: 3_600_000 });

      scope.decorateRequest('consoleUser', null);
      scope.decorateRequest('consoleLocale', 'zh-CN');

      const kit: ConsoleKit = {
        app,
        options: kitOptions,
        sessionPolicy,
        locale: (request) => request.consoleLocale,
        user: (request) => request.consoleUser,
        cookieOptions: (request) => ({ path: CONSOLE_PREFIX, httpOnly: true, sameSite: 'strict', secure: isSecureRequest(request, trusted) }),
        async render(request, reply, page, data = {}, status = 200) {
          const locale = request.consoleLocale;
          const user = request.consoleUser;
          const csrfToken = reply.generateCsrf({ secure: isSecureRequest(request, trusted) } as unknown as Parameters<typeof reply.generateCsrf>[0]);
          const url = new URL(request.url, 'http://console.local');
          url.searchParams.set('lang', locale === 'en' ? 'zh-CN' : 'en');
          await reply
            .code(status)
            .header('cache-control', 'no-store')
            .view(page, {
              t: (key: string) => translate(locale, key),
              yuan,
              time: beijingTime,
              day: beijingDay,
              locale,
              user,
              csrfToken,
              formKey: typeof data.formKey === 'string' ? data.formKey : newFormKey(),
              langHref: `${url.pathname}${url.search}`,
              path: url.pathname,
              reader: kitOptions.cardReader !== null,
              errors: {},
              values: {},
              notice: null,
              ...data,
            });
          return reply;
        },
        requireStaff:
          (...roles) =>
          async (request, reply) => {
            const user = request.consoleUser;
            if (user?.kind !== 'staff' || !user.staff) {
              await reply.redirect(`${CONSOLE_PREFIX}/sign-in?next=${encodeURIComponent(request.url)}`, 303);
              return;
            }
            if (user.staff.mustChange && !request.url.startsWith(`${CONSOLE_PREFIX}/password`)) {
              await reply.redirect(`${CONSOLE_PREFIX}/password`, 303);
              return;
            }
            if (roles.length > 0 && !roles.includes(user.staff.role)) {
              await kit.render(request, reply, 'error', { title: translate(request.consoleLocale, 'app.not-allowed'), message: 'app.not-allowed' }, 403);
            }
          },
        requireCardholder:
          (opts = {}) =>
          async (request, reply) => {
            const user = request.consoleUser;
            if (user?.kind !== 'cardholder') {
              await reply.redirect(`${CONSOLE_PREFIX}/my/sign-in`, 303);
              return;
            }
            if (user.principal.mustChangePassword && !opts.allowPasswordChange) await reply.redirect(`${CONSOLE_PREFIX}/my/password`, 303);
          },
        csrf: (request, reply, done) => scope.csrfProtection(request, reply, done),
      };

      // Locale (query switch remembered in a cookie) and the session of every console request.
      scope.addHook('preHandler', async (request, reply) => {
        const query = request.query as Record<string, unknown>;
        if (query?.lang === 'en' || query?.lang === 'zh-CN') {
          request.consoleLocale = parseLocale(query.lang);
          reply.setCookie(LOCALE_COOKIE, request.consoleLocale, { ...kit.cookieOptions(request), httpOnly: true });
        } else {
          request.consoleLocale = parseLocale(request.cookies[LOCALE_COOKIE]);
        }
        const id = request.cookies[SESSION_COOKIE];
        if (!id) return;
        const { store, clock } = app.gateway;
        const session = await resumeSession(store, id, clock(), sessionPolicy);
        if (!session) return;
        if (session.kind === 'staff') {
          const found = await store.transaction(
            async (tx) => {
              const staff = await findStaff(tx, session.subject);
              const organisation = staff?.organisationId ? await findOrganisation(tx, staff.organisationId) : null;
              return { staff, organisation };
            },
            { readOnly: true },
          );
          const { staff, organisation } = found;
          if (!staff || staff.disabledMs !== null) return;
          request.consoleUser = { kind: 'staff', staff, cardNo: null, principal: staffPrincipal(staff, organisation), sessionHash: session.hash };
        } else {
          const must = await store.transaction(
            (tx) => tx.get<{ must_change: number }>('SELECT must_change FROM app_credentials WHERE card_no = ?', [session.subject]),
            { readOnly: true },
          );
          if (!must) return;
          request.consoleUser = {
            kind: 'cardholder',
            staff: null,
            cardNo: session.subject,
            principal: {
              role: 'app',
              subject: session.subject,
              branchId: null,
              mustChangePassword: Number(must.must_change) === 1,
              organisation: ONLINE_ORGANISATION,
              staffRole: null,
            },
            sessionHash: session.hash,
          };
        }
      });

      // HTML error pages: a refused CSRF check changes nothing and says so; anything else is a plain page.
      scope.setErrorHandler(async (error: FastifyError, request, reply) => {
        const locale = request.consoleLocale ?? 'zh-CN';
        if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
          return kit.render(request, reply, 'error', { title: translate(locale, 'app.error'), message: 'error.csrf' }, 403);
        }
        if (error.statusCode === 429) {
          return kit.render(request, reply, 'error', { title: translate(locale, 'app.error'), message: 'signin.rate-limited' }, 429);
        }
        const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
        if (status >= 500) request.log.error({ err: error }, 'console page failed');
        if (process.env.CONSOLE_DEBUG) console.error(error);
        return kit.render(request, reply, 'error', { title: translate(locale, 'app.error'), message: 'app.error' }, status);
      });

      scope.get('/', async (request, reply) => {
        const user = request.consoleUser;
        if (!user) return reply.redirect(`${CONSOLE_PREFIX}/sign-in`, 303);
        if (user.kind === 'cardholder') return reply.redirect(`${CONSOLE_PREFIX}/my`, 303);
        return reply.redirect(`${CONSOLE_PREFIX}/${user.staff && isCounterRole(user.staff.role) ? 'counter' : 'ops'}`, 303);
      });

      await staffSignInPages(scope, kit);
      await counterPages(scope, kit);
      await opsPages(scope, kit);
      await farePages(scope, kit);
      await tokenPages(scope, kit);
      await cardholderPages(scope, kit);
    },
    { prefix: CONSOLE_PREFIX },
  );
}
