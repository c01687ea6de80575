/**
 * DATA: the park annual pass per pass year (DOMAIN.md section 7 "Park annual pass",
 * ../shared/research/interop-settlement-calendars.md section 5): the sale window, the parks the
 * pass covers and who may buy it. Operators add next year's entry when its notice appears; the
 * gateway reads it (GatewayPolicies.parkPassYears, default this list).
 *
 * Sources:
 * - window 15 December - 15 January, 玉渊潭东门 and 中山公园 sell all year [S ameil.net 2020,
 *   597mm.com 2011]; no notice later than 2020 was found, so each year's window repeats it [U];
 * - the 11 municipal parks of DOMAIN.md section 4 (ids 1-11, project-assigned); 2025/2026 sources
 *   speak of 12 municipal parks, the 12th is not named in any source read [U]: not listed;
 * - eligibility: anyone may buy (non-residents could in 2011) [U]; one pass per holder is a rule
 *   of the holder records, not of this data.
 */
import type { ParkPassYear } from '../park-pass.ts';

const MUNICIPAL_PARK_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const YEAR_ROUND_SALE_POINTS = ['玉渊潭公园东门', '中山公园'];
const SOURCE =
  'window and year-round sale points: http://ameil.net/html/164415.html (2020 notice), https://597mm.com/news/show.php?itemid=4941 (2011); parks: the 11 municipal parks of DOMAIN.md section 4 (12th municipal park of the 2025/2026 sources unnamed [U])';

export const PARK_PASS_YEARS: readonly ParkPassYear[] = [
  {
    year: 2026,
    saleFrom: 20251215,
    saleUntil: 20260115,
    yearRoundSalePoints: YEAR_ROUND_SALE_POINTS,
    parkIds: MUNICIPAL_PARK_IDS,
    eligibility: 'anyone',
    provisional: true,
    source: SOURCE,
  },
  {
    year: 2027,
    saleFrom: 20261215,
    saleUntil: 20270115,
    yearRoundSalePoints: YEAR_ROUND_SALE_POINTS,
    parkIds: MUNICIPAL_PARK_IDS,
    eligibility: 'anyone',
    provisional: true,
    source: SOURCE,
  },
];
