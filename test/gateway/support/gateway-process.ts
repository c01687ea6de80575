/**
 * The gateway and its CLI as real processes (`tsx gateway/src/main.ts`, `tsx gateway/src/cli.ts`),
 * for the lifecycle, configuration and CLI tests: a working directory of the test's own (the
 * defaults ./var/gateway.db and ./var/secrets land there) and an environment without the
 * caller's GATEWAY_* settings.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
export const MAIN = join(ROOT, 'gateway', 'src', 'main.ts');
export const CLI = join(ROOT, 'gateway', 'src', 'cli.ts');

/** process.env without any gateway setting, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('GATEWAY_') || name.startsWith('DEVICE_') || ['PORT', 'HOST', 'LOG_LEVEL', 'SUBWAY_NETWORK_CSV'].includes(name)) delete env[name];
  }
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the gateway CLI to its end. */
export function runGatewayCli(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runToEnd(CLI, args, cwd, env);
}

/** Runs `main.ts` to its end (a start that is expected to fail). */
export function runGatewayToEnd(cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runToEnd(MAIN, [], cwd, env);
}

function runToEnd(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runProgram(TSX, [script, ...args], cwd, env);
}

/** Runs `command` with `args` to its end, collecting what it writes. */
export function runProgram(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** Everything the process wrote (stdout and stderr). */
  output(): string;
  /** Resolves once the output matches `pattern` (rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string | null>;
}

/** Starts the gateway and resolves once the main API listens. */
export async function startGateway(cwd: string, env: NodeJS.ProcessEnv): Promise<GatewayProcess> {
  const child = spawn(TSX, [MAIN], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const check of [...waiters]) check();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const waitFor = (pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${pattern} in the gateway output within ${timeoutMs} ms:\n${text}`));
      }, timeoutMs);
      const check = (): void => {
        const match = pattern.exec(text);
        if (match) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(match);
        }
      };
      waiters.add(check);
      check();
    });
  const started = waitFor(/Server listening at (http:\/\/127\.0\.0\.1:(\d+))/);
  const match = await Promise.race([
    started,
    exited.then((code) => {
      throw new Error(`gateway exited (${code}) before listening:\n${text}`);
    }),
  ]);
  return { child, url: match[1], port: Number(match[2]), output: () => text, waitFor, exited };
}
