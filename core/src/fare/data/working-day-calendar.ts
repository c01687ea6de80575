/**
 * DATA: the working-day calendar of the weekday early-entry discount, one entry per year, from
 * the State Council (国务院办公厅) holiday notice of that year (DOMAIN.md section 7 "Calendars",
 * ../shared/research/interop-settlement-calendars.md section 3).
 *
 * A date is a working day when it is a weekend day listed in `workdays` (调休), or a weekday not
 * listed in `holidays`. Dates are YYYYMMDD, Beijing local.
 *
 * This module is the default only: the calendar travels inside the versioned fare-tables bundle
 * (`subwayPolicy.calendar.years`), so operators publish a new year (or the final notice of a
 * provisional one) as a new fare-table version with its effective date, and validators receive it
 * at sync. See core/src/fare/POLICIES.md "Working-day calendar".
 */
import type { WorkingDayCalendarYear } from '../subway-fare-policy.ts';

/** Every date from `from` to `to` (YYYYMMDD, same month), inclusive. */
function days(from: number, to: number): number[] {
  const out: number[] = [];
  for (let d = from; d <= to; d++) out.push(d);
  return out;
}

/**
 * 2026: 国务院办公厅关于2026年部分节假日安排的通知, published 2025-11-04 [S].
 * 元旦 01-01..03 (work Sun 01-04); 春节 02-15..23 (work Sat 02-14, Sat 02-28); 清明 04-04..06;
 * 劳动节 05-01..05 (work Sat 05-09); 端午 06-19..21; 中秋 09-25..27; 国庆 10-01..07 (work Sun
 * 09-20, Sat 10-10).
 */
export const WORKING_DAY_CALENDAR_2026: WorkingDayCalendarYear = {
  year: 2026,
  provisional: false,
  source: '国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04): https://politics.gmw.cn/2025-11/04/content_38391083.htm (gov.cn content_7047091)',
  holidays: [
    ...days(20260101, 20260103),
    ...days(20260215, 20260223),
    ...days(20260404, 20260406),
    ...days(20260501, 20260505),
    ...days(20260619, 20260621),
    ...days(20260925, 20260927),
    ...days(20261001, 20261007),
  ],
  workdays: [20260104, 20260214, 20260228, 20260509, 20260920, 20261010],
};

/**
 * 2027: PROVISIONAL [U]. The notice was not out when this was written (it usually comes in
 * November). Only the statutory days of 《全国年节及纪念日放假办法》 as amended in 2024-11 are
 * listed: 元旦 01-01; 春节 除夕..初三 02-05..08; 清明 04-05; 劳动节 05-01..02; 端午 06-09;
 * 中秋 09-15; 国庆 10-01..03. Bridging days and weekend working days (调休) are unknown: publish
 * the notice as a new fare-table version when it appears.
 */
export const WORKING_DAY_CALENDAR_2027: WorkingDayCalendarYear = {
  year: 2027,
  provisional: true,
  source:
    'PROVISIONAL: statutory days only (全国年节及纪念日放假办法, amended 2024-11; dates per python-holidays 0.105); the 2027 State Council notice and its 调休 are not yet known',
  holidays: [20270101, ...days(20270205, 20270208), 20270405, 20270501, 20270502, 20270609, 20270915, ...days(20271001, 20271003)],
  workdays: [],
};

export const WORKING_DAY_CALENDAR_YEARS: readonly WorkingDayCalendarYear[] = [WORKING_DAY_CALENDAR_2026, WORKING_DAY_CALENDAR_2027];
