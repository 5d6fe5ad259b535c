/**
 * The command line of `forkpool-map`: its options, their validation, and `--help`.
 */
import { parseArgs } from 'node:util';

/** A bad command line: the CLI prints the message and a pointer to `--help`, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What the command line asks for. */
export interface CliOptions {
  /** The module path or `file:` URL, as given. */
  module: string;
  exportName: string;
  /** The input file, or `undefined` (also for `-`) for stdin. */
  file: string | undefined;
  processes: number | undefined;
  chunksize: number;
  maxTasksPerChild: number | undefined;
  timeout: number | undefined;
  spread: boolean;
  unordered: boolean;
  stopOnError: boolean;
}

export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'map'; options: CliOptions };

export const usage = `Usage: forkpool-map [options] <module> <export> [file]

Calls <export> of <module> on every line of JSON read from [file] (or stdin when it
is absent or "-"), in a pool of worker processes, and writes one line of JSON per
result to stdout, in input order.

Arguments:
  <module>                  path (relative to the current directory) or file: URL of
                            an ES or CommonJS module
  <export>                  name of an exported function of <module> ("default" too)
  [file]                    input: one JSON value per line; blank lines are skipped

Options:
  --processes N             worker processes (default: the number of usable CPUs)
  --chunksize N             lines sent to a worker at a time (default: 1); raise it
                            when each call is cheap
  --max-tasks-per-child N   a worker is replaced after N chunks (default: never)
  --timeout MS              time limit per line in milliseconds; a line past it fails
                            with TaskTimeoutError and its worker is replaced (default:
                            no limit; a chunk of n lines gets n times MS)
  --spread                  a line holding an array is spread as the arguments:
                            [1, 2] calls fn(1, 2) (default: off, fn([1, 2]))
  --unordered               write results as they complete, each as
                            {"index": i, "value": v} or {"index": i, "error": {...}},
                            i counting input lines from 0, blank lines not counted
                            (default: off, input order)
  --stop-on-error           stop at the first line that fails: write the results
                            before it, report the error on stderr and exit 1
                            (default: off, a failing line is written as
                            {"error": {"name", "message", "code"}} and the rest go on)
  -h, --help                show this help and exit
  --version                 print the version and exit

Exit status: 0 every line succeeded; 1 a line failed (or the workers could not
start); 2 usage error (bad option, missing module or export); 130 SIGINT; 143 SIGTERM;
141 stdout closed by its reader.

Examples:
  forkpool-map ./tasks.js square numbers.jsonl > squares.jsonl
  printf '[1, 2]\\n[3, 4]\\n' | forkpool-map --spread ./tasks.js add
  forkpool-map --unordered --processes 8 --chunksize 50 ./tasks.js resize < jobs.jsonl
  forkpool-map --timeout 5000 --stop-on-error ./fetch.js fetchPage urls.jsonl`;

const flags = {
  processes: { type: 'string' },
  chunksize: { type: 'string' },
  'max-tasks-per-child': { type: 'string' },
  timeout: { type: 'string' },
  spread: { type: 'boolean' },
  unordered: { type: 'boolean' },
  'stop-on-error': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Reads the command line (without `node` and the script). Throws `UsageError`. */
export function parseCommandLine(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: flags, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    return { kind: 'help' };
  }
  if (values.version) {
    return { kind: 'version' };
  }
  if (positionals.length < 2) {
    throw new UsageError(
      `Expected <module> and <export>, got ${positionals.length === 0 ? 'neither' : `only ${JSON.stringify(positionals[0])}`}`,
    );
  }
  if (positionals.length > 3) {
    throw new UsageError(
      `Expected at most 3 arguments (<module> <export> [file]), got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const [module, exportName, file] = positionals as [string, string, string | undefined];
  return {
    kind: 'map',
    options: {
      module,
      exportName,
      file: file === '-' ? undefined : file,
      processes: positiveInteger('--processes', values.processes),
      chunksize: positiveInteger('--chunksize', values.chunksize) ?? 1,
      maxTasksPerChild: positiveInteger('--max-tasks-per-child', values['max-tasks-per-child']),
      timeout: positiveInteger('--timeout', values.timeout),
      spread: values.spread ?? false,
      unordered: values.unordered ?? false,
      stopOnError: values['stop-on-error'] ?? false,
    },
  };
}

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) {
    return undefined;
  }
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`Expected ${flag} to be an integer >= 1, got ${JSON.stringify(text)}`);
  }
  return value;
}
