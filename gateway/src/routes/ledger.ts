/** GET /v1/ledger/balances and GET /v1/ledger/reconciliation (operators). */
import { AUTHENTICATED, BEARER, Fen, type GatewayApp, money, problems, Type, withExamples, yuanAndFen } from '../http/wire.ts';
import { accountBalances, reconcile } from '../services/ledger.ts';

const AccountBalance = Type.Object({
  account: Type.String({ description: 'ledger account', examples: ['liability:card-purse'] }),
  ...money('balance', 'balance of the account: debits positive, credits negative', -460_000),
});
const Balances = Type.Object({ accounts: Type.Array(AccountBalance, { description: 'every account with postings' }) });

const Reconciliation = Type.Object({
  ok: Type.Boolean({ description: 'the books agree: no discrepancy, every posting balances, pending loads agree' }),
  ...money('discrepancy', 'card liability minus the sum of shadow balances; 0.00 when the books agree', 0),
  ...money('cardLiability', 'card liability in the ledger', 460_000),
  ...money('sumShadowBalances', 'sum of the shadow balances of every card', 460_000),
  ...money(
    'forfeitedLostBalances',
    "balances of lost cards moved out of card liability (at the replacement's issue, or GATEWAY_LOST_BALANCE_FORFEIT_DAYS after the formal loss), less the lost cards' later taps: liability:lost-card-forfeited, never income",
    3_000,
  ),
  pendingLoadsFen: Fen('money taken for loads not yet decided (loads table)', 5_000),
  pendingLoadsLedgerFen: Fen('the same from the ledger (liability:pending-loads)', 5_000),
  postingsBalanceFen: Fen('sum of every ledger entry; 0 when every posting balances', 0),
  unbalancedPostings: Type.Integer({ description: 'postings whose entries do not sum to zero', examples: [0] }),
  postings: Type.Integer({ description: 'postings in the ledger', examples: [1_204] }),
});

export async function ledgerRoutes(app: GatewayApp): Promise<void> {
  app.get(
    '/v1/ledger/balances',
    {
      schema: {
        tags: ['ledger'],
        summary: 'Balance of every ledger account (debit positive, credit negative)',
        description:
          'The double-entry ledger the gateway posts every load, void, cleared debit and refund to: the balance of each account, debits positive and credits negative (a liability is negative). Operators only.',
        security: BEARER,
        response: {
          200: withExamples(
            Balances,
            {
              books: {
                summary: 'Cards hold 4,600.00 yuan, taken in cash and by bank account',
                value: {
                  accounts: [
                    { account: 'payment:cash', ...yuanAndFen('balance', 260_000) },
                    { account: 'payment:bank-account', ...yuanAndFen('balance', 200_000) },
                    { account: 'liability:card-purse', ...yuanAndFen('balance', -460_000) },
                  ],
                },
              },
            },
            'Every account with its balance',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async () => {
      const { store } = app.gateway;
      const balances = await store.transaction((tx) => accountBalances(tx), { readOnly: true });
      return { accounts: [...balances].map(([account, balanceFen]) => ({ account, ...yuanAndFen('balance', balanceFen) })) };
    },
  );

  app.get(
    '/v1/ledger/reconciliation',
    {
      schema: {
        tags: ['ledger'],
        summary: 'Reconciliation: card liability (ledger) = sum of shadow balances; every posting balances',
        description:
          "Checks the books: the card liability in the ledger equals the sum of the cards' shadow balances, every posting balances, and the money taken for pending loads is the same in the loads table and the ledger. " +
          '`ok` is true when all hold; alert on false. Operators only.',
        security: BEARER,
        response: {
          200: withExamples(
            Reconciliation,
            {
              balanced: {
                summary: 'The books agree',
                value: {
                  ok: true,
                  ...yuanAndFen('discrepancy', 0),
                  ...yuanAndFen('cardLiability', 460_000),
                  ...yuanAndFen('sumShadowBalances', 460_000),
                  ...yuanAndFen('forfeitedLostBalances', 3_000),
                  pendingLoadsFen: 5_000,
                  pendingLoadsLedgerFen: 5_000,
                  postingsBalanceFen: 0,
                  unbalancedPostings: 0,
                  postings: 1_204,
                },
              },
            },
            'The reconciliation',
          ),
          ...problems(...AUTHENTICATED),
        },
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
        ...yuanAndFen('discrepancy', result.discrepancyFen),
        ...yuanAndFen('cardLiability', result.cardLiabilityFen),
        ...yuanAndFen('sumShadowBalances', result.sumShadowBalancesFen),
        ...yuanAndFen('forfeitedLostBalances', result.forfeitedLostBalancesFen),
        pendingLoadsFen: result.pendingLoadsFen,
        pendingLoadsLedgerFen: result.pendingLoadsLedgerFen,
        postingsBalanceFen: result.postingsBalanceFen,
        unbalancedPostings: result.unbalancedPostings,
        postings: result.postings,
      };
    },
  );
}
