#!/usr/bin/env node
/**
 * `forkpool-map <module> <export> [file]`: maps an export of a module over lines of JSON
 * in a pool of worker processes. See `forkpool-map --help` and docs/cli.md.
 *
 * This file is the process around the run: the command line, the checks made before any
 * worker starts (exit 2), the pool's lifecycle, signals and the exit status. The run
 * itself is lib/cli-map.ts; what the workers execute is lib/cli-task.ts.
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pDefer from 'p-defer';
import { UsageError, parseCommandLine, usage, type CliOptions } from './cli-args.js';
import { mapLines, type CliTasks } from './cli-map.js';
import { Progress } from './cli-progress.js';
import { redirectStdoutToStderr } from './cli-task.js';
import { Pool } from './pool.js';

const program = 'forkpool-map';

/** Exit statuses, as documented in `--help`. */
const exitCodes = { ok: 0, failed: 1, usage: 2, sigint: 130, sigpipe: 141, sigterm: 143 } as const;

/**
 * Results go to the real stdout through this; everything else that writes to stdout in
 * this process (the user's module, imported here to check its exports) goes to stderr.
 */
const writeStdout = process.stdout.write.bind(process.stdout);
redirectStdoutToStderr();

/** Settles with the exit status once a signal (or a closed stdout) has stopped the run and its workers. */
const interrupted = pDefer<number>();

/** Stops the run for a signal or a closed stdout; before the pool exists, there is nothing to stop. */
let stopRun = (code: number): void => interrupted.resolve(code);

process.on('SIGINT', () => stopRun(exitCodes.sigint));
process.on('SIGTERM', () => stopRun(exitCodes.sigterm));
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') {
    report(`cannot write to stdout: ${error.message}`);
  }
  stopRun(error.code === 'EPIPE' ? exitCodes.sigpipe : exitCodes.failed);
});

function report(message: string): void {
  process.stderr.write(`${program}: ${message}\n`);
}

/** Writes output text; resolves once stdout can take more (its 'drain' after a full buffer). */
async function writeOutput(text: string): Promise<void> {
  if (!writeStdout(text)) {
    await once(process.stdout, 'drain');
  }
}

function packageVersion(): string {
  // dist/lib/cli.js → the package root.
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/** The user's module as a `file:` URL; exit 2 when it does not exist. */
function moduleUrlOf(module: string): string {
  let url: URL;
  try {
    url = /^file:/i.test(module) ? new URL(module) : pathToFileURL(isAbsolute(module) ? module : resolve(module));
  } catch (error) {
    throw new UsageError(
      `Expected <module> to be a path or a file: URL, got ${JSON.stringify(module)}: ${(error as Error).message}`,
    );
  }
  if (!existsSync(fileURLToPath(url))) {
    throw new UsageError(
      `Cannot find the module ${fileURLToPath(url)} (a relative path is resolved against the current directory)`,
    );
  }
  return url.href;
}

/**
 * Imports the module here, as the workers will, to check the export before any worker
 * starts: a wrong name is a usage error that lists the functions there are.
 */
async function checkExport(moduleUrl: string, exportName: string): Promise<void> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(moduleUrl)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(
      `Cannot import the module ${fileURLToPath(moduleUrl)}: ${(error as Error)?.message ?? String(error)}`,
    );
  }
  const value = Object.hasOwn(namespace, exportName) ? namespace[exportName] : undefined;
  if (typeof value !== 'function') {
    const names = Object.keys(namespace).filter((key) => typeof namespace[key] === 'function');
    throw new UsageError(
      `The module ${fileURLToPath(moduleUrl)} has no exported function \`${exportName}\`` +
        (value === undefined ? '' : ` (it is a ${typeof value})`) +
        `. Its exported functions: ${names.length > 0 ? names.join(', ') : '(none)'}`,
    );
  }
}

async function openInput(file: string | undefined): Promise<Readable> {
  if (file === undefined) {
    return process.stdin;
  }
  let handle;
  try {
    handle = await open(file);
  } catch (error) {
    throw new UsageError(`Cannot read the input file ${resolve(file)}: ${(error as Error).message}`);
  }
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    throw new UsageError(`Cannot read the input file ${resolve(file)}: it is a directory`);
  }
  return handle.createReadStream();
}

async function runMap(options: CliOptions): Promise<number> {
  const moduleUrl = moduleUrlOf(options.module);
  const input = await openInput(options.file);
  await checkExport(moduleUrl, options.exportName);

  const pool = new Pool<CliTasks>({
    module: new URL('./cli-task.js', import.meta.url),
    initializer: 'load',
    initargs: [moduleUrl, options.exportName, options.spread],
    ...(options.processes === undefined ? {} : { processes: options.processes }),
    ...(options.maxTasksPerChild === undefined ? {} : { maxTasksPerChild: options.maxTasksPerChild }),
  });
  const progress = process.stderr.isTTY ? new Progress(process.stderr) : undefined;
  const stopping = new AbortController();

  // Ctrl-C, kill, or a reader of stdout that went away: stop writing, stop the workers, go.
  stopRun = (code) => {
    if (stopping.signal.aborted) {
      process.exit(code); // a second signal does not wait for the workers
    }
    stopping.abort();
    progress?.stop();
    void pool.terminate().finally(() => interrupted.resolve(code));
  };

  let result;
  try {
    result = await mapLines({
      pool,
      lines: createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }),
      chunksize: options.chunksize,
      window: pool.processes * 4,
      timeout: options.timeout,
      unordered: options.unordered,
      stopOnError: options.stopOnError,
      write: writeOutput,
      onWritten: (lines, failed) => progress?.add(lines, failed),
      signal: stopping.signal,
    });
  } catch (error) {
    if (stopping.signal.aborted) {
      return interrupted.promise; // a write failed because stdout is gone: stopRun() ends the run
    }
    progress?.stop();
    report((error as Error)?.message ?? String(error));
    await pool.terminate();
    return exitCodes.failed;
  }
  if (stopping.signal.aborted) {
    return interrupted.promise; // stopRun() ends the run
  }
  if (result.stoppedBy !== undefined) {
    const { index, error } = result.stoppedBy;
    progress?.stop();
    report(
      `item ${index} failed (--stop-on-error): ${error.name}: ${error.message}${error.code === undefined ? '' : ` [${error.code}]`}`,
    );
    await pool.terminate();
    return exitCodes.failed;
  }
  progress?.finish();
  pool.close();
  await pool.join();
  return result.failed > 0 ? exitCodes.failed : exitCodes.ok;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const command = parseCommandLine(argv);
    switch (command.kind) {
      case 'help':
        await writeOutput(`${usage}\n`);
        return exitCodes.ok;
      case 'version':
        await writeOutput(`${packageVersion()}\n`);
        return exitCodes.ok;
      case 'map':
        return await runMap(command.options);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      report(`${error.message}\nTry '${program} --help' for usage.`);
      return exitCodes.usage;
    }
    throw error;
  }
}

const code = await Promise.race([
  main(process.argv.slice(2)).catch((error: unknown) => {
    report(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return exitCodes.failed;
  }),
  interrupted.promise,
]);
// Exit rather than wait for the event loop: the input may still be open (after
// --stop-on-error), and the user's module, imported here, may have left timers behind.
// What is still buffered for stdout is written first, unless stdout is gone.
if (process.stdout.writable) {
  writeStdout('', () => process.exit(code));
} else {
  process.exit(code);
}
