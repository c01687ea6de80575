/**
 * Stable tap result codes (ARCHITECTURE habit 2: results are data). The numbers are part of
 * the journal contract and of the gateway's clearing: never renumber or repurpose one; add new
 * codes with new numbers.
 *
 * Precedence (the order in which decideTap/executeTap check; the first that applies wins):
 *
 * | step | code                            | why it comes here                                           |
 * |------|---------------------------------|-------------------------------------------------------------|
 * | 1    | CARD_READ_ERROR                 | nothing else can be judged without a readable card          |
 * | 2    | CARD_REMOVED                    | a torn recovery could not finish: retry before anything else |
 * | 2b   | TORN_TRANSACTION_UNPROVABLE     | journal-only: the proof is gone for good; reported, then decide |
 * | 3    | TORN_TRANSACTION_RECOVERED      | a re-tap completes the earlier torn purchase, never charges twice |
 * | 3b   | ISSUER_NOT_ACCEPTED             | another issuer's card whose issuer is not on the allow-list (C2 step 3) |
 * | 4    | BLACKLISTED_AND_LOCKED          | a final blacklisting locks the card before anything else     |
 * | 5    | CARD_LOCKED                     | locked cards are refused everywhere, even with a stale list  |
 * | 6    | BLACKLISTED                     | temporary loss: refused, not locked                         |
 * | 7    | WRONG_GENERATION                | only generation 3 has transit and park functions             |
 * | 8    | TRANSIT_NOT_OPENED              | transit devices need the transit function                    |
 * | 9    | FUNCTION_NOT_OPENED             | suburban gates need the suburban function                    |
 * | 10   | CARD_EXPIRED                    | not checked at exits: a journey begun validly can end        |
 * | 10b  | ISSUER_LIMIT_EXCEEDED           | foreign card over its issuer's maximum balance; or, once the charge is known, over its maximum debit |
 * | 11   | DEVICE_CONFIG_ERROR             | the device's station/line/lot/park is not in the fare tables |
 * | 12   | ALREADY_ENTERED                 | open entry/stay (or a bus double tap) on the card            |
 * | 13   | NO_ENTRY_RECORD                 | exit without a matching entry                                |
 * | 14   | ANTI_PASSBACK                   | same park again inside the window                            |
 * | 15   | PASS_NOT_VALID_HERE / NO_VALID_PASS | park gate without a usable pass or ticket                |
 * | 16   | NEGATIVE_BALANCE                | entries/boardings refuse a card below zero until topped up  |
 * | 17   | INSUFFICIENT_BALANCE            | under the minimum to enter, or the charge passes the floor  |
 * | 18   | MAC_FAILURE                     | found during the purchase: MAC2 invalid = not genuine        |
 * | 19   | ACCEPTED / OVERTIME_CHARGED     | accepted                                                    |
 */
export const TAP_RESULT = {
  ACCEPTED: 0,
  /** Accepted; the journey exceeded the time limit and the overtime fare was added. */
  OVERTIME_CHARGED: 1,
  /** The journal record of a torn purchase completed by fetching its proof (accepted). */
  TORN_TRANSACTION_RECOVERED: 2,
  BLACKLISTED_AND_LOCKED: 10,
  CARD_LOCKED: 11,
  BLACKLISTED: 12,
  WRONG_GENERATION: 13,
  TRANSIT_NOT_OPENED: 14,
  FUNCTION_NOT_OPENED: 15,
  CARD_EXPIRED: 16,
  /** Another issuer's card whose issuer (first 4 bytes of the issuer id) is not on the allow-list (issue 18). */
  ISSUER_NOT_ACCEPTED: 17,
  /** A foreign card over its issuer policy's maximum balance, or a charge over its maximum debit (issue 18). */
  ISSUER_LIMIT_EXCEEDED: 18,
  INSUFFICIENT_BALANCE: 20,
  NEGATIVE_BALANCE: 21,
  ALREADY_ENTERED: 22,
  NO_ENTRY_RECORD: 23,
  PASS_NOT_VALID_HERE: 30,
  NO_VALID_PASS: 31,
  ANTI_PASSBACK: 32,
  MAC_FAILURE: 40,
  CARD_READ_ERROR: 41,
  CARD_REMOVED: 42,
  /**
   * Journal-only: a torn purchase whose proof the card can no longer give (its proofs and
   * log rotated, or the proof fails to verify) is dropped at the device so the card is not
   * stuck there; the record tells the back office, whose ATC chain and balance chain settle it.
   */
  TORN_TRANSACTION_UNPROVABLE: 43,
  DEVICE_CONFIG_ERROR: 50,
} as const;

export type TapResultName = keyof typeof TAP_RESULT;
export type TapResultCode = (typeof TAP_RESULT)[TapResultName];

/** Precedence order, highest first (see the table above). */
export const TAP_RESULT_PRECEDENCE: readonly TapResultCode[] = [
  TAP_RESULT.CARD_READ_ERROR,
  TAP_RESULT.CARD_REMOVED,
  TAP_RESULT.TORN_TRANSACTION_UNPROVABLE,
  TAP_RESULT.TORN_TRANSACTION_RECOVERED,
  TAP_RESULT.ISSUER_NOT_ACCEPTED,
  TAP_RESULT.BLACKLISTED_AND_LOCKED,
  TAP_RESULT.CARD_LOCKED,
  TAP_RESULT.BLACKLISTED,
  TAP_RESULT.WRONG_GENERATION,
  TAP_RESULT.TRANSIT_NOT_OPENED,
  TAP_RESULT.FUNCTION_NOT_OPENED,
  TAP_RESULT.CARD_EXPIRED,
  TAP_RESULT.ISSUER_LIMIT_EXCEEDED,
  TAP_RESULT.DEVICE_CONFIG_ERROR,
  TAP_RESULT.ALREADY_ENTERED,
  TAP_RESULT.NO_ENTRY_RECORD,
  TAP_RESULT.ANTI_PASSBACK,
  TAP_RESULT.PASS_NOT_VALID_HERE,
  TAP_RESULT.NO_VALID_PASS,
  TAP_RESULT.NEGATIVE_BALANCE,
  TAP_RESULT.INSUFFICIENT_BALANCE,
  TAP_RESULT.MAC_FAILURE,
  TAP_RESULT.ACCEPTED,
  TAP_RESULT.OVERTIME_CHARGED,
];

/** Short gate-display messages (Chinese / English). */
export const TAP_RESULT_MESSAGE: Readonly<Record<TapResultCode, string>> = {
  0: '请通行 / Go',
  1: '超时加收 请通行 / Overtime fare charged',
  2: '交易已恢复 请通行 / Previous tap completed',
  10: '卡已挂失 已锁定 请到柜台 / Card reported lost: locked',
  11: '卡已锁定 请到柜台 / Card locked',
  12: '卡已挂失 请到柜台 / Card reported lost',
  13: '卡类型不支持 / Card generation not supported',
  14: '交通功能未开通 / Transit function not opened',
  15: '市郊铁路功能未开通 / Suburban function not opened',
  16: '卡已过期 / Card expired',
  17: '此卡暂不支持 / Card of this issuer not accepted',
  18: '超出发卡机构限额 / Over the issuer limit',
  20: '余额不足 请充值 / Insufficient balance',
  21: '卡内透支 请充值 / Negative balance: top up',
  22: '已进站 / Already entered',
  23: '无进站记录 请到客服中心 / No entry record: service desk',
  30: '年票在此不适用 / Pass not valid here',
  31: '无有效年票 / No valid pass',
  32: '请勿重复刷卡 / Already entered: wait',
  40: '卡片认证失败 / Card authentication failed',
  41: '读卡失败 请重刷 / Card read error: tap again',
  42: '请重新刷卡 / Card removed: tap again',
  43: '前次交易无法恢复 已上报 / Earlier torn tap reported to the back office',
  50: '设备参数错误 / Device not configured',
};

/** Codes after which the gate opens. */
export function isAcceptedResult(code: TapResultCode): boolean {
  return code === TAP_RESULT.ACCEPTED || code === TAP_RESULT.OVERTIME_CHARGED || code === TAP_RESULT.TORN_TRANSACTION_RECOVERED;
}
