/**
 * `npm run demo`: a simulated city day on the embedded default (SQLite, no other service).
 * Prints the report, writes report.json and report.html to the out directory, and exits
 * non-zero when the money does not reconcile. Options: see USAGE (demo/options.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCityDay } from './city-day-run.ts';
import { parseOptions, USAGE, UsageError } from './options.ts';
import type { CityDayReport } from './report.ts';
import { renderHtml } from './report-html.ts';
import { renderText } from './report-text.ts';

export interface CliResult {
  exitCode: number;
  report: CityDayReport | null;
}

/** Runs the demo as the command line would; returns the exit code instead of exiting (tests call it). */
export async function main(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<CliResult> {
  let options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`${error.message}\n${USAGE}\n`);
    return { exitCode: 2, report: null };
  }
  if (options.help) {
    io.stdout.write(`${USAGE}\n`);
    return { exitCode: 0, report: null };
  }
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const report = await runCityDay({ ...options, outDir });
  const color = Boolean((io.stdout as NodeJS.WriteStream).isTTY) && !process.env.NO_COLOR;
  io.stdout.write(`${renderText(report, color)}\n`);
  writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'report.html'), renderHtml(report));
  io.stdout.write(`\nreport: ${join(outDir, 'report.json')}\n        ${join(outDir, 'report.html')}\n`);
  return { exitCode: report.ok ? 0 : 1, report };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2))
    .then((result) => {
      process.exitCode = result.exitCode;
    })
    .catch((error: unknown) => {
      process.stderr.write(`\ndemo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
