/** Response shapes shared by the card, loss-report and park-pass routes. */
export const nullableString = { type: ['string', 'null'] } as const;
export const nullableInteger = { type: ['integer', 'null'] } as const;

export const lossReportSchema = {
  type: 'object',
  required: ['id', 'cardNo', 'kind', 'reportedMs', 'expiresMs', 'endedMs', 'endReason'],
  properties: {
    id: { type: 'integer' },
    cardNo: { type: 'string' },
    kind: { type: 'string', enum: ['temporary', 'formal'] },
    reportedMs: { type: 'integer' },
    expiresMs: { ...nullableInteger, description: 'Temporary reports end by themselves at this time (15 days)' },
    endedMs: nullableInteger,
    endReason: { ...nullableString, description: 'expired | unblocked | upgraded | replaced | cancelled' },
  },
} as const;

export const cardStatusSchema = {
  type: 'string',
  enum: ['active', 'temporary-loss', 'formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled'],
} as const;

export const cardSchema = {
  type: 'object',
  required: ['cardNo', 'status', 'generation', 'profile', 'algorithm', 'balance', 'balanceFen'],
  properties: {
    cardNo: { type: 'string' },
    issuerCode: { type: 'string' },
    generation: { type: 'integer', enum: [1, 2, 3] },
    profile: { type: 'string', enum: ['adult', 'student', 'senior'] },
    algorithm: { type: 'string', enum: ['3des', 'sm4'] },
    keyVersion: { type: 'integer' },
    expiryDate: { type: 'integer', description: 'YYYYMMDD' },
    overdraftLimit: { type: 'string', description: 'yuan' },
    transitOpened: { type: 'boolean' },
    suburbanOpened: { type: 'boolean' },
    holderName: { type: 'string' },
    status: cardStatusSchema,
    replaces: nullableString,
    replacedBy: nullableString,
    issuedMs: { type: 'integer' },
    balance: { type: 'string', description: "The back office's shadow balance, yuan (effective: may be negative within the overdraft)" },
    balanceFen: { type: 'integer' },
    lastOfflineAtc: {
      type: ['integer', 'null'],
      description:
        'The highest offline ATC of a verified purchase the back office has received (validators upload late and in any order, so a lower ATC may still be on its way); null when none has been received',
    },
    lastOnlineAtc: { type: 'integer', description: '-1 when no load has been seen' },
    blacklist: {
      type: ['object', 'null'],
      properties: { reason: { type: 'string' }, version: { type: 'integer' }, sinceMs: { type: 'integer' } },
    },
    lossReport: { anyOf: [lossReportSchema, { type: 'null' }] },
  },
} as const;

export const authorisedWriteSchema = {
  type: 'object',
  description: 'An issuer-authorised record write: send UPDATE RECORD(kind, record, mac) to the card that gave the challenge',
  required: ['kind', 'record', 'mac'],
  properties: {
    kind: { type: 'string', enum: ['functions', 'park-pass-current', 'park-pass-previous'] },
    record: { type: 'string', description: 'record bytes, hex' },
    mac: { type: 'string', description: 'command MAC over the card challenge, hex' },
  },
} as const;
