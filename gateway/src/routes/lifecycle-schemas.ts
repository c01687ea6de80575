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

/** Who may write off an overdrawn card's debt: a counter credential with the supervisor staff role. */
export function isSupervisor(principal: Principal): boolean {
  return principal.role === 'counter' && principal.staffRole === 'supervisor';
}

export function lifecycleActor(principal: Principal): LifecycleActor {
  return { name: actorOf(principal), branchId: principal.branchId, supervisor: isSupervisor(principal) };
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
