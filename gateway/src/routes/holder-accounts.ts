/**
 * The online holder account (issue 16; DOMAIN.md section 7; seed q8, q16, q31, q36) and the
 * non-key personal data at counters (q6, q31). Sign-up and sign-in with the ID number and a
 * password of the holder's own (scrypt); the phone is verified with a simulated SMS code
 * (services/holder-accounts.ts PhoneOutbox: in memory, never logged). With a holder session:
 * status and progress (cards and applications), the online reset of a card's service password
 * (the counter reset service: initial rule, change forced, a locked login unlocked) and the
 * non-key personal data. The ID number travels only in bodies, becomes its keyed hash at once
 * and is never stored, logged or answered; phones are masked in every answer and log.
 */
import { hashPassword, initialServicePassword, verifyPassword } from '../auth/passwords.ts';
import { requirePrincipal } from '../auth/scope.ts';
import { issueToken } from '../auth/tokens.ts';
import { ApiError } from '../http/problem.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  CardNoParams,
  type GatewayApp,
  isoBeijing,
  msAndIso,
  Nullable,
  PUBLIC,
  problems,
  type Static,
  StringEnum,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
} from '../http/wire.ts';
import { applyForCard, holderApplications } from '../services/card-applications.ts';
import { LIMITS } from '#core';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import {
  accountByIdHmac,
  changePersonalData,
  consumePhoneCode,
  issuePhoneCode,
  maskPhone,
  markPhoneVerified,
  openHolderAccount,
  PHONE_CODE_TTL_MS,
  pendingPhoneChange,
  PERSONAL_FIELDS,
  PHONE_PATTERN,
  type PersonalData,
  personalData,
} from '../services/holder-accounts.ts';
import { birthDateFromIdNumber, findHolderByHmac, holderCards, holderIdHmac, maskName, resetServicePassword } from '../services/holders.ts';
import type { Tx } from '../store/store-port.ts';
import { ApplicationSchema, applicationToWire, EXAMPLE_APPLICATION } from './card-lifecycle.ts';
import { CARD_STATUSES, EXAMPLE_CARD_NO, EXAMPLE_MS, IssuingBank } from './card-schemas.ts';
import { SERVICE_PASSWORD_RESET_BODY, SERVICE_PASSWORD_RESET_RESPONSE } from './holders.ts';
import { SSN_PATTERN } from './cards.ts';
import { assertActorMay } from '../services/channel-rules.ts';

const EXAMPLE_ID = '11010119900307123X';
const EXAMPLE_TOKEN = 'c2VjcmV0LWhvbGRlci1zZXNzaW9uLXRva2VuLTAwMDAw';

const IdNumber = Type.String({
  pattern: SSN_PATTERN,
  description: "The holder's ID number (18 characters); checked through a keyed hash, never stored, logged or returned",
  examples: [EXAMPLE_ID],
});
const Phone = (description: string) => Type.String({ pattern: PHONE_PATTERN, description, examples: ['13812345678'] });
const Password = Type.String({ minLength: 8, maxLength: 128, description: "the account's password (8-128 characters)", examples: ['a-good-secret'] });
const MaskedPhone = Nullable(Type.String({ description: 'the phone, masked (first 3 and last 4 digits)', examples: ['138****5678'] }));

const SignUpBody = Type.Object(
  {
    idNumber: IdNumber,
    name: Type.String({ minLength: 1, maxLength: 64, description: "the holder's name (kept only when the holder is new)", examples: ['张三'] }),
    phone: Phone('the mobile phone the verification code goes to'),
    password: Password,
  },
  { additionalProperties: false },
);
const SignUpAnswer = Type.Object({
  phone: MaskedPhone,
  phoneVerified: Type.Boolean({ description: 'false: send the code with POST /v1/holder-accounts/phone-verification' }),
});
const VerifyBody = Type.Object(
  { idNumber: IdNumber, code: Type.String({ pattern: '^[0-9]{6}$', description: 'the 6-digit code sent to the phone', examples: ['042917'] }) },
  { additionalProperties: false },
);
const OnlineApplyBody = Type.Object(
  {
    idNumber: IdNumber,
    issuingBank: IssuingBank('the partner bank that issues the card (the new bank after a bank change)'),
    profile: Type.Optional(StringEnum(['adult', 'student', 'senior'], { default: 'adult', description: 'holder profile (fare discounts); default adult' })),
    suburbanOpened: Type.Optional(Type.Boolean({ default: false, description: 'open suburban rail on the new card' })),
  },
  { additionalProperties: false },
);

const ResendBody = Type.Object({ idNumber: IdNumber }, { additionalProperties: false });
const ResendAnswer = Type.Object({
  sent: Type.Boolean({ description: 'true' }),
  ...timestamp('expiresMs', 'when the new code expires (10 minutes)'),
});
const EXAMPLE_RESEND = { sent: true, ...msAndIso('expiresMs', EXAMPLE_MS + 600_000) };
const SignInBody = Type.Object({ idNumber: IdNumber, password: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });
const SessionAnswer = Type.Object({
  token: Type.String({ description: 'bearer token of the holder session (role holder, online channel)' }),
  ...timestamp('expiresMs', 'when the session ends'),
});

const PersonalFields = {
  address: Type.Optional(
    Nullable(Type.String({ minLength: 1, maxLength: 200, description: 'postal address; null clears it', examples: ['北京市朝阳区XX路1号'] })),
  ),
  job: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100, description: 'occupation; null clears it', examples: ['教师'] }))),
  phone: Type.Optional(Phone('the new contact phone (also the online account’s phone)')),
};
const PersonalEditBody = Type.Object(PersonalFields, { additionalProperties: false, minProperties: 1 });
const CounterPersonalEditBody = Type.Object({ idNumber: IdNumber, ...PersonalFields }, { additionalProperties: false, minProperties: 2 });

const Change = Type.Object({
  field: StringEnum(PERSONAL_FIELDS, { description: 'the field changed' }),
  oldValue: Nullable(Type.String({ description: 'the value before (phones masked)' })),
  newValue: Nullable(Type.String({ description: 'the value after (phones masked)' })),
  changedBy: Type.String({ description: 'who changed it: holder:<id> online, counter:<branch> at a counter', examples: ['counter:B12'] }),
  organisationId: Nullable(Type.String({ description: 'the organisation it was changed through', examples: ['online'] })),
  ...timestamp('atMs', 'when'),
});
const PersonalAnswer = Type.Object({
  address: Nullable(Type.String({ description: 'postal address' })),
  job: Nullable(Type.String({ description: 'occupation' })),
  phone: MaskedPhone,
  pendingPhone: Nullable(
    Type.String({
      description:
        'a new phone waiting for its code (masked): an online change sends a code to it and the phone changes only when POST /v1/holder/personal-data/phone-verification confirms it; null when none waits',
      examples: ['139****1111'],
    }),
  ),
  changed: Type.Array(StringEnum(PERSONAL_FIELDS, { description: 'a field' }), { description: 'the fields this request changed (empty on a read)' }),
  changes: Type.Array(Change, { description: 'the log of changes, newest first (last 50)' }),
});
type PersonalAnswer = Static<typeof PersonalAnswer>;

const StatusAnswer = Type.Object({
  holder: Type.Object({ name: Type.String({ description: "the holder's name, masked", examples: ['张*'] }), phone: MaskedPhone }),
  cards: Type.Array(
    Type.Object({
      cardNo: CardNo(),
      status: StringEnum(CARD_STATUSES, { description: 'card status' }),
      issuingBank: IssuingBank('the partner bank that issued the card'),
      ...timestamp('issuedMs', 'when the card was issued'),
    }),
    { description: "the holder's cards, oldest first" },
  ),
  applications: Type.Array(ApplicationSchema, { description: "the holder's applications and their progress, newest first" }),
});
type StatusAnswer = Static<typeof StatusAnswer>;

const EXAMPLE_PERSONAL: PersonalAnswer = {
  address: '北京市朝阳区XX路1号',
  job: '教师',
  phone: '139****0000',
  pendingPhone: null,
  changed: ['phone'],
  changes: [
    {
      field: 'phone',
      oldValue: '138****5678',
      newValue: '139****0000',
      changedBy: 'holder:1',
      organisationId: 'online',
      ...msAndIso('atMs', EXAMPLE_MS),
    },
  ],
};

async function personalAnswer(tx: Tx, holderId: number, changed: PersonalAnswer['changed'], nowMs: number): Promise<PersonalAnswer> {
  const data = await personalData(tx, holderId);
  const pending = await pendingPhoneChange(tx, holderId, nowMs);
  const rows = await tx.all<Record<string, string | number | null>>(
    'SELECT field, old_value, new_value, changed_by, organisation_id, at_ms FROM personal_data_changes WHERE holder_id = ? ORDER BY at_ms DESC, id DESC LIMIT 50',
    [holderId],
  );
  return {
    address: data.address,
    job: data.job,
    phone: maskPhone(data.phone),
    pendingPhone: maskPhone(pending),
    changed,
    changes: rows.map((r) => {
      const atMs = Number(r.at_ms);
      return {
        field: String(r.field) as PersonalAnswer['changed'][number],
        oldValue: r.old_value === null ? null : String(r.old_value),
        newValue: r.new_value === null ? null : String(r.new_value),
        changedBy: String(r.changed_by),
        organisationId: r.organisation_id === null ? null : String(r.organisation_id),
        ...msAndIso('atMs', atMs),
      };
    }),
  };
}

function changeOf(body: Partial<Record<keyof PersonalData, string | null>>): Partial<PersonalData> {
  const change: Partial<PersonalData> = {};
  for (const field of PERSONAL_FIELDS) if (body[field] !== undefined) change[field] = body[field];
  return change;
}

function holderIdOf(subject: string): number {
  return Number(subject);
}

let dummyHash: Promise<string> | null = null;

export async function holderAccountRoutes(app: GatewayApp): Promise<void> {
  const { store, clock, policies, holderIdKey, phoneOutbox } = app.gateway;

  app.post(
    '/v1/holder-accounts',
    {
      config: { public: true },
      schema: {
        tags: ['holders'],
        summary: 'Open an online holder account',
        description:
          "With the ID number, the holder's name, a mobile phone and a password of the holder's own (scrypt-hashed). A 6-digit code goes to the phone (simulated SMS); the account signs in once the phone is verified. " +
          'One account per holder (`409 holder-account-exists`); a holder who gave a phone at a counter signs up with that phone (`403 phone-mismatch`). The ID number is kept only as its keyed hash.',
        security: PUBLIC,
        body: withExamples(SignUpBody, {
          signUp: { summary: 'A new account', value: { idNumber: EXAMPLE_ID, name: '张三', phone: '13812345678', password: 'a-good-secret' } },
        }),
        response: {
          201: withExamples(
            SignUpAnswer,
            { opened: { summary: 'Code sent', value: { phone: '138****5678', phoneVerified: false } } },
            'The account, phone not yet verified',
          ),
          ...problems(400, 500, ...WITH_BODY, 'holder-account-exists', 'phone-mismatch'),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const idHmac = holderIdHmac(holderIdKey, body.idNumber);
      const passwordHash = await hashPassword(body.password, policies.passwordKdf);
      const nowMs = clock();
      await store.transaction((tx) =>
        openHolderAccount(
          tx,
          holderIdKey,
          phoneOutbox,
          { idHmac, name: body.name, birthDate: birthDateFromIdNumber(body.idNumber), phone: body.phone, passwordHash },
          nowMs,
        ),
      );
      return reply.code(201).send({ phone: maskPhone(body.phone), phoneVerified: false });
    },
  );

  app.post(
    '/v1/holder-accounts/phone-verification',
    {
      config: { public: true },
      schema: {
        tags: ['holders'],
        summary: "Verify the account's phone",
        description:
          'With the ID number and the 6-digit code sent at sign-up (valid 10 minutes, 5 tries). A wrong, used or expired code, or an unknown account, is `403 phone-code-invalid` (the same answer for all).',
        security: PUBLIC,
        body: withExamples(VerifyBody, { verify: { summary: 'The code from the SMS', value: { idNumber: EXAMPLE_ID, code: '042917' } } }),
        response: {
          200: withExamples(
            Type.Object({ phoneVerified: Type.Boolean({ description: 'true: the account may sign in' }) }),
            { verified: { summary: 'Verified', value: { phoneVerified: true } } },
            'The phone is verified',
          ),
          ...problems(400, 500, ...WITH_BODY, 'phone-code-invalid'),
        },
      },
    },
    async (request) => {
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      const nowMs = clock();
      // A wrong code counts a try: the transaction returns (commits) and the route answers 403.
      const ok = await store.transaction(async (tx) => {
        const found = await accountByIdHmac(tx, idHmac);
        if (!found) return false;
        const used = await consumePhoneCode(
          tx,
          holderIdKey,
          { holderId: found.holder.id, purpose: 'verify-phone', target: found.account.phone, code: request.body.code },
          nowMs,
        );
        if (used) await markPhoneVerified(tx, found.holder.id, found.account.phone, nowMs);
        return used;
      });
      if (!ok)
        throw new ApiError('phone-code-invalid', 'the code is wrong, used or expired: ask for a new one (POST /v1/holder-accounts/phone-verification/resend)');
      return { phoneVerified: true };
    },
  );

  app.post(
    '/v1/holder-accounts/phone-verification/resend',
    {
      config: { public: true },
      schema: {
        tags: ['holders'],
        summary: 'Send the sign-up code again',
        description:
          "A fresh 6-digit code to the account's phone (the earlier code ends), for an account whose phone is not verified yet. The answer is the same whether or not such an account exists (nothing tells a stranger which ID numbers have accounts). " +
          'At most once a minute and 5 an hour per account (`429 phone-code-too-soon` with `retryAfterSeconds`).',
        security: PUBLIC,
        body: withExamples(ResendBody, { resend: { summary: 'By ID number', value: { idNumber: EXAMPLE_ID } } }),
        response: {
          202: withExamples(
            ResendAnswer,
            { sent: { summary: 'Sent (or nothing to send)', value: EXAMPLE_RESEND } },
            'A new code went out, if there is an account waiting',
          ),
          ...problems(400, 500, ...WITH_BODY, 'phone-code-too-soon'),
        },
      },
    },
    async (request, reply) => {
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      const nowMs = clock();
      await store.transaction(async (tx) => {
        const found = await accountByIdHmac(tx, idHmac);
        if (!found || found.account.phoneVerifiedMs !== null) return;
        await issuePhoneCode(
          tx,
          holderIdKey,
          phoneOutbox,
          { holderId: found.holder.id, purpose: 'verify-phone', target: found.account.phone, phone: found.account.phone },
          nowMs,
        );
      });
      return reply.code(202).send({ sent: true, ...msAndIso('expiresMs', nowMs + PHONE_CODE_TTL_MS) });
    },
  );

  app.post(
    '/v1/auth/holder-sessions',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Open a holder account session',
        description:
          'With the ID number and the account password. A wrong ID number or password is `401 invalid-credentials` (the same answer for both); repeated failures lock the account for a while (`403 account-locked`, the app login policy); ' +
          'an account whose phone is not verified is `403 phone-not-verified`. The session acts for the online channel.',
        security: PUBLIC,
        body: withExamples(SignInBody, { signIn: { summary: 'Sign in', value: { idNumber: EXAMPLE_ID, password: 'a-good-secret' } } }),
        response: {
          201: withExamples(
            SessionAnswer,
            {
              session: {
                summary: 'A session',
                value: { token: EXAMPLE_TOKEN, expiresMs: EXAMPLE_MS + 12 * 3_600_000, expiresAt: isoBeijing(EXAMPLE_MS + 12 * 3_600_000) },
              },
            },
            'The session',
          ),
          ...problems(400, 500, ...WITH_BODY, 'invalid-credentials', 'account-locked', 'phone-not-verified'),
        },
      },
    },
    async (request, reply) => {
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      const found = await store.transaction((tx) => accountByIdHmac(tx, idHmac), { readOnly: true });
      if (!found) {
        // Unknown accounts cost the same KDF time as known ones.
        dummyHash ??= hashPassword('not-a-password', policies.passwordKdf);
        await verifyPassword(request.body.password, await dummyHash);
        throw new ApiError('invalid-credentials');
      }
      if (found.account.lockedUntilMs > clock()) throw new ApiError('account-locked', 'too many failed attempts; the account is locked for a while');
      const ok = await verifyPassword(request.body.password, found.account.passwordHash);
      const nowMs = clock();
      const holderId = found.holder.id;
      const session = await store.transaction(async (tx) => {
        const current = await tx.get<{ failed_count: number; locked_until_ms: number }>(
          'SELECT failed_count, locked_until_ms FROM holder_accounts WHERE holder_id = ?',
          [holderId],
        );
        if (!current) return { failed: true as const };
        if (Number(current.locked_until_ms) > nowMs) throw new ApiError('account-locked', 'too many failed attempts; the account is locked for a while');
        if (!ok) {
          const failures = Number(current.failed_count) + 1;
          const locked = failures >= policies.appLoginMaxFailures;
          await tx.run('UPDATE holder_accounts SET failed_count = ?, locked_until_ms = ?, updated_ms = ? WHERE holder_id = ?', [
            locked ? 0 : failures,
            locked ? nowMs + policies.appLockoutMs : Number(current.locked_until_ms),
            nowMs,
            holderId,
          ]);
          // Returning (not throwing) keeps the counter update committed.
          return { failed: true as const };
        }
        if (found.account.phoneVerifiedMs === null) throw new ApiError('phone-not-verified', 'verify the phone with the code sent at sign-up first');
        if (Number(current.failed_count) !== 0)
          await tx.run('UPDATE holder_accounts SET failed_count = 0, updated_ms = ? WHERE holder_id = ?', [nowMs, holderId]);
        const expiresMs = nowMs + policies.appSessionTtlMs;
        const token = await issueToken(tx, {
          role: 'holder',
          subject: String(holderId),
          label: 'holder session',
          createdBy: `holder:${holderId}`,
          nowMs,
          expiresMs,
        });
        return { failed: false as const, token, expiresMs };
      });
      if (session.failed) throw new ApiError('invalid-credentials');
      return reply.code(201).send({ token: session.token, expiresMs: session.expiresMs, expiresAt: isoBeijing(session.expiresMs) });
    },
  );

  app.get(
    '/v1/holder/status',
    {
      config: { roles: ['holder'], operation: 'status-query' },
      schema: {
        tags: ['holders'],
        summary: "The signed-in holder's cards and applications",
        description:
          "Status and progress for a holder session: the holder's cards with their status and every application with its state and expected date. Names and phone masked.",
        security: BEARER,
        response: {
          200: withExamples(
            StatusAnswer,
            {
              status: {
                summary: 'One card, one application in the factory',
                value: {
                  holder: { name: '张*', phone: '138****5678' },
                  cards: [{ cardNo: EXAMPLE_CARD_NO, status: 'active', issuingBank: 'icbc', issuedMs: EXAMPLE_MS, issuedAt: isoBeijing(EXAMPLE_MS) }],
                  applications: [EXAMPLE_APPLICATION],
                },
              },
            },
            'The status',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS),
        },
      },
    },
    async (request) => {
      const holderId = holderIdOf(requirePrincipal(request).subject);
      const nowMs = clock();
      return store.transaction(async (tx) => {
        const holder = await tx.get<{ name: string; phone: string | null }>('SELECT name, phone FROM holders WHERE id = ?', [holderId]);
        const cards = await holderCards(tx, holderId);
        const applications = await holderApplications(tx, holderId, nowMs);
        const answer: StatusAnswer = {
          holder: { name: maskName(String(holder?.name ?? '')), phone: maskPhone(holder?.phone ?? null) },
          cards: cards.map((c) => ({
            cardNo: c.cardNo,
            status: c.status,
            issuingBank: c.issuingBank as StatusAnswer['cards'][number]['issuingBank'],
            issuedMs: c.issuedMs,
            issuedAt: isoBeijing(c.issuedMs),
          })),
          applications: applications.map(applicationToWire),
        };
        return answer;
      });
    },
  );

  app.post(
    '/v1/holder/card-applications',
    {
      config: { roles: ['holder'], operation: 'apply' },
      schema: {
        tags: ['holders'],
        summary: 'Apply for a card online (申领)',
        description:
          "The holder account applies for the holder's card, re-entering the ID number (the card's initial service password is its last 6 characters, which is why it is re-entered: it is never stored). " +
          'The card is made within 30 days and mailed (online, no instant making); progress is in GET /v1/holder/status, and a counter hands the mailed card over (POST /v1/card-applications/{id}/collection). ' +
          "The holder's name is the one on record (a change of name is an exchange at the issuing bank). One application in progress (`409 application-open`), a first card only without a card in use (`409 holder-has-card`); " +
          "after a bank change this is the new bank's application. An ID number that is not this account's holder's is `403 id-number-mismatch`; a holder under 18 applies through a guardian at a counter (`403 guardian-required`).",
        security: BEARER,
        body: withExamples(OnlineApplyBody, {
          apply: { summary: 'A card of China Construction Bank, mailed', value: { idNumber: EXAMPLE_ID, issuingBank: 'ccb' } },
        }),
        response: {
          201: withExamples(
            ApplicationSchema,
            {
              applied: {
                summary: 'Filed, to be mailed',
                value: {
                  ...EXAMPLE_APPLICATION,
                  kind: 'application',
                  reason: 'first-card',
                  state: 'applied',
                  collection: 'mail',
                  branchId: null,
                  oldCardNo: null,
                },
              },
            },
            'The application',
          ),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'id-number-mismatch', 'guardian-required', 'application-open', 'holder-has-card'),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const holderId = holderIdOf(principal.subject);
      const body = request.body;
      const idHmac = holderIdHmac(holderIdKey, body.idNumber);
      // The slow KDF runs before the transaction so it never holds the store's write lock.
      const passwordHash = await hashPassword(initialServicePassword(body.idNumber), policies.passwordKdf);
      const nowMs = clock();
      const application = await store.transaction(async (tx) => {
        const holder = await findHolderByHmac(tx, idHmac);
        if (!holder || holder.id !== holderId) throw new ApiError('id-number-mismatch', "the ID number is not this account's holder's");
        // q24: a minor's application is the guardian's, at a counter with proof.
        assertActorMay('apply', 'holder', holder.birthDate, nowMs);
        return applyForCard(
          tx,
          {
            holderId,
            kind: 'application',
            reason: 'first-card',
            issuingBank: body.issuingBank,
            branchId: null,
            collection: 'mail',
            holderName: holder.name,
            profile: body.profile ?? 'adult',
            algorithm: 'sm4',
            overdraftLimitFen: LIMITS.overdraftLimitFen,
            transitOpened: true,
            suburbanOpened: body.suburbanOpened ?? false,
            passwordHash,
            passwordMustChange: true,
          },
          { instantCardBranches: [] },
          `holder:${holderId}`,
          nowMs,
        );
      });
      return reply.code(201).send(applicationToWire(application));
    },
  );

  app.post(
    '/v1/holder/cards/:cardNo/service-password/reset',
    {
      config: { roles: ['holder'], operation: 'password-reset' },
      schema: {
        tags: ['holders'],
        summary: "Reset a card's service password online",
        description:
          "A holder session resets the service password of one of the holder's cards, re-entering the ID number (the initial rule is its last 6 characters): the password goes back to its initial value and must be changed at the next app sign-in; " +
          "a locked app login is unlocked and the card's app sessions end (the counter reset, online). An ID number that is not this holder's, or a card of another holder, is `403 id-number-mismatch`.",
        security: BEARER,
        params: CardNoParams,
        body: SERVICE_PASSWORD_RESET_BODY,
        response: SERVICE_PASSWORD_RESET_RESPONSE,
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const holderId = holderIdOf(principal.subject);
      if (request.body.agent !== undefined) throw new ApiError('forbidden', 'an agent or guardian acts for the holder at a counter, not in the holder account');
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      const hash = await hashPassword(initialServicePassword(request.body.idNumber), policies.passwordKdf);
      const nowMs = clock();
      const { card, wasLocked } = await store.transaction(async (tx) => {
        const holder = await findHolderByHmac(tx, idHmac);
        if (!holder || holder.id !== holderId) throw new ApiError('id-number-mismatch', "the ID number is not this account's holder's");
        // q24: a minor's card business is the guardian's, at a counter with proof: never the minor's own account.
        assertActorMay('password-reset', 'holder', holder.birthDate, nowMs);
        return resetServicePassword(tx, request.params.cardNo, idHmac, hash, nowMs);
      });
      return { cardNo: card.cardNo, mustChangePassword: true, unlocked: wasLocked };
    },
  );

  const personalResponse = (summary: string) => ({
    200: withExamples(PersonalAnswer, { data: { summary, value: EXAMPLE_PERSONAL } }, 'The non-key personal data (phone masked) and its change log'),
  });

  app.get(
    '/v1/holder/personal-data',
    {
      config: { roles: ['holder'], operation: 'status-query' },
      schema: {
        tags: ['holders'],
        summary: "The signed-in holder's non-key personal data",
        description: 'Address, job and phone (masked) with the log of their changes, newest first.',
        security: BEARER,
        response: { ...personalResponse('The data and its log'), ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS) },
      },
    },
    async (request) => {
      const holderId = holderIdOf(requirePrincipal(request).subject);
      return store.transaction((tx) => personalAnswer(tx, holderId, [], clock()), { readOnly: true });
    },
  );

  app.patch(
    '/v1/holder/personal-data',
    {
      config: { roles: ['holder'], operation: 'personal-data-edit' },
      schema: {
        tags: ['holders'],
        summary: 'Change address, job or phone online',
        description:
          'The non-key personal data a holder session may change: address, job, phone. Only the fields sent change; each change is logged with its old and new value (phones masked), who and through which organisation. ' +
          'A new phone is verified first: a 6-digit code goes to it (simulated SMS, valid 10 minutes, 5 tries) and the answer shows it as `pendingPhone`; the phone (also the account’s) changes when POST /v1/holder/personal-data/phone-verification confirms the code. ' +
          'A new code at most once a minute and 5 an hour (`429 phone-code-too-soon` with `retryAfterSeconds`, nothing changed). Key data (name, ID number) change by exchange at the issuing bank.',
        security: BEARER,
        body: withExamples(PersonalEditBody, { phone: { summary: 'A new phone: a code goes to it', value: { phone: '13900000000' } } }),
        response: {
          ...personalResponse('The job changed; the new phone waits for its code'),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'phone-code-too-soon'),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const holderId = holderIdOf(principal.subject);
      const nowMs = clock();
      const { phone, ...rest } = changeOf(request.body);
      return store.transaction(async (tx) => {
        const current = await personalData(tx, holderId);
        // q31 online: the new phone proves itself with a code before it replaces the old one.
        if (phone !== undefined && phone !== null && phone !== current.phone) {
          await issuePhoneCode(tx, holderIdKey, phoneOutbox, { holderId, purpose: 'change-phone', target: phone, phone }, nowMs);
        }
        const { changed } = await changePersonalData(
          tx,
          holderId,
          rest,
          { actor: `holder:${holderId}`, organisationId: principal.organisation?.id ?? 'online', agentActId: null },
          nowMs,
        );
        return personalAnswer(tx, holderId, changed, nowMs);
      });
    },
  );

  app.post(
    '/v1/holder/personal-data/phone-verification',
    {
      config: { roles: ['holder'], operation: 'personal-data-edit' },
      schema: {
        tags: ['holders'],
        summary: 'Confirm a new phone with its code',
        description:
          'The code sent to the new phone by PATCH /v1/holder/personal-data: the phone (the holder’s and the account’s) changes, logged with both numbers masked. ' +
          'A wrong, used or expired code is `403 phone-code-invalid` (a wrong one counts a try; after 5 the code is dead); no new phone waiting is `409 no-phone-change-pending`.',
        security: BEARER,
        body: withExamples(Type.Object({ code: VerifyBody.properties.code }, { additionalProperties: false }), {
          code: { summary: 'The code from the SMS to the new phone', value: { code: '042917' } },
        }),
        response: {
          ...personalResponse('The phone changed'),
          ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'phone-code-invalid', 'no-phone-change-pending'),
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const holderId = holderIdOf(principal.subject);
      const nowMs = clock();
      // A wrong code counts a try: the transaction commits it and the route answers 403 after.
      const result = await store.transaction(async (tx) => {
        const target = await pendingPhoneChange(tx, holderId, nowMs, { evenExpired: true });
        if (target === null) throw new ApiError('no-phone-change-pending', 'no new phone waits for its code: send it with PATCH /v1/holder/personal-data');
        const used = await consumePhoneCode(tx, holderIdKey, { holderId, purpose: 'change-phone', target, code: request.body.code }, nowMs);
        if (!used) return null;
        const { changed } = await changePersonalData(
          tx,
          holderId,
          { phone: target },
          { actor: `holder:${holderId}`, organisationId: principal.organisation?.id ?? 'online', agentActId: null },
          nowMs,
        );
        return personalAnswer(tx, holderId, changed, nowMs);
      });
      if (result === null) throw new ApiError('phone-code-invalid', 'the code is wrong, used or expired: ask for a new one');
      return result;
    },
  );

  app.post(
    '/v1/holder/personal-data/phone-verification/resend',
    {
      config: { roles: ['holder'], operation: 'personal-data-edit' },
      schema: {
        tags: ['holders'],
        summary: 'Send the new phone’s code again',
        description:
          'A fresh code to the new phone waiting for verification (the earlier code ends), also after the earlier one expired. At most once a minute and 5 an hour (`429 phone-code-too-soon` with `retryAfterSeconds`); nothing waiting: `409 no-phone-change-pending`.',
        security: BEARER,
        response: {
          202: withExamples(ResendAnswer, { sent: { summary: 'Sent', value: EXAMPLE_RESEND } }, 'A new code went out'),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, 'phone-code-too-soon', 'no-phone-change-pending'),
        },
      },
    },
    async (request, reply) => {
      const holderId = holderIdOf(requirePrincipal(request).subject);
      const nowMs = clock();
      const sent = await store.transaction(async (tx) => {
        const target = await pendingPhoneChange(tx, holderId, nowMs, { evenExpired: true });
        if (target === null) throw new ApiError('no-phone-change-pending', 'no new phone waits for its code: send it with PATCH /v1/holder/personal-data');
        return issuePhoneCode(tx, holderIdKey, phoneOutbox, { holderId, purpose: 'change-phone', target, phone: target }, nowMs);
      });
      return reply.code(202).send({ sent: true, ...msAndIso('expiresMs', sent.expiresMs) });
    },
  );

  app.post(
    '/v1/holders/personal-data',
    {
      config: { roles: ['counter'], operation: 'personal-data-edit' },
      schema: {
        tags: ['holders'],
        summary: "Change a holder's address, job or phone at a counter",
        description:
          'With the holder present and the ID number in the body: the non-key personal data changes on the channels the matrix allows (partner-bank branches, service points; not 一卡通 outlets: `403 channel-not-allowed`). ' +
          'Each change is logged (phones masked) with the counter and its organisation. No holder with this ID number: `404 holder-not-found`.',
        security: BEARER,
        body: withExamples(CounterPersonalEditBody, { address: { summary: 'A new address', value: { idNumber: EXAMPLE_ID, address: '北京市朝阳区XX路1号' } } }),
        response: { ...personalResponse('The address changed'), ...problems(...AUTHENTICATED, ...WITH_BODY, ...CHANNEL_PROBLEMS, 'holder-not-found') },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const idHmac = holderIdHmac(holderIdKey, request.body.idNumber);
      const nowMs = clock();
      return store.transaction(async (tx) => {
        const holder = await findHolderByHmac(tx, idHmac);
        if (!holder) throw new ApiError('holder-not-found', 'no holder with this ID number');
        const { changed } = await changePersonalData(
          tx,
          holder.id,
          changeOf(request.body),
          { actor: `${principal.role}:${principal.subject}`, organisationId: principal.organisation?.id ?? null, agentActId: null },
          nowMs,
        );
        return personalAnswer(tx, holder.id, changed, nowMs);
      });
    },
  );
}
