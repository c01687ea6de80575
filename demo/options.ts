/** Command-line options of `npm run demo`, parsed by the project's CLI kit (tools/src/cli.ts). */
import { parseCommandLine, UsageError } from '#tools/cli';
import type { CityDayOptions } from './city-day-run.ts';

export { UsageError };

export const USAGE = `usage: npm run demo -- [--riders N] [--devices N] [--days N] [--seed N] [--quick] [--out DIR] [--no-progress] [--subway-csv PATH]

  --riders N         simulated riders, each with a card (default 600; --quick 40)
  --devices N        validators: subway gates, buses, P+R gates, park gates (default 40; --quick 12)
  --days N           simulated service days, from 2027-01-06 (default 1, at most 9)
  --seed N           seed of every random choice (default 8); the same seed gives the same day
  --quick            a small city in a few seconds
  --out DIR          where report.json, report.html and the SQLite files go (default var/demo-<seed>)
  --no-progress      no progress bar on stderr
  --subway-csv PATH  the subway network CSV (default env SUBWAY_NETWORK_CSV, else
                     ../shared/data/beijing-subway-sections.csv beside the clone)
  -h, --help         print this text

Exit status: 0 the day ran and the money reconciles; 1 it does not reconcile, or the run failed
(a missing or unreadable file: one line naming it); 2 usage error (unknown option, a missing or
bad value: one line and this text on stderr).`;

const OPTIONS = {
  riders: { type: 'string' },
  devices: { type: 'string' },
  days: { type: 'string' },
  seed: { type: 'string' },
  quick: { type: 'boolean' },
  out: { type: 'string' },
  'no-progress': { type: 'boolean' },
  'subway-csv': { type: 'string' },
} as const;

function positiveInt(name: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw new UsageError(`--${name} needs a whole number, got "${value}"`);
  const n = Number(value);
  if (n < 1 || n > max) throw new UsageError(`--${name} must be 1..${max}, got ${value}`);
  return n;
}

export function parseOptions(argv: readonly string[]): CityDayOptions & { help: boolean } {
  const { values } = parseCommandLine(argv, OPTIONS);
  const quick = values.quick === true;
  const riders = positiveInt('riders', values.riders, 20_000);
  const devices = positiveInt('devices', values.devices, 1_000);
  // The park-pass sale window ends on 15 January: days run from the 6th to at most the 14th.
  const days = positiveInt('days', values.days, 9) ?? 1;
  let seed = 8;
  if (values.seed !== undefined) {
    if (!/^[0-9]+$/.test(values.seed) || Number(values.seed) > 0xffffffff)
      throw new UsageError(`--seed needs a whole number 0..4294967295, got "${values.seed}"`);
    seed = Number(values.seed);
  }
  if (values.out === '') throw new UsageError('--out needs a directory');
  if (values['subway-csv'] === '') throw new UsageError('--subway-csv needs a path');
  return {
    riders: riders ?? (quick ? 40 : 600),
    devices: devices ?? (quick ? 12 : 40),
    days,
    seed,
    quick,
    outDir: values.out ?? `var/demo-${seed}`,
    progress: values['no-progress'] !== true,
    help: values.help === true,
    ...(values['subway-csv'] !== undefined ? { subwayCsvPath: values['subway-csv'] } : {}),
  };
}
