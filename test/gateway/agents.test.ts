/**
 * Agents and guardians at the API (issue 16; seed q37, q33, q24; services/agents.ts): an agent
 * with the holder's written authorisation enables a card, changes its service password and asks
 * for the holder's status; an agent cancels with the documents of the case (a death
 * certificate) and the transit balance is refunded to the account given with them; an agent
 * may not apply, reset or exchange. A minor (under 18 by the birth date) gets a card, applies,
 * enables, changes or resets the password and cancels only through a guardian with proof.
 * Each act is recorded with the agent's ID number as a keyed hash only, the document and who
 * acted; a refusal changes nothing. Real cards and money (money-fixtures.ts): the books
 * balance after each test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  closeCheckingBooks,
  counterHeaders,
  issueCard,
  ledgerBalance,
  loadCard,
  type MoneyHarness,
  REFUND_DESTINATION,
  shadowBalance,
  startMoneyGateway,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
beforeEach(async () => {
  h = await startMoneyGateway();
  counter = await counterHeaders(h);
});
afterEach(async () => {
  await closeCheckingBooks(h);
});

const AGENT_ID = '110105198512240018';
const agent = (kind = 'written-authorisation') => ({ actingAs: 'agent', idNumber: AGENT_ID, name: '李四', document: { kind, reference: `DOC-${kind}` } });
const guardian = { actingAs: 'guardian', idNumber: AGENT_ID, name: '李四', document: { kind: 'household-register', reference: 'HK-9' } };
/** Born 2012-03-07: under 18 until 2030 (the money gateway's clock is in March 2026). */
const MINOR_SSN = '110101201203071236';
let ssnSeq = 300;
const newSsn = () => `11010119900307${String(ssnSeq++).padStart(3, '0')}X`;

const post = (url: string, payload: unknown, headers = counter) => h.app.inject({ method: 'POST', url, headers, payload: payload as object });
const get = (url: string, headers = counter) => h.app.inject({ method: 'GET', url, headers });

async function acts(): Promise<Record<string, string | number | null>[]> {
  return h.store.transaction((tx) => tx.all<Record<string, string | number | null>>('SELECT * FROM agent_acts ORDER BY id'));
}

/** An app sign-in with `password`: the status code (201 signed in, 401 wrong password). */
async function signIn(cardNo: string, password: string): Promise<number> {
  return (await h.app.inject({ method: 'POST', url: '/v1/auth/app-sessions', payload: { cardNo, password } })).statusCode;
}

describe('agents (q37, q33)', () => {
  it('an agent enables, changes the service password and queries status for the holder; each act recorded with a hash of the agent’s ID only', async () => {
    const ssn = newSsn();
    const { cardNo } = await issueCard(h, '3des', { socialSecurityNo: ssn });
    expect((await get(`/v1/cards/${cardNo}`)).json().socialSecurity).toMatchObject({ enabledMs: null, cancelledMs: null });

    // A wrong document for an agent is refused and changes nothing.
    const wrongDoc = await post(`/v1/cards/${cardNo}/enablement`, { agent: agent('death-certificate') });
    expect(wrongDoc.statusCode).toBe(400);
    expect((await get(`/v1/cards/${cardNo}`)).json().socialSecurity.enabledMs).toBeNull();
    expect(await acts()).toHaveLength(0);

    const enabled = await post(`/v1/cards/${cardNo}/enablement`, { agent: agent() });
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect(enabled.json().socialSecurity.enabledMs).toBe(h.now.ms);
    // Enabling again keeps the first time.
    h.now.ms += 60_000;
    expect((await post(`/v1/cards/${cardNo}/enablement`, {})).json().socialSecurity.enabledMs).toBe(h.now.ms - 60_000);

    const changed = await post(`/v1/cards/${cardNo}/service-password`, { idNumber: ssn, newPassword: 'agent-set-secret', agent: agent() });
    expect(changed.json()).toEqual({ cardNo, changed: true, unlocked: false });
    expect(await signIn(cardNo, 'agent-set-secret')).toBe(201);
    expect(await signIn(cardNo, ssn.slice(-6))).toBe(401);
    // The ID number must be the holder's, agent or not: nothing changes.
    const mismatch = await post(`/v1/cards/${cardNo}/service-password`, { idNumber: AGENT_ID, newPassword: 'other-secret', agent: agent() });
    expect(mismatch.json().code).toBe('id-number-mismatch');
    expect(await signIn(cardNo, 'agent-set-secret')).toBe(201);

    const found = await post('/v1/holders/search', { idNumber: ssn, agent: agent() });
    expect(found.statusCode, found.body).toBe(200);
    expect(found.json().cards.map((c: { cardNo: string }) => c.cardNo)).toEqual([cardNo]);
    expect((await post('/v1/card-applications/search', { socialSecurityNo: ssn, agent: agent() })).statusCode).toBe(200);

    const recorded = await acts();
    expect(recorded.map((a) => a.operation)).toEqual(['enable', 'password-change', 'status-query', 'status-query']);
    for (const a of recorded) {
      expect(a).toMatchObject({ acting_as: 'agent', agent_name: '李四', document_kind: 'written-authorisation', organisation_id: 'branch-01' });
      expect(String(a.agent_id_hmac)).toMatch(/^[0-9a-f]{64}$/);
      expect(String(a.acted_by)).not.toBe('');
    }
    expect(recorded[0].card_no).toBe(cardNo);
    expect(recorded[2].card_no).toBeNull();
    expect(recorded[2].holder_id).toBe(recorded[0].holder_id);
    expect(JSON.stringify(recorded)).not.toContain(AGENT_ID);
  });

  it('an agent may not apply, reset the password or exchange; nothing changes', async () => {
    const ssn = newSsn();
    const { cardNo } = await issueCard(h, '3des', { socialSecurityNo: ssn });
    const apply = await post('/v1/card-applications', {
      holderName: '王五',
      socialSecurityNo: newSsn(),
      issuingBank: 'icbc',
      profile: 'adult',
      collection: 'branch',
      agent: agent(),
    });
    expect(apply.json()).toMatchObject({ code: 'agent-not-allowed', rule: 'apply@agent' });
    expect((await post('/v1/cards', { holderName: '王五', socialSecurityNo: newSsn(), profile: 'adult', agent: agent() })).json().code).toBe(
      'agent-not-allowed',
    );
    const reset = await post(`/v1/cards/${cardNo}/service-password/reset`, { idNumber: ssn, agent: agent() });
    expect(reset.json()).toMatchObject({ code: 'agent-not-allowed', rule: 'password-reset@agent' });
    const exchange = await post(`/v1/cards/${cardNo}/exchange`, { reason: 'broken', collection: 'branch', ...REFUND_DESTINATION, agent: agent() });
    expect(exchange.json()).toMatchObject({ code: 'agent-not-allowed', rule: 'exchange@agent' });
    expect((await get(`/v1/cards/${cardNo}`)).json().status).toBe('active');
    const counts = await h.store.transaction(async (tx) => ({
      holders: Number((await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM holders'))!.n),
      applications: Number((await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM card_applications'))!.n),
    }));
    expect(counts).toEqual({ holders: 1, applications: 0 });
    expect(await acts()).toHaveLength(0);
  });

  it("after the holder's death an agent cancels with the death certificate: the transit balance is refunded to the account given with it", async () => {
    const { cardNo, card } = await issueCard(h, '3des', { socialSecurityNo: newSsn() });
    await loadCard(h, counter, card, cardNo, 3_000, 'death-1');
    const heirAccount = { destinationAccount: '6222020200998877665544', destinationName: '李四' };
    // Without the account given with the documents the agent's cancellation is refused: nothing changes.
    const noAccount = await post(`/v1/cards/${cardNo}/cancellation`, { agent: agent('death-certificate') });
    expect(noAccount.json()).toMatchObject({ code: 'invalid-request', field: 'destinationAccount' });
    // A guardian's proof is not an agent's document.
    expect((await post(`/v1/cards/${cardNo}/cancellation`, { ...heirAccount, agent: agent('household-register') })).statusCode).toBe(400);
    expect((await get(`/v1/cards/${cardNo}`)).json().status).toBe('active');

    const cancelled = await post(`/v1/cards/${cardNo}/cancellation`, { ...heirAccount, agent: agent('death-certificate') });
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', blacklist: { reason: 'cancelled' } });
    const refund = await h.store.transaction((tx) =>
      tx.get<{ destination_account: string; destination_name: string }>('SELECT destination_account, destination_name FROM refunds WHERE card_no = ?', [
        cardNo,
      ]),
    );
    expect(refund).toMatchObject({ destination_account: heirAccount.destinationAccount, destination_name: '李四' });
    expect(await shadowBalance(h, cardNo)).toBe(0);
    expect(await ledgerBalance(h, 'bank:refund-payouts')).toBe(-3_000);
    expect(await acts()).toMatchObject([
      { card_no: cardNo, operation: 'cancel-transit-refund', acting_as: 'agent', document_kind: 'death-certificate', document_ref: 'DOC-death-certificate' },
    ]);
    // Sent again (a retry with the same Idempotency-Key): nothing is refunded twice, no second agent act.
    const retry = await h.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/cancellation`,
      headers: { ...counter, 'idempotency-key': 'death-cancel-1' },
      payload: { ...heirAccount, agent: agent('death-certificate') },
    });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toMatchObject({ status: 'cancelled' });
    expect(await ledgerBalance(h, 'bank:refund-payouts')).toBe(-3_000);
    expect(await acts()).toHaveLength(1);
  });
});

describe('guardians for minors (q24, q37)', () => {
  it('a minor gets a card, applies, enables, changes and resets the password and cancels only through a guardian with proof', async () => {
    // Card issue: without a guardian, or with an agent, refused and no holder or card made.
    expect((await post('/v1/cards', { holderName: '小明', socialSecurityNo: MINOR_SSN, profile: 'student' })).json()).toMatchObject({
      code: 'guardian-required',
      rule: 'apply@minor',
    });
    expect((await post('/v1/cards', { holderName: '小明', socialSecurityNo: MINOR_SSN, profile: 'student', agent: agent() })).statusCode).toBe(403);
    const applyBody = { holderName: '小明', socialSecurityNo: MINOR_SSN, issuingBank: 'icbc', profile: 'student', collection: 'branch' };
    expect((await post('/v1/card-applications', applyBody)).json().code).toBe('guardian-required');
    const none = await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM holders'));
    expect(Number(none!.n)).toBe(0);

    const issued = await post('/v1/cards', { holderName: '小明', socialSecurityNo: MINOR_SSN, profile: 'student', agent: guardian });
    expect(issued.statusCode, issued.body).toBe(201);
    const cardNo = issued.json().card.cardNo as string;
    expect(await acts()).toMatchObject([{ operation: 'apply', acting_as: 'guardian', card_no: cardNo, document_kind: 'household-register' }]);

    expect((await post(`/v1/cards/${cardNo}/enablement`, {})).json().code).toBe('guardian-required');
    expect((await post(`/v1/cards/${cardNo}/enablement`, { agent: agent() })).json().code).toBe('guardian-required');
    expect((await get(`/v1/cards/${cardNo}`)).json().socialSecurity.enabledMs).toBeNull();
    expect((await post(`/v1/cards/${cardNo}/enablement`, { agent: guardian })).json().socialSecurity.enabledMs).toBe(h.now.ms);

    expect((await post(`/v1/cards/${cardNo}/service-password`, { idNumber: MINOR_SSN, newPassword: 'minor-secret' })).json().code).toBe('guardian-required');
    expect(await signIn(cardNo, MINOR_SSN.slice(-6))).toBe(201);
    expect((await post(`/v1/cards/${cardNo}/service-password`, { idNumber: MINOR_SSN, newPassword: 'minor-secret', agent: guardian })).statusCode).toBe(200);
    expect((await post(`/v1/cards/${cardNo}/service-password/reset`, { idNumber: MINOR_SSN })).json().code).toBe('guardian-required');
    expect(await signIn(cardNo, 'minor-secret')).toBe(201);
    expect((await post(`/v1/cards/${cardNo}/service-password/reset`, { idNumber: MINOR_SSN, agent: guardian })).json()).toMatchObject({
      mustChangePassword: true,
    });
    expect((await post(`/v1/cards/${cardNo}/cancellation`, REFUND_DESTINATION)).json().code).toBe('guardian-required');
    expect((await get(`/v1/cards/${cardNo}`)).json().status).toBe('active');
    const byGuardian = await post(`/v1/cards/${cardNo}/cancellation`, { ...REFUND_DESTINATION, agent: guardian });
    expect(byGuardian.json().status).toBe('cancelled');
    expect((await acts()).map((a) => `${a.operation}:${a.acting_as}`)).toEqual([
      'apply:guardian',
      'enable:guardian',
      'password-change:guardian',
      'password-reset:guardian',
      'cancel-transit-refund:guardian',
    ]);
  });

  it("an adult's affairs are not a guardian's", async () => {
    const ssn = newSsn();
    const { cardNo } = await issueCard(h, '3des', { socialSecurityNo: ssn });
    expect((await post(`/v1/cards/${cardNo}/enablement`, { agent: guardian })).json()).toMatchObject({ code: 'agent-not-allowed', rule: 'enable@guardian' });
    expect((await post('/v1/cards', { holderName: 'X', socialSecurityNo: newSsn(), profile: 'adult', agent: guardian })).json().code).toBe('agent-not-allowed');
  });
});
