/** GET /v1/ledger/balances and GET /v1/ledger/reconciliation (operators). */
import type { FastifyInstance } from 'fastify';
import { bearerSecurity, withProblems } from '../http/schemas.ts';
import { toWireYuan } from '../http/yuan-wire.ts';
import { accountBalances, reconcile } from '../services/ledger.ts';
import { PENDING_LOADS_ACCOUNT } from '../services/loads.ts';

export async function ledgerRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/v1/ledger/balances',
    {
      schema: {
        tags: ['ledger'],
        summary: 'Balance of every ledger account (debit positive, credit negative)',
        security: bearerSecurity,
        response: withProblems({
          200: {
            type: 'object',
            required: ['accounts'],
            properties: {
              accounts: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['account', 'balance', 'balanceFen'],
                  properties: { account: { type: 'string' }, balance: { type: 'string' }, balanceFen: { type: 'integer' } },
                },
              },
            },
          },
        }),
      },
    },
    async () => {
      const { store } = app.gateway;
      const balances = await store.transaction((tx) => accountBalances(tx), { readOnly: true });
      return { accounts: [...balances].map(([account, balanceFen]) => ({ account, balance: toWireYuan(balanceFen), balanceFen })) };
    },
  );

  app.get(
    '/v1/ledger/reconciliation',
    {
      schema: {
        tags: ['ledger'],
        summary: 'Reconciliation: card liability (ledger) = sum of shadow balances; every posting balances',
        security: bearerSecurity,
        response: withProblems({
          200: {
            type: 'object',
            required: ['ok', 'discrepancy', 'discrepancyFen', 'cardLiabilityFen', 'sumShadowBalancesFen', 'postingsBalanceFen', 'unbalancedPostings'],
            properties: {
              ok: { type: 'boolean' },
              discrepancy: { type: 'string', description: 'yuan; "0.00" when the books agree' },
              discrepancyFen: { type: 'integer' },
              cardLiability: { type: 'string' },
              cardLiabilityFen: { type: 'integer' },
              sumShadowBalances: { type: 'string' },
              sumShadowBalancesFen: { type: 'integer' },
              pendingLoadsFen: { type: 'integer', description: 'money taken for loads not yet decided' },
              postingsBalanceFen: { type: 'integer' },
              unbalancedPostings: { type: 'integer' },
              postings: { type: 'integer' },
            },
          },
        }),
      },
    },
    async () => {
      const { store } = app.gateway;
      const { result, pendingLoadsFen } = await store.transaction(async (tx) => {
        const result = await reconcile(tx);
        const pending = await tx.get<{ total: number | bigint | null }>("SELECT SUM(amount_fen) AS total FROM loads WHERE status = 'pending'");
        const ledgerPending = -(await accountBalances(tx)).get(PENDING_LOADS_ACCOUNT)! || 0;
        return { result, pendingLoadsFen: Number(pending?.total ?? 0), ledgerPending };
      }, { readOnly: true });
      return {
        ok: result.discrepancyFen === 0 && result.postingsBalanceFen === 0 && result.unbalancedPostings === 0,
        discrepancy: toWireYuan(result.discrepancyFen),
        cardLiability: toWireYuan(result.cardLiabilityFen),
        sumShadowBalances: toWireYuan(result.sumShadowBalancesFen),
        pendingLoadsFen,
        ...result,
      };
    },
  );
}
