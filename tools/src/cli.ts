/**
 * The one way every command line of the project reads its arguments and reports its errors
 * (gateway, validator, demo, bench). Built on `node:util` parseArgs in strict mode, so an
 * unknown flag, a missing value or a stray positional is refused by Node's own parser, not by
 * hand-written loops that each behave differently.
 *
 * Exit codes, the same for every CLI: 0 the job succeeded, 1 the job failed (including a
 * missing or unreadable file: one line naming the path), 2 usage (a one-line message, then the
 * usage text on stderr).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A bad command line: printed as one line plus the usage text, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A file the command needs cannot be read: printed as one line naming the path, exit 1. */
export class FileError extends Error {
  override readonly name = 'FileError';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommandLine<V> {
  values: V;
  positionals: string[];
}

/** The words Node's parser uses, told as a person would read them (no stack, no error code). */
function usageMessageOf(error: Error): string {
  return error.message.replace(/^TypeError \[[A-Z_]+\]: /, '').replace(/\. To specify a positional argument starting with a '-'.*$/s, '');
}

/**
 * Parses `argv` strictly against `options` (every CLI also accepts `-h/--help`). Unknown flags,
 * a flag missing its value and a value given to a boolean are UsageErrors; so are more
 * positionals than `maxPositionals`.
 */
export function parseCommandLine<const O extends OptionSpec>(
  argv: readonly string[],
  options: O,
  maxPositionals = 0,
): ParsedCommandLine<
  { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string } & { help?: boolean }
> {
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
      allowNegative: false,
    });
    if (parsed.positionals.length > maxPositionals) {
      throw new UsageError(
        maxPositionals === 0 ? `unexpected argument "${parsed.positionals[0]}"` : `unexpected argument "${parsed.positionals[maxPositionals]}"`,
      );
    }
    return parsed as never;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('ERR_PARSE_ARGS')) throw new UsageError(usageMessageOf(error as Error));
    throw error;
  }
}

/** An integer option within [min, max]; absent gives `fallback`. */
export function intOption(name: string, value: string | undefined, min: number, max: number, fallback: number): number;
export function intOption(name: string, value: string | undefined, min: number, max: number): number | undefined;
export function intOption(name: string, value: string | undefined, min: number, max: number, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  if (!/^-?[0-9]+$/.test(value)) throw new UsageError(`--${name} needs a whole number, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be ${min}..${max}, got ${value}`);
  return n;
}

/** Reads a text file the command needs; a missing or unreadable one is a FileError naming the path. */
export function readTextFile(path: string, what = 'file'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw fileErrorOf(path, error, what);
  }
}

/** The one-line reason of a file-system error (ENOENT, EACCES, EISDIR), naming the path. */
export function fileErrorOf(path: string, error: unknown, what = 'file'): FileError {
  const code = (error as { code?: string }).code;
  const reason =
    code === 'ENOENT'
      ? `no such ${what}`
      : code === 'EACCES' || code === 'EPERM'
        ? `${what} not readable (permission denied)`
        : code === 'EISDIR'
          ? `is a folder, not a ${what}`
          : `cannot read ${what} (${code ?? (error as Error).message})`;
  return new FileError(path, reason);
}

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Runs a command's body and turns its errors into the project's exit codes: UsageError ->
 * "<name>: message" and the usage on stderr, exit 2; FileError and any other error -> one line
 * "<name>: message", exit 1 (never a stack trace; messages name files and settings, never secrets).
 */
export async function runCli(name: string, usage: string, body: () => Promise<number> | number, io: CliIo = processIo): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${name}: ${error.message}`);
      io.err(usage.trimEnd());
      return EXIT_USAGE;
    }
    if (error instanceof FileError) {
      io.err(`${name}: ${error.message}`);
      return EXIT_FAILED;
    }
    const code = (error as { code?: string; path?: string }).code;
    const path = (error as { path?: string }).path;
    if (path && (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'EPERM')) {
      io.err(`${name}: ${fileErrorOf(path, error).message}`);
      return EXIT_FAILED;
    }
    io.err(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILED;
  }
}

/** True when this module file is the process's entry script (works for .ts under tsx and built .js). */
export function isEntryScript(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return new URL(moduleUrl).href === pathToFileURL(realPath(entry)).href;
  } catch {
    return false;
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(resolve(path));
  } catch {
    return resolve(path);
  }
}

/** Reads the whole of a text file given on the command line, or standard input for "-". */
export function readTextArgument(path: string): string {
  return path === '-' ? readFileSync(0, 'utf8') : readTextFile(path);
}
