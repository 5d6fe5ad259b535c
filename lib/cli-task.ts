/**
 * The task module of `forkpool-map`: it runs in the pool's workers, not in the CLI.
 *
 * Each worker imports the user's module once (`load`, the pool's initializer) and then
 * runs chunks of raw input lines (`runLines`). An item's failure — invalid JSON, a
 * throwing function, a result JSON cannot hold — is caught here and returned as a value,
 * so one bad line never fails the rest of its chunk. JSON is parsed and written here too:
 * that work is spread over the workers, and only strings cross the process boundary.
 */

/** An item's error as the CLI prints it. */
export interface ErrorJson {
  name: string;
  message: string;
  code?: string | number;
}

/** What became of one line: its result as JSON text, or its error. */
export type LineOutcome = { ok: true; json: string } | { ok: false; error: ErrorJson };

type Target = (...args: unknown[]) => unknown;

let target: Target | undefined;
let spreadArrays = false;

/**
 * The pool's initializer: imports the user's module and keeps the export to call. Its
 * stdout goes to stderr from here on, so that nothing the user's code prints can mix
 * with the results the CLI writes to stdout (workers share the CLI's stdout).
 */
export async function load(moduleUrl: string, exportName: string, spread: boolean): Promise<void> {
  redirectStdoutToStderr();
  const namespace = (await import(moduleUrl)) as Record<string, unknown>;
  const value = Object.hasOwn(namespace, exportName) ? namespace[exportName] : undefined;
  if (typeof value !== 'function') {
    throw new TypeError(`The module ${moduleUrl} has no exported function \`${exportName}\``);
  }
  target = value as Target;
  spreadArrays = spread;
}

/** Runs the export on each line's JSON value, one after the other, as a pool chunk would. */
export async function runLines(lines: string[]): Promise<LineOutcome[]> {
  if (target === undefined) {
    throw new Error('runLines() ran before load(): forkpool-map runs it as the pool initializer');
  }
  const outcomes: LineOutcome[] = [];
  for (const line of lines) {
    outcomes.push(await runLine(target, line));
  }
  return outcomes;
}

async function runLine(fn: Target, line: string): Promise<LineOutcome> {
  try {
    const value: unknown = JSON.parse(line);
    const args = spreadArrays && Array.isArray(value) ? value : [value];
    const result = await fn(...args);
    // `undefined` (and a function or symbol) has no JSON text: the line says null.
    return { ok: true, json: JSON.stringify(result) ?? 'null' };
  } catch (error) {
    return { ok: false, error: toErrorJson(error) };
  }
}

/** `{ name, message, code? }` of anything thrown, Error or not. */
export function toErrorJson(error: unknown): ErrorJson {
  if (typeof error !== 'object' || error === null) {
    return { name: 'Error', message: String(error) };
  }
  const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
  return {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : String(error),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
  };
}

/**
 * Sends what is written to stdout (`console.log`, `process.stdout.write`) to stderr. The
 * process's fd 1 is the CLI's output; this is the only way in to it from JavaScript.
 */
export function redirectStdoutToStderr(): void {
  const toStderr = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  process.stdout.write = toStderr;
}
