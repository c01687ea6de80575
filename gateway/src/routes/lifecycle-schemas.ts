/**
 * Wire pieces shared by the card-life routes (card-lifecycle.ts) and the older routes they extend
 * (the cancellation in cards.ts, the refund in refunds.ts): the refund destination, how an
 * overdrawn card's debt is settled (services/card-debts.ts), and who acts.
 */
import type { Principal } from '../auth/principal.ts';
import { actorOf } from '../auth/scope.ts';
import { type Static, StringEnum, Type } from '../http/wire.ts';
import type { DebtSettlement } from '../services/card-debts.ts';
import type { LifecycleActor } from '../services/card-exchange.ts';
import { PAYMENT_SOURCES } from '../services/ledger.ts';
import { type ActedAt, AGENT_DOCUMENTS, type AgentInput } from '../services/agents.ts';

/** An 18-character resident ID number (the social security number): 17 digits and a digit or X. */
export const SSN_PATTERN = '^[0-9]{17}[0-9X]$';

/** Who may write off an overdrawn card's debt: a counter credential with the supervisor staff role. */
export function isSupervisor(principal: Principal): boolean {
  return principal.role === 'counter' && principal.staffRole === 'supervisor';
}

export function lifecycleActor(principal: Principal): LifecycleActor {
  return { name: actorOf(principal), branchId: principal.branchId, supervisor: isSupervisor(principal) };
}

/** Who acted and for which organisation, as an agent act records it (services/agents.ts). */
export function actedAt(principal: Principal): ActedAt {
  return { actedBy: actorOf(principal), organisationId: principal.organisation?.id ?? null };
}

export const RefundDestinationProps = {
  destinationAccount: Type.String({
    pattern: '^[0-9]{10,30}$',
    description: 'bank account the transit balance is refunded to, digits',
    examples: ['6222020200112233456789'],
  }),
  destinationName: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001F]+$', description: 'account holder name', examples: ['张三'] }),
};

export const DebtBody = Type.Object(
  {
    settle: StringEnum(['pay', 'write-off'], {
      description: 'pay: the holder pays the debt in at the counter now; write-off: a supervisor writes it off to writeoff:overdraft-debts',
    }),
    paymentSource: Type.Optional(StringEnum(PAYMENT_SOURCES, { description: 'how the debt is paid in (settle = pay; default cash)' })),
  },
  {
    additionalProperties: false,
    description:
      'How an overdrawn card settles its debt before the operation completes; needed only when the card is overdrawn (else `409 card-has-debt` with the amount)',
  },
);

export function debtSettlement(body: Static<typeof DebtBody> | undefined): DebtSettlement | undefined {
  if (body === undefined) return undefined;
  return body.settle === 'pay' ? { settle: 'pay', paymentSource: body.paymentSource ?? 'cash' } : { settle: 'write-off' };
}

/** Someone acting for the holder (q37, q24): an agent with a written authorisation, or a minor's guardian with proof. */
export const AgentBody = Type.Object(
  {
    actingAs: StringEnum(['agent', 'guardian'], { description: "agent: with the holder's written authorisation; guardian: for a holder under 18, with proof" }),
    idNumber: Type.String({
      pattern: SSN_PATTERN,
      description: "the agent's own ID number: recorded only as a keyed hash, never stored, logged or answered",
      examples: ['110105198512240018'],
    }),
    name: Type.String({ minLength: 1, maxLength: 64, description: "the agent's name", examples: ['李四'] }),
    document: Type.Object(
      {
        kind: StringEnum([...AGENT_DOCUMENTS.agent, ...AGENT_DOCUMENTS.guardian], {
          description:
            'an agent: written-authorisation (or, to cancel, the documents of the case); a guardian: household-register, birth-certificate or guardianship-proof',
        }),
        reference: Type.String({ minLength: 1, maxLength: 64, description: "the document's number or reference", examples: ['WT-2026-0001'] }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** An agent body for a route description's examples. */
export const EXAMPLE_AGENT: AgentInput = {
  actingAs: 'agent',
  idNumber: '110105198512240018',
  name: '李四',
  document: { kind: 'written-authorisation', reference: 'WT-2026-0001' },
};
