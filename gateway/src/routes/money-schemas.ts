/** Wire shapes of the money routes (loads, refunds), written once in TypeBox (http/wire.ts). */
import {
  CardNo,
  Hex,
  isoBeijing,
  money,
  Nullable,
  nullableMoney,
  nullableTimestamp,
  type Static,
  StringEnum,
  Type,
  timestamp,
  yuanAndFen,
  nullableYuanAndFen,
} from '../http/wire.ts';
import type { LoadView } from '../services/loads.ts';
import type { RefundView } from '../services/refunds.ts';
import { PAYMENT_SOURCES } from '../services/ledger.ts';
import { EXAMPLE_CARD_NO, EXAMPLE_MS } from './card-schemas.ts';

export const LOAD_RESOLUTIONS = ['tac', 'next-load', 'card-log', 'purchase-chain', 'teller-void', 'void-reversed'] as const;

export const LoadSchema = Type.Object({
  id: Type.String({ description: 'load id', examples: ['12'] }),
  cardNo: CardNo(),
  ...money('amount', 'amount loaded', 5000),
  paymentSource: StringEnum(PAYMENT_SOURCES, { description: 'how the payer paid' }),
  status: StringEnum(['pending', 'confirmed', 'voided'], {
    description: "pending until the card's TAC or card evidence decides it; confirmed: on the card; voided: never reached the card, the payment returned",
  }),
  resolution: Nullable(
    StringEnum(LOAD_RESOLUTIONS, {
      description: 'what decided it: tac, next-load, card-log, purchase-chain, teller-void, or void-reversed (a teller void the card proved credited)',
    }),
  ),
  onlineAtc: Type.Integer({ description: 'INITIALIZE FOR LOAD: online ATC' }),
  ...money('balanceBefore', 'INITIALIZE FOR LOAD: effective balance before the load (negative in overdraft)', 4600),
  terminalId: Hex(6, 'terminal id used in INITIALIZE FOR LOAD', '000000000001'),
  mac2: Hex(4, 'MAC2 for CREDIT FOR LOAD, hex', 'C0FFEE01'),
  date: Type.Integer({ description: 'YYYYMMDD (Beijing) for CREDIT FOR LOAD', examples: [20251220] }),
  time: Type.Integer({ description: 'hhmmss (Beijing) for CREDIT FOR LOAD', examples: [100000] }),
  branch: Type.String({ description: 'the branch (counter) or channel (app) that took the payment', examples: ['branch-001'] }),
  ...timestamp('createdMs', 'when the load was authorised', EXAMPLE_MS),
  ...nullableTimestamp('resolvedMs', 'when it was confirmed or voided', EXAMPLE_MS + 5_000),
});
export type LoadWire = Static<typeof LoadSchema>;

export function loadToWire(load: LoadView): LoadWire {
  return {
    ...load,
    ...yuanAndFen('amount', load.amountFen),
    ...yuanAndFen('balanceBefore', load.balanceBeforeFen),
    createdAt: isoBeijing(load.createdMs),
    resolvedAt: load.resolvedMs === null ? null : isoBeijing(load.resolvedMs),
  };
}

export const EXAMPLE_LOAD: LoadWire = {
  id: '12',
  cardNo: EXAMPLE_CARD_NO,
  ...yuanAndFen('amount', 5000),
  paymentSource: 'cash',
  status: 'pending',
  resolution: null,
  onlineAtc: 1,
  ...yuanAndFen('balanceBefore', 4600),
  terminalId: '000000000001',
  mac2: 'C0FFEE01',
  date: 20251220,
  time: 100000,
  branch: 'branch-001',
  createdMs: EXAMPLE_MS,
  createdAt: isoBeijing(EXAMPLE_MS),
  resolvedMs: null,
  resolvedAt: null,
};

export const EXAMPLE_CONFIRMED_LOAD: LoadWire = {
  ...EXAMPLE_LOAD,
  status: 'confirmed',
  resolution: 'tac',
  resolvedMs: EXAMPLE_MS + 5_000,
  resolvedAt: isoBeijing(EXAMPLE_MS + 5_000),
};

export const RefundSchema = Type.Object({
  id: Type.String({ description: 'refund id', examples: ['4'] }),
  cardNo: CardNo(),
  destinationAccount: Type.String({ description: 'the bank account, masked: only the last 4 digits', examples: ['************6789'] }),
  destinationName: Type.String({ description: 'account holder name' }),
  status: StringEnum(['waiting', 'paid'], { description: 'waiting for the devices or the deadline; paid' }),
  settledBy: Nullable(
    StringEnum(['watermarks', 'deadline'], {
      description: 'watermarks: every device synced past the blacklisting; deadline: paid at the deadline with what was known; null while waiting',
    }),
  ),
  ...nullableMoney('paid', 'paid to the account', 4600),
  ...nullableMoney('receivable', 'overdraft left unpaid by an overdrawn card', 0),
  ...money('writtenOff', 'late taps uploaded after the payout, written off', 0),
  blacklistVersion: Type.Integer({ description: 'the blacklist version that listed the card refunded' }),
  ...timestamp('requestedMs', 'when the refund was requested', EXAMPLE_MS),
  ...timestamp('deadlineMs', 'the end of the 2nd natural day after the request, Beijing time: paid by then', Date.UTC(2025, 11, 22, 16, 0, 0) - 1),
  ...nullableTimestamp('paidMs', 'when it was paid', EXAMPLE_MS + 7_200_000),
  waitingForDevices: Type.Array(Type.String(), { description: 'devices still to drain their journals before the balance is final (empty once paid)' }),
  ...money(
    'pendingLoads',
    'loads of the card still pending: not paid (they may not be on the card); paid later if card evidence shows them credited, else returned to their payer',
    0,
  ),
});
export type RefundWire = Static<typeof RefundSchema>;

export function refundToWire(refund: RefundView): RefundWire {
  return {
    ...refund,
    ...nullableYuanAndFen('paid', refund.paidFen),
    ...nullableYuanAndFen('receivable', refund.receivableFen),
    ...yuanAndFen('writtenOff', refund.writtenOffFen),
    requestedAt: isoBeijing(refund.requestedMs),
    deadlineAt: isoBeijing(refund.deadlineMs),
    paidAt: refund.paidMs === null ? null : isoBeijing(refund.paidMs),
    ...yuanAndFen('pendingLoads', refund.pendingLoadsFen),
  };
}

const DEADLINE_MS = Date.UTC(2025, 11, 22, 16, 0, 0) - 1;

export const EXAMPLE_REFUND: RefundWire = {
  id: '4',
  cardNo: EXAMPLE_CARD_NO,
  destinationAccount: '************6789',
  destinationName: '张三',
  status: 'waiting',
  settledBy: null,
  ...nullableYuanAndFen('paid', null),
  ...nullableYuanAndFen('receivable', null),
  ...yuanAndFen('writtenOff', 0),
  blacklistVersion: 15,
  requestedMs: EXAMPLE_MS,
  requestedAt: isoBeijing(EXAMPLE_MS),
  deadlineMs: DEADLINE_MS,
  deadlineAt: isoBeijing(DEADLINE_MS),
  paidMs: null,
  paidAt: null,
  waitingForDevices: ['GATE-01', 'BUS-17'],
  ...yuanAndFen('pendingLoads', 0),
};

export const EXAMPLE_PAID_REFUND: RefundWire = {
  ...EXAMPLE_REFUND,
  status: 'paid',
  settledBy: 'watermarks',
  ...nullableYuanAndFen('paid', 4600),
  ...nullableYuanAndFen('receivable', 0),
  paidMs: EXAMPLE_MS + 7_200_000,
  paidAt: isoBeijing(EXAMPLE_MS + 7_200_000),
  waitingForDevices: [],
};
