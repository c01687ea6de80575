/**
 * `npm run demo`: a simulated city day on the embedded default (SQLite, no other service).
 * Prints the report, writes report.json and report.html to the out directory, and exits
 * non-zero when the money does not reconcile. Options: see USAGE (demo/options.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertReadableFile, EXIT_FAILED, EXIT_OK, isEntryScript, runCli, streamIo } from '#tools/cli';
import { runCityDay, SUBWAY_CSV_HINT, subwayCsvPathOf } from './city-day-run.ts';
import { parseOptions, USAGE } from './options.ts';
import type { CityDayReport } from './report.ts';
import { renderHtml } from './report-html.ts';
import { renderText } from './report-text.ts';

export interface CliResult {
  exitCode: number;
  report: CityDayReport | null;
}

/**
 * Runs the demo as the command line would; returns the exit code instead of exiting (tests call
 * it). Exit codes (tools/src/cli.ts): 0 reconciled, 1 not reconciled or failed (a missing file is
 * one line naming it), 2 usage (one line, then USAGE on stderr).
 */
export async function main(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<CliResult> {
  let report: CityDayReport | null = null;
  const exitCode = await runCli(
    'demo',
    USAGE,
    async () => {
      const options = parseOptions(argv);
      if (options.help) {
        io.stdout.write(`${USAGE}\n`);
        return EXIT_OK;
      }
      // Checked before the out folder is made: a missing network file changes nothing.
      assertReadableFile(subwayCsvPathOf(options), 'subway network CSV', SUBWAY_CSV_HINT);
      const outDir = resolve(options.outDir);
      mkdirSync(outDir, { recursive: true });
      if (options.scale !== null) {
        // Loaded only for a scale run: --help and the classic demo do not pay for it.
        const { runCityScale } = await import('./city-scale/scale-run.ts');
        const { renderScaleHtml, renderScaleSvg, renderScaleText } = await import('./city-scale/scale-report.ts');
        const scale = await runCityScale({
          ...options.scale,
          databaseUrl: options.scale.store === 'postgres' ? (process.env.GATEWAY_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test') : undefined,
          seed: options.seed,
          outDir,
          progress: options.progress,
          subwayCsvPath: subwayCsvPathOf(options),
          log: (line) => io.stderr.write(`${line}\n`),
        });
        io.stdout.write(`${renderScaleText(scale)}\n`);
        writeFileSync(join(outDir, 'city-scale.json'), `${JSON.stringify(scale, null, 2)}\n`);
        writeFileSync(join(outDir, 'city-scale.html'), renderScaleHtml(scale));
        writeFileSync(join(outDir, 'city-scale.svg'), renderScaleSvg(scale));
        io.stdout.write(`\nreport: ${join(outDir, 'city-scale.json')}\n        ${join(outDir, 'city-scale.html')}\n`);
        return scale.ok ? EXIT_OK : EXIT_FAILED;
      }
      const color = Boolean((io.stdout as NodeJS.WriteStream).isTTY) && !process.env.NO_COLOR;
      const write = (done: CityDayReport) => {
        io.stdout.write(`${renderText(done, color)}\n`);
        writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(done, null, 2)}\n`);
        writeFileSync(join(outDir, 'report.html'), renderHtml(done));
        io.stdout.write(`\nreport: ${join(outDir, 'report.json')}\n        ${join(outDir, 'report.html')}\n`);
      };
      const { serve, ...dayOptions } = options;
      report = await runCityDay({
        ...dayOptions,
        outDir,
        // --serve: the report first, then the console's address; the gateway stays up until Ctrl-C.
        serve: serve
          ? async (done, console) => {
              write(done);
              io.stdout.write(
                `\nweb console: ${console.url}\n  sign in as the demo teller: ${console.username} / ${console.password} (the card reader is wired to the riders' simulated cards)\n  Ctrl-C stops the gateway\n`,
              );
              await new Promise<void>((resolve) => {
                process.once('SIGINT', resolve);
                process.once('SIGTERM', resolve);
              });
            }
          : undefined,
      });
      if (!serve) write(report);
      return report.ok ? EXIT_OK : EXIT_FAILED;
    },
    streamIo(io),
  );
  return { exitCode, report };
}

if (isEntryScript(import.meta.url)) {
  main(process.argv.slice(2)).then((result) => {
    process.exitCode = result.exitCode;
  });
}
