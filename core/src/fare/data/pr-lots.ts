/**
 * DATA: the P+R car parks (DOMAIN.md section 7 "P+R", ../shared/research/interop-settlement-calendars.md
 * section 4). The manual (seed question 2) speaks of 38 lots; no public list of them was found,
 * so this file ships only the lots a public source names, each with its source, plus the three
 * placeholder lots the demo and the tests use. Operators complete it to the 38 (real names,
 * nearest stations, bays, tariffs) and publish it inside a new fare-table version
 * (`parkAndRideLots`); lot ids are what P+R gates are configured with (`--lot`, DeviceConfig.lotId),
 * so an id never changes meaning. Never add a lot whose name no source gives.
 *
 * Prices: 2 yuan per stay with a rail ride during it [S Beijing price rule, China Daily 2012];
 * the non-transit tariff is not published [U]: 5 yuan per started hour, capped at 30 yuan a day [P].
 */
import type { ParkAndRideLot } from '../park-and-ride.ts';

/** The number of P+R lots the manual names (seed question 2) [S]. */
export const MANUAL_PARK_AND_RIDE_LOT_COUNT = 38;

const DEMO_PLACEHOLDER = 'PLACEHOLDER for the demo and tests: made up by this project, not a real lot';

/** Placeholder lots 1-3 (made up: ids, names and the dearer tariff of lot 3). */
export const EXAMPLE_PARK_AND_RIDE_LOTS: ParkAndRideLot[] = [
  {
    lotId: 1,
    name: '示例P+R停车场甲 (example, made up)',
    preferentialFen: 200,
    hourlyFen: 500,
    dailyCapFen: 3_000,
    bays: null,
    placeholder: true,
    source: DEMO_PLACEHOLDER,
  },
  {
    lotId: 2,
    name: '示例P+R停车场乙 (example, made up)',
    preferentialFen: 200,
    hourlyFen: 500,
    dailyCapFen: 3_000,
    bays: null,
    placeholder: true,
    source: DEMO_PLACEHOLDER,
  },
  {
    lotId: 3,
    name: '示例P+R停车场丙 (example, made up: dearer)',
    preferentialFen: 300,
    hourlyFen: 600,
    dailyCapFen: 4_000,
    bays: null,
    placeholder: true,
    source: DEMO_PLACEHOLDER,
  },
];

/** The lots a public source names. Tariffs are the defaults above. */
export const SOURCED_PARK_AND_RIDE_LOTS: ParkAndRideLot[] = [
  {
    lotId: 4,
    name: '天通苑北 P+R',
    preferentialFen: 200,
    hourlyFen: 500,
    dailyCapFen: 3_000,
    nearestStation: '天通苑北',
    bays: 436,
    placeholder: false,
    source: 'http://horoad.com/news_show.asp?newsid=130 [W]: "the 天通苑北 P+R has 436 bays", full by about 07:30',
  },
  {
    lotId: 5,
    // The sources name only its place: a lot near 回龙观 on line 13 (its own name is not given).
    name: '回龙观 P+R (13号线)',
    preferentialFen: 200,
    hourlyFen: 500,
    dailyCapFen: 3_000,
    nearestStation: '回龙观',
    bays: null,
    placeholder: false,
    source:
      'named as "a lot near 回龙观 (13号线)" in the public pages read for ../shared/research/interop-settlement-calendars.md section 4 [W]; name, bays and exact place not confirmed [U]',
  },
];

/** Every lot of the default fare tables: the placeholders (ids 1-3) and the sourced lots. */
export const PARK_AND_RIDE_LOTS: ParkAndRideLot[] = [...EXAMPLE_PARK_AND_RIDE_LOTS, ...SOURCED_PARK_AND_RIDE_LOTS];
