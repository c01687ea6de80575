/** Response shapes of the money routes (OpenAPI). */
export const loadSchema = {
  type: 'object',
  required: ['id', 'cardNo', 'amount', 'amountFen', 'paymentSource', 'status', 'mac2', 'date', 'time', 'onlineAtc', 'terminalId'],
  properties: {
    id: { type: 'string' },
    cardNo: { type: 'string' },
    amount: { type: 'string', description: 'yuan' },
    amountFen: { type: 'integer' },
    paymentSource: { type: 'string', enum: ['bank-account', 'cash', 'other-bank-card', 'app'] },
    status: { type: 'string', enum: ['pending', 'confirmed', 'voided'] },
    resolution: {
      type: ['string', 'null'],
      description: 'tac | next-load | card-log | purchase-chain | teller-void | void-reversed (a teller void the card proved credited)',
    },
    onlineAtc: { type: 'integer' },
    balanceBeforeFen: { type: 'integer' },
    terminalId: { type: 'string' },
    mac2: { type: 'string', description: 'MAC2 for CREDIT FOR LOAD, hex' },
    date: { type: 'integer', description: 'YYYYMMDD (Beijing) for CREDIT FOR LOAD' },
    time: { type: 'integer', description: 'hhmmss (Beijing) for CREDIT FOR LOAD' },
    branch: { type: 'string' },
    createdMs: { type: 'integer' },
    resolvedMs: { type: ['integer', 'null'] },
  },
} as const;

export const refundSchema = {
  type: 'object',
  required: ['id', 'cardNo', 'status', 'destinationAccount', 'deadlineMs'],
  properties: {
    id: { type: 'string' },
    cardNo: { type: 'string' },
    destinationAccount: { type: 'string', description: 'masked: only the last 4 digits' },
    destinationName: { type: 'string' },
    status: { type: 'string', enum: ['waiting', 'paid'] },
    settledBy: { type: ['string', 'null'], enum: ['watermarks', 'deadline', null] },
    paid: { type: ['string', 'null'], description: 'yuan paid to the account' },
    paidFen: { type: ['integer', 'null'] },
    receivableFen: { type: ['integer', 'null'], description: 'overdraft left unpaid by an overdrawn card' },
    writtenOffFen: { type: 'integer', description: 'late taps uploaded after the payout, written off' },
    blacklistVersion: { type: 'integer' },
    requestedMs: { type: 'integer' },
    deadlineMs: { type: 'integer', description: 'end of the 2nd natural day after the request, Beijing time' },
    paidMs: { type: ['integer', 'null'] },
    waitingForDevices: { type: 'array', items: { type: 'string' } },
    pendingLoadsFen: {
      type: 'integer',
      description: 'loads of the card still pending: not paid (they may not be on the card); paid later if card evidence shows them credited',
    },
  },
} as const;
