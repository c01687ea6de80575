/** Command-line options of `npm run demo`, parsed by the project's CLI kit (tools/src/cli.ts). */
import { parseCommandLine, UsageError } from '#tools/cli';
import type { CityDayOptions } from './city-day-run.ts';

export { UsageError };

export const USAGE = `usage: npm run demo -- [--riders N] [--devices N] [--days N] [--seed N] [--quick] [--out DIR] [--no-progress] [--subway-csv PATH]
       npm run demo -- --scale city|quick [--records N] [--store sqlite|postgres] [--bulk-journal full|normal] [--keep] [--seed N] [--out DIR]

  --riders N         simulated riders, each with a card (default 600; --quick 40)
  --devices N        validators: subway gates, buses, P+R gates, park gates (default 40; --quick 12)
  --days N           simulated service days, from 2027-01-06 (default 1, at most 9)
  --seed N           seed of every random choice (default 8); the same seed gives the same day
  --quick            a small city in a few seconds
  --out DIR          where report.json, report.html and the SQLite files go (default var/demo-<seed>)
  --no-progress      no progress bar on stderr
  --subway-csv PATH  the subway network CSV (default env SUBWAY_NETWORK_CSV, else
                     ../shared/data/beijing-subway-sections.csv beside the clone)
  --serve            after the day, keep the gateway up and print the web console's address
                     and the demo teller's sign-in (Ctrl-C ends it)
  -h, --help         print this text

City scale (docs/city-scale.md): a whole day of seeded riders over the real network, through the
validators' journals, sync, clearing and reconciliation, timed per stage.
  --scale city|quick   city: about 30 M records (the target: under 15 min on SQLite); quick: about
                       1 M (what npm test runs)
  --records N          aim for N records instead (the cards are N / 4.74)
  --store S            sqlite (default) or postgres (GATEWAY_DATABASE_URL, default
                       postgres://postgres@127.0.0.1:5432/test; a schema of its own, left in place)
  --bulk-journal M     full (default: an fsync per journal commit, as in the field) or normal
                       (synchronous=NORMAL for the bulk validators; the sample validators stay FULL)
  --keep               keep the databases (default: deleted after the run)
  --out DIR            where city-scale.json and city-scale.html go (default var/city-scale-<scale>)

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
  scale: { type: 'string' },
  records: { type: 'string' },
  store: { type: 'string' },
  'bulk-journal': { type: 'string' },
  keep: { type: 'boolean' },
  serve: { type: 'boolean' },
} as const;

/** The city-scale options (--scale ...), or null for the classic demo. */
export interface ScaleCli {
  preset: 'city' | 'quick' | 'custom';
  records: number;
  store: 'sqlite' | 'postgres';
  bulkJournal: 'full' | 'normal';
  keep: boolean;
}

function positiveInt(name: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw new UsageError(`--${name} needs a whole number, got "${value}"`);
  const n = Number(value);
  if (n < 1 || n > max) throw new UsageError(`--${name} must be 1..${max}, got ${value}`);
  return n;
}

export function parseOptions(argv: readonly string[]): Omit<CityDayOptions, 'serve'> & { help: boolean; scale: ScaleCli | null; serve: boolean } {
  const { values } = parseCommandLine(argv, OPTIONS);
  let scale: ScaleCli | null = null;
  if (values.scale !== undefined || values.records !== undefined) {
    const preset = values.scale ?? 'quick';
    if (preset !== 'city' && preset !== 'quick') throw new UsageError(`--scale must be city or quick, got "${preset}"`);
    const store = values.store ?? 'sqlite';
    if (store !== 'sqlite' && store !== 'postgres') throw new UsageError(`--store must be sqlite or postgres, got "${store}"`);
    const bulkJournal = values['bulk-journal'] ?? 'full';
    if (bulkJournal !== 'full' && bulkJournal !== 'normal') throw new UsageError(`--bulk-journal must be full or normal, got "${bulkJournal}"`);
    const records = positiveInt('records', values.records, 100_000_000);
    scale = {
      preset: records === undefined ? preset : 'custom',
      records: records ?? (preset === 'city' ? 30_000_000 : 1_000_000),
      store,
      bulkJournal,
      keep: values.keep === true,
    };
  } else {
    for (const name of ['store', 'bulk-journal', 'keep'] as const) if (values[name] !== undefined) throw new UsageError(`--${name} goes with --scale`);
  }
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
    outDir: values.out ?? (scale === null ? `var/demo-${seed}` : `var/city-scale-${scale.preset === 'custom' ? scale.records : scale.preset}`),
    progress: values['no-progress'] !== true,
    help: values.help === true,
    scale,
    serve: values.serve === true,
    ...(values['subway-csv'] !== undefined ? { subwayCsvPath: values['subway-csv'] } : {}),
  };
}
