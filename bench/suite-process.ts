/**
 * One suite, one process (issue 19, part 3). In a full run bench/run.ts runs each suite in a
 * child Node process of its own (runSuite), so a latency suite starts with a fresh heap and
 * JIT — not with the garbage, the compiled code and the 10M-entry fixtures of the suites before
 * it — and its GC pauses are its own. The child is started with --expose-gc (each task then
 * starts from a collected heap, see harness.ts collectGarbage) and the parent's loader flags
 * (tsx); the result comes back over IPC with structured clone (NaN survives), progress goes to
 * the parent's stderr.
 *
 * Quick mode (the smoke test inside `npm test`) runs the suites inside the runner by default: a
 * child costs ~0.5 s of CPU to start tsx, times a dozen suites, on the box the tests share.
 * BENCH_ISOLATE=1 gives quick mode its own processes too, BENCH_ISOLATE=0 runs a full run in one
 * process (for a debugger or a profiler).
 */
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { BenchContext, FULL_TIME_MS, FULL_WARMUP_MS, QUICK_TIME_MS, QUICK_WARMUP_MS, type Suite, type SuiteResult } from './harness.ts';

/** What the runner tells a suite process (RunOptions without the output and filters). */
export interface SuiteRunOptions {
  quick: boolean;
  looseness: number;
  retries: number | undefined;
}

interface SuiteRequest {
  name: string;
  file: string;
  options: SuiteRunOptions;
  ownProcess: boolean;
}

/** Runs a suite here, in this process; a suite that throws becomes a failed SuiteResult. */
export async function runSuiteInProcess(name: string, file: string, options: SuiteRunOptions, ownProcess = false): Promise<SuiteResult> {
  const ctx = new BenchContext({
    suite: name,
    quick: options.quick,
    looseness: options.looseness,
    timeMs: options.quick ? QUICK_TIME_MS : FULL_TIME_MS,
    warmupMs: options.quick ? QUICK_WARMUP_MS : FULL_WARMUP_MS,
    retries: options.retries,
    log: (line) => process.stderr.write(`${line}\n`),
    ownProcess,
  });
  const started = performance.now();
  try {
    const mod = (await import(pathToFileURL(file).href)) as { default?: Suite };
    if (typeof mod.default !== 'function') throw new Error(`${file} has no default export suite(ctx) (see bench/README.md, "Writing a suite")`);
    const result = await mod.default(ctx);
    if (!result || !Array.isArray(result.tasks)) throw new Error('suite did not return ctx.result()');
    return result;
  } catch (error) {
    return failedSuite(ctx.result(), error, started);
  }
}

function failedSuite(partial: SuiteResult, error: unknown, started: number): SuiteResult {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`  ${partial.suite} FAILED: ${message}\n`);
  return {
    ...partial,
    pass: false,
    failures: [`suite threw: ${error instanceof Error ? error.message : String(error)}`, ...partial.failures],
    durationMs: performance.now() - started,
  };
}

const CHILD_ENV = 'BENCH_SUITE_CHILD';

/** Whether a suite runs in its own process: yes in full runs, no in quick ones, unless BENCH_ISOLATE says (1 or 0). */
export function isolateSuites(quick: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const given = env.BENCH_ISOLATE;
  if (given === '1') return true;
  if (given === '0') return false;
  return !quick;
}

/** Runs a suite where isolateSuites says: in a child process of its own, or here. */
export function runSuite(name: string, file: string, options: SuiteRunOptions): Promise<SuiteResult> {
  return isolateSuites(options.quick) ? runSuiteInChild(name, file, options) : runSuiteInProcess(name, file, options, false);
}

/**
 * The parent's Node flags (tsx's loader when the runner was started by tsx) plus --expose-gc;
 * tsx's loader added when the parent runs TypeScript some other way (vitest's workers).
 */
function childExecArgv(): string[] {
  const args = process.execArgv.filter((a) => a !== '--expose-gc');
  if (!args.some((a) => a.includes('tsx'))) args.push('--import', pathToFileURL(createRequire(import.meta.filename).resolve('tsx')).href);
  args.push('--expose-gc');
  return args;
}

/**
 * Runs a suite in a child process of its own and resolves with its result. A child that dies
 * (a crash, a signal, no answer) gives a failed SuiteResult naming how it ended.
 */
export function runSuiteInChild(name: string, file: string, options: SuiteRunOptions): Promise<SuiteResult> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    let result: SuiteResult | undefined;
    const child = fork(import.meta.filename, [], {
      execArgv: childExecArgv(),
      env: { ...process.env, [CHILD_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    child.on('message', (message) => {
      result = message as SuiteResult;
    });
    const finish = (how: string) => {
      if (result !== undefined) return resolvePromise(result);
      const ctx = new BenchContext({ suite: name, quick: options.quick, looseness: options.looseness, timeMs: 0, warmupMs: 0, ownProcess: true });
      resolvePromise(failedSuite(ctx.result(), new Error(`suite process ${how} without a result`), started));
    };
    child.on('error', (error) => finish(`failed to start (${error.message})`));
    child.on('close', (code, signal) => finish(signal ? `was killed by ${signal}` : `exited with status ${code}`));
    const request: SuiteRequest = { name, file, options, ownProcess: true };
    child.send(request);
  });
}

// The child: one request, one answer, then exit (whatever handles the suite left open).
if (process.env[CHILD_ENV] === '1' && typeof process.send === 'function' && process.argv[1] === import.meta.filename) {
  delete process.env[CHILD_ENV];
  process.once('message', (message) => {
    const request = message as SuiteRequest;
    void runSuiteInProcess(request.name, request.file, request.options, request.ownProcess).then((result) => {
      process.send!(result, () => process.exit(0));
    });
  });
}
