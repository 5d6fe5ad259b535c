/**
 * Pool options: their types, documented defaults, and validation whose messages say what
 * was expected and what came.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuCount } from './current-process.js';

/** Options of `new Pool(options)`. Every one is optional. */
export interface PoolOptions<Fn = string | ((...args: never[]) => unknown)> {
  /**
   * Number of worker processes. Python's `processes`.
   * @default cpuCount()
   */
  processes?: number;
  /**
   * Path (relative to the current directory) or `file:` URL of the task module every
   * worker imports; tasks named by export name are looked up there. Use
   * `new URL('./tasks.js', import.meta.url)` or `import.meta.url` (the main script itself).
   * @default undefined (no task module: tasks must be functions, sent by source)
   */
  module?: string | URL;
  /**
   * Runs once in each worker before its first task: an export name, an export of the
   * task module, or a self-contained function. Python's `initializer`.
   * @default undefined
   */
  initializer?: Fn;
  /**
   * Arguments for `initializer`. Python's `initargs`.
   * @default []
   */
  initargs?: readonly unknown[];
  /**
   * A worker exits after this many tasks (a `map` chunk counts as one task, as in Python)
   * and a new one, with the next `PoolWorker-N` name, takes its place.
   * @default undefined (workers live as long as the pool)
   */
  maxTasksPerChild?: number;
  /**
   * Node.js flags for the workers, e.g. `['--max-old-space-size=512']`.
   * @default process.execArgv, less the flags that name the parent's program
   * (`--eval`, `--print`, `--input-type`, `--check`, `--interactive`, `--test`, `--watch`)
   */
  execArgv?: readonly string[];
  /**
   * Environment of the workers.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Working directory of the workers.
   * @default process.cwd()
   */
  cwd?: string;
  /**
   * How long `terminate()` (or a task's timeout, or an abort) waits after `SIGTERM`
   * before it sends `SIGKILL` to a worker that has not exited, in milliseconds.
   * @default 1000
   */
  killTimeout?: number;
  /**
   * Default time limit of every task, in milliseconds: a task still running after it is
   * rejected with `TaskTimeoutError` and its worker is stopped and replaced. A `map`
   * chunk of n items gets n times this. Each call may set its own (`{ timeout }`).
   * Costs one timer per task.
   * @default undefined (no limit)
   */
  timeout?: number;
  /**
   * Most tasks that may wait for a worker (a `map` chunk counts as one). A call that
   * would queue more is rejected at once with `QueueFullError`; `imap` waits for room
   * instead. `pool.waitForRoom()` tells a producer when it may submit again.
   * @default Infinity (as Python: the queue grows without bound)
   */
  maxQueue?: number;
  /**
   * A worker whose resident set size (RSS, measured in the worker after each task) is
   * over this many bytes is replaced once its task is done, as `maxTasksPerChild`
   * replaces a worker after a count. For a hard heap limit per worker, pass
   * `execArgv: ['--max-old-space-size=MB']` as well.
   * @default undefined (no limit)
   */
  maxMemoryPerChild?: number;
}

/** Options after validation, with defaults filled in. */
export interface ResolvedOptions<Fn> {
  processes: number;
  moduleUrl: string | null;
  initializer: Fn | undefined;
  initargs: unknown[];
  maxTasksPerChild: number | null;
  execArgv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  killTimeout: number;
  timeout: number | undefined;
  maxQueue: number;
  maxMemoryPerChild: number | null;
}

/** `` `0` (number) `` — how a bad value is shown in a validation message. */
export function describeValue(value: unknown): string {
  let shown: string;
  try {
    shown =
      typeof value === 'function'
        ? `function ${value.name || '(anonymous)'}`
        : typeof value === 'number' || typeof value === 'bigint' || typeof value === 'symbol'
          ? String(value)
          : String(JSON.stringify(value) ?? value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  return `\`${shown}\` (${value === null ? 'null' : typeof value})`;
}

/** Throws `TypeError` for a non-integer and `RangeError` below `min`. */
export function validateInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`Expected \`${name}\` to be an integer >= ${min}, got ${describeValue(value)}`);
  }
  if (value < min) {
    throw new RangeError(`Expected \`${name}\` to be an integer >= ${min}, got ${describeValue(value)}`);
  }
  return value;
}

function resolveModuleUrl(module: unknown): string | null {
  if (module === undefined) {
    return null;
  }
  let url: URL;
  if (module instanceof URL) {
    url = module;
  } else if (typeof module === 'string' && /^[a-z][a-z\d+.-]+:/i.test(module)) {
    url = new URL(module); // a URL (a one-letter scheme would be a Windows drive)
  } else if (typeof module === 'string' && module !== '') {
    url = pathToFileURL(isAbsolute(module) ? module : resolve(module));
  } else {
    throw new TypeError(`Expected \`module\` to be a file path or a file: URL, got ${describeValue(module)}`);
  }
  if (url.protocol !== 'file:') {
    throw new TypeError(`Expected \`module\` to be a file path or a file: URL, got ${describeValue(String(url))}`);
  }
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(
      `Cannot find the task module ${fileURLToPath(url)} (\`module\` option). ` +
        'A relative path is resolved against the current directory; new URL("./tasks.js", import.meta.url) is relative to your file.',
    );
  }
  return url.href;
}

/** A task's time limit in ms: a positive integer, or `undefined` for none. */
export function validateTaskTimeout(timeout: unknown): number | undefined {
  return timeout === undefined || timeout === Number.POSITIVE_INFINITY
    ? undefined
    : validateInteger('timeout', timeout, 1);
}

const loaderFlag =
  /^(--import|--require|-r|--loader|--experimental-loader|--experimental-strip-types|--experimental-transform-types)(=|$)/;

/**
 * Node.js 20 cannot import a `.ts` file by itself: without a loader (tsx …) every worker
 * would fail to start with ERR_UNKNOWN_FILE_EXTENSION. Say what to do, at once.
 */
function assertTypeScriptLoader(moduleUrl: string | null, execArgv: readonly string[], env: NodeJS.ProcessEnv): void {
  if (moduleUrl === null || !/\.[mc]?ts$/.test(new URL(moduleUrl).pathname)) {
    return;
  }
  const flags = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (flags.some((flag) => loaderFlag.test(flag)) || (process.features as { typescript?: unknown }).typescript) {
    return;
  }
  throw new TypeError(
    `The task module ${fileURLToPath(moduleUrl)} is TypeScript, and the workers have no TypeScript loader ` +
      '(Node.js cannot import .ts files by itself). Run your app with tsx (`tsx main.ts` or `node --import tsx main.ts`: ' +
      "workers inherit the loader), pass `execArgv: ['--import', 'tsx']`, or point `module` at the compiled .js file.",
  );
}

function validateStringArray(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new TypeError(`Expected \`${name}\` to be an array of strings, got ${describeValue(value)}`);
  }
  return [...value];
}

/**
 * Flags that say what the parent runs rather than how Node.js runs: passed on, they would
 * make each worker run the parent's `--eval` code (which creates a pool, which forks …)
 * or a test runner instead of the worker entry.
 */
const programFlags = new Set([
  '-e',
  '--eval',
  '-p',
  '--print',
  '--input-type',
  '-c',
  '--check',
  '-i',
  '--interactive',
  '--test',
  '--watch',
  '--watch-path',
  '--test-only',
]);
const programFlagsWithValue = new Set(['-e', '--eval', '-p', '--print', '--input-type', '--watch-path']);

/** The parent's `execArgv` without the flags that name the parent's own program. */
export function inheritableExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const flag = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    if (programFlags.has(flag) || flag.startsWith('--test-') || flag.startsWith('--watch')) {
      if (programFlagsWithValue.has(flag) && !arg.includes('=')) {
        i++; // its value is the next argument
      }
      continue;
    }
    kept.push(arg);
  }
  return kept;
}

const knownOptions = new Set([
  'processes',
  'module',
  'initializer',
  'initargs',
  'maxTasksPerChild',
  'execArgv',
  'env',
  'cwd',
  'killTimeout',
  'timeout',
  'maxQueue',
  'maxMemoryPerChild',
]);

/** Validates `new Pool(options)` and fills in the defaults. */
export function resolveOptions<Fn>(options: PoolOptions<Fn> | undefined): ResolvedOptions<Fn> {
  if (options === undefined || options === null) {
    options = {};
  } else if (typeof options !== 'object') {
    throw new TypeError(`Expected Pool options to be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) {
      throw new TypeError(`Unknown Pool option \`${key}\`. Known options: ${[...knownOptions].join(', ')}`);
    }
  }
  const { initializer, initargs = [], env = process.env, cwd = process.cwd() } = options;
  if (initializer !== undefined && typeof initializer !== 'string' && typeof initializer !== 'function') {
    throw new TypeError(
      `Expected \`initializer\` to be an export name or a function, got ${describeValue(initializer)}`,
    );
  }
  if (!Array.isArray(initargs)) {
    throw new TypeError(`Expected \`initargs\` to be an array, got ${describeValue(initargs)}`);
  }
  if (typeof env !== 'object' || env === null) {
    throw new TypeError(`Expected \`env\` to be an object, got ${describeValue(env)}`);
  }
  if (typeof cwd !== 'string') {
    throw new TypeError(`Expected \`cwd\` to be a string, got ${describeValue(cwd)}`);
  }
  if (!statSync(cwd, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(
      `The workers' working directory ${resolve(cwd)} (\`cwd\` option) does not exist or is not a directory`,
    );
  }
  const moduleUrl = resolveModuleUrl(options.module);
  const execArgv =
    options.execArgv === undefined
      ? inheritableExecArgv(process.execArgv)
      : validateStringArray('execArgv', options.execArgv);
  assertTypeScriptLoader(moduleUrl, execArgv, env);
  return {
    processes: options.processes === undefined ? cpuCount() : validateInteger('processes', options.processes, 1),
    moduleUrl,
    initializer,
    initargs: [...initargs],
    maxTasksPerChild:
      options.maxTasksPerChild === undefined ? null : validateInteger('maxTasksPerChild', options.maxTasksPerChild, 1),
    execArgv,
    env,
    cwd,
    killTimeout: options.killTimeout === undefined ? 1000 : validateInteger('killTimeout', options.killTimeout, 0),
    timeout: validateTaskTimeout(options.timeout),
    maxQueue:
      options.maxQueue === undefined || options.maxQueue === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : validateInteger('maxQueue', options.maxQueue, 0),
    maxMemoryPerChild:
      options.maxMemoryPerChild === undefined
        ? null
        : validateInteger('maxMemoryPerChild', options.maxMemoryPerChild, 1),
  };
}
