/**
 * Wire shapes shared by the card, loss-report and park-pass routes, written once in TypeBox
 * (http/wire.ts): the schema is the OpenAPI document and `Static<>` the TypeScript type.
 */
import {
  CardNo,
  Hex,
  IntegerEnum,
  isoBeijing,
  money,
  Nullable,
  nullableTimestamp,
  type Static,
  StringEnum,
  Type,
  timestamp,
  withIso,
  yuanAndFen,
} from '../http/wire.ts';
import type { LossReport } from '../services/loss-reports.ts';
import { PARTNER_BANK_IDS, PARTNER_BANKS } from '../services/partner-banks.ts';

/** One of the 15 partner banks that issue the card (services/partner-banks.ts). */
export const IssuingBank = (description: string) =>
  StringEnum(PARTNER_BANK_IDS, {
    description: `${description}. One of the 15 partner banks: ${PARTNER_BANKS.map((b) => `\`${b.id}\` ${b.name}`).join(', ')}`,
  });

/** An example time for the examples: 2025-12-20 10:00 Beijing. */
export const EXAMPLE_MS = Date.UTC(2025, 11, 20, 2, 0, 0);
export const EXAMPLE_CARD_NO = '1000000000000016';

export const CARD_STATUSES = ['active', 'temporary-loss', 'formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled', 'exchanged'] as const;
export const LOSS_KINDS = ['temporary', 'formal'] as const;
export const BLACKLIST_REASONS = ['temporary-loss', 'formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled', 'exchanged'] as const;

export const LossReportSchema = Type.Object({
  id: Type.Integer({ description: 'loss report id' }),
  cardNo: CardNo(),
  kind: StringEnum(LOSS_KINDS, { description: 'temporary: ends by itself after 15 days; formal: permanent, opens replacement' }),
  ...timestamp('reportedMs', 'when the loss was reported', EXAMPLE_MS),
  ...nullableTimestamp('expiresMs', 'a temporary report ends by itself at this time (15 days)', EXAMPLE_MS + 15 * 86_400_000),
  ...nullableTimestamp('endedMs', 'when the report ended', EXAMPLE_MS),
  endReason: Nullable(
    StringEnum(['expired', 'unblocked', 'upgraded', 'replaced', 'cancelled'], { description: 'why the report ended; null while it is open' }),
  ),
});
export type LossReportWire = Static<typeof LossReportSchema>;

export function lossReportToWire(report: LossReport): LossReportWire {
  return withIso(report, 'reportedMs', 'expiresMs', 'endedMs') as LossReportWire;
}

export const BlacklistListingSchema = Type.Object(
  {
    reason: StringEnum(BLACKLIST_REASONS, { description: 'why the card is listed' }),
    version: Type.Integer({ description: 'the blacklist version that listed it' }),
    ...timestamp('sinceMs', 'listed since', EXAMPLE_MS),
  },
  { description: "the card's blacklist listing; null when it is not listed" },
);

export const CardSchema = Type.Object({
  cardNo: CardNo(),
  issuerCode: Type.String({ description: 'issuer code written on the card', examples: ['1000'] }),
  generation: IntegerEnum([1, 2, 3], { description: 'card generation; only 3 carries the transit and park functions' }),
  profile: StringEnum(['adult', 'student', 'senior'], { description: 'holder profile (fare discounts)' }),
  algorithm: StringEnum(['3des', 'sm4'], { description: 'purse cipher' }),
  keyVersion: Type.Integer({ description: 'issuer key version the card keys derive from' }),
  expiryDate: Type.Integer({ description: 'YYYYMMDD (Beijing date); the card is valid through it', examples: [20351220] }),
  ...money('overdraftLimit', 'how far the purse may go below zero on one last ride', 2000),
  transitOpened: Type.Boolean({ description: 'the transit function is open' }),
  suburbanOpened: Type.Boolean({ description: 'the suburban-rail function is open' }),
  holderName: Type.String({ description: "the holder's name" }),
  issuingBank: IssuingBank('the partner bank that issued the card, fixed at issue'),
  issuingBankName: Type.String({ description: "the issuing bank's name", examples: ['中国工商银行'] }),
  status: StringEnum(CARD_STATUSES, { description: 'card status' }),
  replaces: Nullable(CardNo('the card this one replaced; null if none')),
  replacedBy: Nullable(CardNo('the card that replaced this one; null if none')),
  ...timestamp('issuedMs', 'when the card was issued', EXAMPLE_MS),
  ...money('balance', "the back office's shadow balance (effective: may be negative within the overdraft)", 4600),
  lastOfflineAtc: Nullable(
    Type.Integer({
      description:
        'the highest offline ATC of a verified purchase the back office has received (validators upload late and in any order, so a lower ATC may still be on its way); null when none has been received',
    }),
  ),
  lastOnlineAtc: Type.Integer({ description: 'the online ATC of the latest load seen; -1 when no load has been seen' }),
  blacklist: Nullable(BlacklistListingSchema),
  lossReport: Nullable(LossReportSchema),
  socialSecurity: Type.Object(
    {
      ...nullableTimestamp('enabledMs', 'when the social-security functions were enabled (q14); transit never waits for it'),
      ...nullableTimestamp('cancelledMs', 'when the social-security function was cancelled (q33, at a service point or a bank branch)'),
    },
    { description: "the card's social-security functions: enabling and cancellation; the transit purse follows its own function" },
  ),
});
export type CardWire = Static<typeof CardSchema>;

export const AuthorisedWriteSchema = Type.Object(
  {
    kind: StringEnum(['functions', 'park-pass-current', 'park-pass-previous'], { description: 'which record to write' }),
    record: Type.String({ pattern: '^[0-9A-F]*$', description: 'record bytes, hex', examples: ['0301000000000000'] }),
    mac: Hex(4, 'command MAC over the card challenge, hex', '1A2B3C4D'),
  },
  { description: 'An issuer-authorised record write: send UPDATE RECORD(kind, record, mac) to the card that gave the challenge' },
);
export type AuthorisedWire = Static<typeof AuthorisedWriteSchema>;

/** Example values (valid against the schemas above; the walker checks them). */
export const EXAMPLE_LOSS_REPORT: LossReportWire = {
  id: 7,
  cardNo: EXAMPLE_CARD_NO,
  kind: 'temporary',
  reportedMs: EXAMPLE_MS,
  reportedAt: isoBeijing(EXAMPLE_MS),
  expiresMs: EXAMPLE_MS + 15 * 86_400_000,
  expiresAt: isoBeijing(EXAMPLE_MS + 15 * 86_400_000),
  endedMs: null,
  endedAt: null,
  endReason: null,
};

export const EXAMPLE_CARD: CardWire = {
  cardNo: EXAMPLE_CARD_NO,
  issuerCode: '1000',
  generation: 3,
  profile: 'adult',
  algorithm: 'sm4',
  keyVersion: 1,
  expiryDate: 20351220,
  ...yuanAndFen('overdraftLimit', 2000),
  transitOpened: true,
  suburbanOpened: false,
  holderName: '张三',
  issuingBank: 'icbc',
  issuingBankName: '中国工商银行',
  status: 'active',
  replaces: null,
  replacedBy: null,
  issuedMs: EXAMPLE_MS,
  issuedAt: isoBeijing(EXAMPLE_MS),
  ...yuanAndFen('balance', 4600),
  lastOfflineAtc: 3,
  lastOnlineAtc: 1,
  blacklist: null,
  lossReport: null,
  socialSecurity: { enabledMs: EXAMPLE_MS, enabledAt: isoBeijing(EXAMPLE_MS), cancelledMs: null, cancelledAt: null },
};

export const EXAMPLE_WRITE: AuthorisedWire = { kind: 'functions', record: '0301000000000000', mac: '1A2B3C4D' };
