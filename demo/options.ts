/** Command-line options of `npm run demo`. */
import type { CityDayOptions } from './city-day-run.ts';

export const USAGE = `usage: npm run demo -- [--riders N] [--devices N] [--days N] [--seed N] [--quick] [--out DIR] [--no-progress]

  --riders N     simulated riders, each with a card (default 600; --quick 40)
  --devices N    validators: subway gates, buses, P+R gates, park gates (default 40; --quick 12)
  --days N       simulated service days, from 2027-01-06 (default 1, at most 9)
  --seed N       seed of every random choice (default 8); the same seed gives the same day
  --quick        a small city in a few seconds
  --out DIR      where report.json, report.html and the SQLite files go (default var/demo-<seed>)
  --no-progress  no progress bar on stderr`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function positiveInt(name: string, value: string | undefined, max: number): number {
  if (value === undefined || !/^[0-9]+$/.test(value)) throw new UsageError(`${name} needs a whole number`);
  const n = Number(value);
  if (n < 1 || n > max) throw new UsageError(`${name} must be 1..${max}`);
  return n;
}

export function parseOptions(argv: readonly string[]): CityDayOptions & { help: boolean } {
  let riders: number | undefined;
  let devices: number | undefined;
  let days = 1;
  let seed = 8;
  let quick = false;
  let outDir: string | undefined;
  let progress = true;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--riders':
        riders = positiveInt('--riders', value(), 20_000);
        break;
      case '--devices':
        devices = positiveInt('--devices', value(), 1_000);
        break;
      case '--days':
        // The park-pass sale window ends on 15 January: days run from the 6th to at most the 14th.
        days = positiveInt('--days', value(), 9);
        break;
      case '--seed': {
        const v = value();
        if (v === undefined || !/^[0-9]+$/.test(v) || Number(v) > 0xffffffff) throw new UsageError('--seed needs a whole number 0..4294967295');
        seed = Number(v);
        break;
      }
      case '--quick':
        quick = true;
        break;
      case '--out': {
        const v = value();
        if (v === undefined || v === '') throw new UsageError('--out needs a directory');
        outDir = v;
        break;
      }
      case '--no-progress':
        progress = false;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  return {
    riders: riders ?? (quick ? 40 : 600),
    devices: devices ?? (quick ? 12 : 40),
    days,
    seed,
    quick,
    outDir: outDir ?? `var/demo-${seed}`,
    progress,
    help,
  };
}
