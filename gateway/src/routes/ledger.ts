/** GET /v1/ledger/balances and GET /v1/ledger/reconciliation (operators). */
import type { FastifyInstance } from 'fastify';
import { bearerSecurity, withProblems } from '../http/schemas.ts';
import { toWireYuan } from '../http/yuan-wire.ts';
import { accountBalances, reconcile } from '../services/ledger.ts';

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
              pendingLoadsFen: { type: 'integer', description: 'money taken for loads not yet decided (loads table)' },
              pendingLoadsLedgerFen: { type: 'integer', description: 'the same from the ledger (liability:pending-loads)' },
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
      const result = await store.transaction((tx) => reconcile(tx), { readOnly: true });
      return {
        ok:
          result.discrepancyFen === 0 &&
          result.postingsBalanceFen === 0 &&
          result.unbalancedPostings === 0 &&
          result.pendingLoadsFen === result.pendingLoadsLedgerFen,
        discrepancy: toWireYuan(result.discrepancyFen),
        cardLiability: toWireYuan(result.cardLiabilityFen),
        sumShadowBalances: toWireYuan(result.sumShadowBalancesFen),
        ...result,
      };
    },
  );
}
