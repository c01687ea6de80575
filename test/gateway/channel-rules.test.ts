/**
 * The channel × operation matrix (services/channel-rules.ts) against DOMAIN.md section 7's
 * table, copied below as the markdown it is (an independent statement of the same cells: a cell
 * changed in the module and not in the table, or the other way, fails). Then each conditional
 * cell: the issuing bank, the card's own account at top-up, the mass exchange pause, online
 * replacement only where the bank supports it, the operator token and money, agents and minors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AGENT_OPERATIONS,
  assertActorMay,
  assertChannelMay,
  CHANNEL_KINDS,
  type ChannelCaller,
  type ChannelKind,
  isMinor,
  type Operation,
  OPERATIONS,
} from '#gateway/services/channel-rules';
import { ApiError } from '#gateway/http/problem';
import { PARTNER_BANK_IDS } from '#gateway/services/partner-banks';

/** DOMAIN.md section 7, "Who may do what" (columns: bank branch, service point, 一卡通 self-operated outlet, top-up outlet, online, hotline). */
const DOMAIN_TABLE = `
| issue / apply (q4, q10) | ✔ | ✔ (not during mass exchange) | ✘ | ✘ | ✔ | ✘ |
| enable (q14) | ✔ | ✔ | ✘ | ✘ | ✔ | ✘ |
| temporary loss (q6-8, q17) | ✔ | ✔ | ✘ | ✘ | ✔ | ✔ |
| lift temporary loss early (q18) | **I** | ✘ | ✘ | ✘ | ✘ | ✘ |
| formal loss + replacement (q19) | **I** | ✘ (q9) | ✘ | ✘ | replacement only where the bank supports it (q8) | ✘ |
| broken-card exchange + balance refund (q22, q46) | **I** | ✘ | ✘ | ✘ | where the bank supports it (q22) | ✘ |
| change of name/ID → exchange (q23) | **I** | ✘ | ✘ | ✘ | ✘ | ✘ |
| change of partner bank (q25) | **I** (cancel at old bank) | ✘ | ✘ | ✘ | ✘ | ✘ |
| cancellation (q33) | ✔ (transit balance refund **I**) | social-security function only (no transit refund) | ✘ | ✘ | ✘ | ✘ |
| service password change / reset (q6-8) | ✔ | ✔ | ✘ | ✘ | ✔ | ✘ |
| status / progress query (q36) | ✔ | ✔ | ✔ | ✘ | ✔ | ✔ |
| non-key personal data (address, job, phone) (q31) | ✔ | ✔ | ✘ | ✘ | ✔ | ✘ |
| transit top-up (q44-45) | ✔ (paid from the card's own account only at **I**; elsewhere cash or that bank's card) | ✘ (q9) | ✔ | ✔ | ✔ (app, NFC) | ✘ |
| open suburban rail (q44) | ✔ | ✘ | ✔ | ✘ | ✘ | ✘ |
| park annual pass (q15, q47) | ✔ | ✘ (q9) | ✘ | ✘ | ✔ (q9(3)) | ✘ |
`;

/** Which table row each operation id is (an operation of two rows, e.g. formal loss + replacement, has the row's cells). */
const ROW_OF: Record<Operation, string> = {
  apply: 'issue / apply',
  enable: 'enable',
  'loss-temporary': 'temporary loss',
  'loss-lift': 'lift temporary loss early',
  unblock: 'lift temporary loss early',
  'loss-formal': 'formal loss + replacement',
  replacement: 'formal loss + replacement',
  exchange: 'broken-card exchange + balance refund',
  'name-change': 'change of name/ID → exchange',
  'bank-change': 'change of partner bank',
  cancel: 'cancellation',
  'cancel-transit-refund': 'cancellation',
  'password-change': 'service password change / reset',
  'password-reset': 'service password change / reset',
  'status-query': 'status / progress query',
  'personal-data-edit': 'non-key personal data',
  'top-up': 'transit top-up',
  'suburban-opening': 'open suburban rail',
  // Not a row of its own: the transit function is opened at the bank (q15), like suburban rail [P].
  'transit-opening': 'open suburban rail',
  'park-pass': 'park annual pass',
};

type Expect = 'allowed' | 'refused' | 'issuing-bank' | 'conditional';

function parseTable(): Map<string, Expect[]> {
  const rows = new Map<string, Expect[]>();
  for (const line of DOMAIN_TABLE.trim().split('\n')) {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const name = cells[0].replace(/\s*\(q[^)]*\)\s*$/, '').replace(/\s*\(address, job, phone\)$/, '');
    rows.set(
      name,
      cells.slice(1).map((c): Expect => {
        if (c.startsWith('✘')) return 'refused';
        if (c.startsWith('**I**')) return 'issuing-bank';
        if (c.startsWith('✔')) return 'allowed';
        return 'conditional';
      }),
    );
  }
  return rows;
}

const TABLE = parseTable();
const BANK = 'icbc';
const OTHER_BANK = 'ccb';

function caller(channelKind: ChannelKind, bankId: string | null = channelKind === 'bank-branch' ? BANK : null): ChannelCaller {
  return { role: channelKind === 'online' ? 'app' : 'counter', organisation: { id: 'org', channelKind, bankId, branchId: 'b1' } };
}

function refusal(fn: () => void): ApiError | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
}

/** 2026-03-01 Beijing, after the mass exchange. */
const AFTER_EXCHANGE_MS = Date.UTC(2026, 2, 1, 2);
/** 2025-12-20 Beijing, during it. */
const DURING_EXCHANGE_MS = Date.UTC(2025, 11, 20, 2);

describe('the matrix is DOMAIN.md section 7, cell by cell', () => {
  it('covers every row of the table with at least one operation id, and every operation names a row', () => {
    for (const name of TABLE.keys()) expect(Object.values(ROW_OF)).toContain(name);
    for (const op of OPERATIONS) expect(TABLE.has(ROW_OF[op]), op).toBe(true);
    expect(new Set(OPERATIONS)).toEqual(new Set(Object.keys(ROW_OF)));
  });

  it('every cell: ✔ passes for any card, ✘ is 403 channel-not-allowed with its rule, I passes only at the issuing bank', () => {
    for (const op of OPERATIONS) {
      const expected = TABLE.get(ROW_OF[op])!;
      for (const [column, channel] of CHANNEL_KINDS.entries()) {
        const cell = expected[column];
        const ownCard = { cardNo: '1000000000000016', issuingBank: BANK };
        const otherCard = { cardNo: '1000000000000016', issuingBank: OTHER_BANK };
        const context = { nowMs: AFTER_EXCHANGE_MS, policies: { onlineReplacementBanks: [BANK] } };
        const own = refusal(() => assertChannelMay(caller(channel), op, ownCard, context));
        const other = refusal(() => assertChannelMay(caller(channel), op, otherCard, context));
        const where = `${op} @ ${channel}`;
        // The cancellation row's bank cell is ✔ for the cancellation and I for its transit refund.
        const effective = op === 'cancel-transit-refund' && channel === 'bank-branch' ? 'issuing-bank' : cell;
        // The service point's cancellation is the social-security function only: `cancel` yes, the transit refund no.
        if (op === 'cancel' && channel === 'service-point') {
          expect(own, where).toBeNull();
          continue;
        }
        if (op === 'cancel-transit-refund' && channel === 'service-point') {
          expect(own?.code, where).toBe('channel-not-allowed');
          continue;
        }
        switch (effective) {
          case 'allowed':
            expect(own, where).toBeNull();
            expect(other, where).toBeNull();
            break;
          case 'refused':
            expect(own?.code, where).toBe('channel-not-allowed');
            expect(own?.extras?.rule, where).toBe(`${op}@${channel}`);
            break;
          case 'issuing-bank':
            expect(own, where).toBeNull();
            expect(other?.code, where).toBe('issuing-bank-only');
            break;
          case 'conditional':
            // Checked one by one below (mass exchange, online replacement).
            break;
        }
      }
    }
  });
});

describe('the refusal is plain words with a stable code', () => {
  it('a street service point asked for a transit top-up', () => {
    const error = refusal(() => assertChannelMay(caller('service-point'), 'top-up'));
    expect(error?.code).toBe('channel-not-allowed');
    expect(error?.status).toBe(403);
    expect(error?.message).toContain('street service points do not handle transit top-ups');
    expect(error?.extras).toMatchObject({ rule: 'top-up@service-point', operation: 'top-up', channel: 'service-point' });
  });

  it('the issuing-bank cell names the card and its bank', () => {
    const error = refusal(() => assertChannelMay(caller('bank-branch', 'boc'), 'exchange', { cardNo: '1000000000000016', issuingBank: 'cmb' }));
    expect(error?.code).toBe('issuing-bank-only');
    expect(error?.message).toContain('cmb');
    expect(error?.extras).toMatchObject({ rule: 'exchange@bank-branch', issuingBank: 'cmb' });
  });

  it('property: a bank branch passes an issuing-bank cell exactly when its bank is the card’s', () => {
    const iOps = OPERATIONS.filter((op) => TABLE.get(ROW_OF[op])![0] === 'issuing-bank' || op === 'cancel-transit-refund');
    fc.assert(
      fc.property(fc.constantFrom(...iOps), fc.constantFrom(...PARTNER_BANK_IDS), fc.constantFrom(...PARTNER_BANK_IDS), (op, branchBank, cardBank) => {
        const error = refusal(() => assertChannelMay(caller('bank-branch', branchBank), op, { cardNo: '1000000000000016', issuingBank: cardBank }));
        return branchBank === cardBank ? error === null : error?.code === 'issuing-bank-only';
      }),
    );
  });
});

describe('conditional cells', () => {
  it('top-up from the card’s own account only at its issuing bank; cash and that bank’s card anywhere a top-up is done (q45)', () => {
    const card = { cardNo: '1000000000000016', issuingBank: BANK };
    expect(refusal(() => assertChannelMay(caller('bank-branch', BANK), 'top-up', card, { paymentSource: 'bank-account' }))).toBeNull();
    expect(refusal(() => assertChannelMay(caller('bank-branch', OTHER_BANK), 'top-up', card, { paymentSource: 'bank-account' }))?.code).toBe(
      'own-account-issuing-bank-only',
    );
    expect(refusal(() => assertChannelMay(caller('bank-branch', OTHER_BANK), 'top-up', card, { paymentSource: 'cash' }))).toBeNull();
    expect(refusal(() => assertChannelMay(caller('bank-branch', OTHER_BANK), 'top-up', card, { paymentSource: 'other-bank-card' }))).toBeNull();
    expect(refusal(() => assertChannelMay(caller('ykt-outlet'), 'top-up', card, { paymentSource: 'bank-account' }))?.code).toBe(
      'own-account-issuing-bank-only',
    );
    expect(refusal(() => assertChannelMay(caller('ykt-top-up-outlet'), 'top-up', card, { paymentSource: 'cash' }))).toBeNull();
  });

  it('service points take no applications during the mass exchange (q3, q4), bank branches and online do', () => {
    expect(refusal(() => assertChannelMay(caller('service-point'), 'apply', undefined, { nowMs: DURING_EXCHANGE_MS }))?.code).toBe('mass-exchange-paused');
    expect(refusal(() => assertChannelMay(caller('service-point'), 'apply', undefined, { nowMs: AFTER_EXCHANGE_MS }))).toBeNull();
    expect(refusal(() => assertChannelMay(caller('bank-branch'), 'apply', undefined, { nowMs: DURING_EXCHANGE_MS }))).toBeNull();
    expect(refusal(() => assertChannelMay(caller('online'), 'apply', undefined, { nowMs: DURING_EXCHANGE_MS }))).toBeNull();
    // The period is a policy: none configured, no pause.
    expect(
      refusal(() => assertChannelMay(caller('service-point'), 'apply', undefined, { nowMs: DURING_EXCHANGE_MS, policies: { massExchange: null } })),
    ).toBeNull();
    // Its last day (2025-12-31 Beijing) still pauses, the next day not.
    const lastDay = Date.UTC(2025, 11, 31, 15, 59);
    expect(refusal(() => assertChannelMay(caller('service-point'), 'apply', undefined, { nowMs: lastDay }))?.code).toBe('mass-exchange-paused');
    expect(refusal(() => assertChannelMay(caller('service-point'), 'apply', undefined, { nowMs: lastDay + 60_000 }))).toBeNull();
  });

  it('online replacement and exchange only for the banks the policy names (q8, q22)', () => {
    const card = { cardNo: '1000000000000016', issuingBank: 'cmb' };
    for (const op of ['replacement', 'exchange', 'loss-formal'] as const) {
      expect(refusal(() => assertChannelMay(caller('online'), op, card))?.code).toBe('bank-not-online');
      expect(refusal(() => assertChannelMay(caller('online'), op, card, { policies: { onlineReplacementBanks: ['cmb'] } }))).toBeNull();
    }
  });
});

describe('callers without a channel', () => {
  const operator: ChannelCaller = { role: 'operator', organisation: null };

  it('the operator token does not bypass the matrix for money: top-up, refunds, replacement, park pass …', () => {
    for (const op of ['top-up', 'exchange', 'replacement', 'park-pass', 'bank-change', 'name-change', 'cancel-transit-refund'] as const) {
      expect(refusal(() => assertChannelMay(operator, op))?.code, op).toBe('operator-not-a-channel');
    }
  });

  it('the operator (back office) may do what moves no money', () => {
    for (const op of ['apply', 'status-query', 'loss-temporary', 'password-reset', 'unblock'] as const)
      expect(
        refusal(() => assertChannelMay(operator, op)),
        op,
      ).toBeNull();
  });

  it('a counter token without an organisation is refused, a device never does cardholder operations', () => {
    expect(refusal(() => assertChannelMay({ role: 'counter', organisation: null }, 'status-query'))?.code).toBe('counter-without-organisation');
    expect(refusal(() => assertChannelMay({ role: 'device', organisation: null }, 'status-query'))?.code).toBe('forbidden');
  });
});

describe('agents and guardians (q37, q24)', () => {
  const now = Date.UTC(2026, 5, 1, 2);

  it('an agent does exactly enable, temporary loss, password change, status query and cancellation', () => {
    expect(new Set(AGENT_OPERATIONS)).toEqual(new Set(['enable', 'loss-temporary', 'password-change', 'status-query', 'cancel', 'cancel-transit-refund']));
    for (const op of OPERATIONS) {
      const error = refusal(() => assertActorMay(op, 'agent', 19900307, now));
      expect(error === null, op).toBe(AGENT_OPERATIONS.includes(op));
      if (error) expect(error.code).toBe('agent-not-allowed');
    }
  });

  it('a minor’s card business needs a guardian; the day of the 18th birthday ends it', () => {
    const birth = 20080601;
    expect(isMinor(birth, Date.UTC(2026, 4, 31, 15, 59))).toBe(true);
    expect(isMinor(birth, Date.UTC(2026, 4, 31, 16, 0))).toBe(false);
    expect(refusal(() => assertActorMay('loss-temporary', 'holder', 20100101, now))?.code).toBe('guardian-required');
    expect(refusal(() => assertActorMay('loss-temporary', 'agent', 20100101, now))?.code).toBe('guardian-required');
    expect(refusal(() => assertActorMay('loss-temporary', 'guardian', 20100101, now))).toBeNull();
    // A guardian may do for a minor what an agent may not (the minor cannot act at all).
    expect(refusal(() => assertActorMay('password-reset', 'guardian', 20100101, now))).toBeNull();
    // Not card business: a minor tops up and queries in person.
    expect(refusal(() => assertActorMay('top-up', 'holder', 20100101, now))).toBeNull();
    // An adult has no guardian.
    expect(refusal(() => assertActorMay('loss-temporary', 'guardian', 19900307, now))?.code).toBe('agent-not-allowed');
  });
});
