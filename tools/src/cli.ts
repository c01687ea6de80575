/**
 * The one way every command line of the project reads its arguments and reports its errors
 * (gateway, validator, demo, bench). Built on `node:util` parseArgs in strict mode, so an
 * unknown flag, a missing value or a stray positional is refused by Node's own parser, not by
 * hand-written loops that each behave differently.
 *
 * Exit codes, the same for every CLI: 0 the job succeeded, 1 the job failed (including a
 * missing or unreadable file: one line naming the path), 2 usage (a one-line message, then the
 * usage text on stderr). `-h`/`--help` on any command prints that command's usage on stdout,
 * exit 0.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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

/**
 * Node's parser messages, told in one line as a person would read them (no stack, no error code,
 * no multi-line advice): "unknown option '--x'", "option '--db' needs a value", "option '--json'
 * takes no value".
 */
export function usageMessageOf(error: Error): string {
  const message = error.message.replace(/^TypeError \[[A-Z_]+\]: /, '');
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option '${unknown[1]}'`;
  const missing = /^Option '(-[^' ]+)(?: <value>)?' argument missing/.exec(message);
  if (missing) return `option '${normaliseFlag(missing[1])}' needs a value`;
  const ambiguous = /^Option '(-[^' ]+)' argument is ambiguous/.exec(message);
  if (ambiguous) {
    const flag = normaliseFlag(ambiguous[1]);
    return `option '${flag}' needs a value (a value starting with '-' is written ${flag}=-VALUE)`;
  }
  const noValue = /^Option '(-[^' ]+)' does not take an argument/.exec(message);
  if (noValue) return `option '${normaliseFlag(noValue[1])}' takes no value`;
  return message.replace(/\. To specify a positional argument starting with a '-'.*$/s, '').replace(/\s*\n\s*/g, ' ');
}

/** "-d, --db" (Node's wording for an option with a short alias) -> "--db". */
function normaliseFlag(flag: string): string {
  const long = /--[^ ,]+/.exec(flag);
  return long ? long[0] : flag;
}

/**
 * Parses `argv` strictly against `options` (every CLI also accepts `-h/--help`). Unknown flags,
 * a flag missing its value and a value given to a boolean are UsageErrors; so are more
 * positionals than `maxPositionals` (`Infinity` for free lists such as name filters). The last
 * of a repeated flag wins (unless declared `multiple`).
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
    if (parsed.positionals.length > maxPositionals) throw new UsageError(`unexpected argument '${parsed.positionals[maxPositionals]}'`);
    return parsed as never;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('ERR_PARSE_ARGS')) throw new UsageError(usageMessageOf(error as Error));
    throw error;
  }
}

/** A string option the command cannot do without: absent or empty is a UsageError. */
export function requiredOption(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
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

/**
 * Reads a text file the command needs; a missing or unreadable one is a FileError naming the
 * path ("<path>: no such <what>", then the hint in parentheses when given).
 */
export function readTextFile(path: string, what = 'file', hint?: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw fileErrorOf(path, error, what, hint);
  }
}

/** Throws the FileError of `readTextFile` when `path` cannot be read, without reading it. */
export function assertReadableFile(path: string, what = 'file', hint?: string): void {
  try {
    if (statSync(path).isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw fileErrorOf(path, error, what, hint);
  }
}

/**
 * Makes sure an output file can be written before the work that produces it starts: creates its
 * folder (recursive) and checks it is writable; else a FileError naming the path.
 */
export function prepareOutputFile(path: string, what = 'output file'): void {
  const folder = dirname(path);
  try {
    mkdirSync(folder, { recursive: true });
    accessSync(folder, constants.W_OK);
    if (existsSync(path) && statSync(path).isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason =
      code === 'EISDIR'
        ? `is a folder, not a ${what}`
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? `cannot write ${what} (a part of ${folder} is a file, not a folder)`
          : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
            ? `cannot write ${what} in ${folder} (permission denied)`
            : `cannot write ${what} (${code ?? (error as Error).message})`;
    throw new FileError(path, reason);
  }
}

/** The one-line reason of a file-system error (ENOENT, EACCES, EISDIR, ENOTDIR), naming the path. */
export function fileErrorOf(path: string, error: unknown, what = 'file', hint?: string): FileError {
  const code = (error as { code?: string }).code;
  const reason =
    code === 'ENOENT'
      ? `no such ${what}`
      : code === 'EACCES' || code === 'EPERM'
        ? `${what} not readable (permission denied)`
        : code === 'EISDIR'
          ? `is a folder, not a ${what}`
          : code === 'ENOTDIR'
            ? `no such ${what} (a part of the path is a file, not a folder)`
            : `cannot read ${what} (${code ?? (error as Error).message})`;
  return new FileError(path, hint ? `${reason} (${hint})` : reason);
}

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** CliIo over two writable streams (a command whose caller hands it streams, e.g. in tests). */
export function streamIo(streams: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): CliIo {
  return {
    out: (line) => streams.stdout.write(`${line}\n`),
    err: (line) => streams.stderr.write(`${line}\n`),
  };
}

/** The first line of a message (an error from a library may span lines; the CLIs print one). */
function oneLine(message: string): string {
  return message.split('\n').find((line) => line.trim() !== '') ?? message;
}

/**
 * Runs a command's body and turns its errors into the project's exit codes: UsageError ->
 * "<name>: message" and the usage on stderr, exit 2; FileError and any other error -> one line
 * "<name>: message", exit 1 (never a stack trace, unless CLI_DEBUG=1 asks for one; messages name
 * files and settings, never secrets). A UsageError names the flag; the usage is the one of the
 * command that was run (pass a subcommand's own usage for a subcommand).
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
    if (path && (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'EPERM' || code === 'ENOTDIR')) {
      io.err(`${name}: ${fileErrorOf(path, error).message}`);
      return EXIT_FAILED;
    }
    io.err(`${name}: ${oneLine(error instanceof Error ? error.message : String(error))}`);
    if (process.env.CLI_DEBUG === '1' && error instanceof Error && error.stack) io.err(error.stack);
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
