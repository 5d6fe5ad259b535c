/**
 * The streaming core of `forkpool-map`: input lines in, output lines out, through a pool.
 *
 * Why not `pool.imap`: imap stops at the first error it meets, and some errors come from
 * the pool, not from the task — a line past its `--timeout` (`TaskTimeoutError`), a worker
 * that died (`WorkerExitedError`). With imap those end the run, and in completion order
 * nothing even says which line they belonged to. So each chunk of lines is one
 * `pool.apply` of `runLines` (lib/cli-task.ts, which turns a line's own failure into a
 * value); a chunk the pool fails is a failure of each of its lines; and the chunks in
 * flight form a window, as imap's do:
 *
 *   - the reader takes lines lazily and submits a chunk only while fewer than `window`
 *     chunks are unwritten, so at most `window × chunksize` lines are held;
 *   - the writer writes each chunk once it is settled — in order, the oldest first, or
 *     in completion order — and awaits stdout's 'drain', so a slow reader of the output
 *     slows the input down instead of filling memory.
 */
import pDefer from 'p-defer';
import { PoolNotRunningError, WorkerInitError } from './errors.js';
import type { Pool } from './pool.js';
import { toErrorJson, type ErrorJson, type LineOutcome } from './cli-task.js';

export type CliTasks = typeof import('./cli-task.js');

export interface MapLinesOptions {
  pool: Pool<CliTasks>;
  /** Raw input lines; blank ones are skipped. */
  lines: AsyncIterable<string>;
  chunksize: number;
  /** Most chunks submitted and not yet written. */
  window: number;
  /** Time limit per line, in ms. */
  timeout: number | undefined;
  unordered: boolean;
  stopOnError: boolean;
  /** Writes output text; resolves when more may be written. */
  write(text: string): Promise<void>;
  /** Told after each write how many lines it held and how many of them were errors. */
  onWritten?(lines: number, failed: number): void;
  /** Aborted: the run ends at once and writes nothing more (the pool is being terminated). */
  signal?: AbortSignal;
}

export interface MapLinesResult {
  /** Lines written. */
  written: number;
  /** Lines written as errors. */
  failed: number;
  /** With `stopOnError`: the first failing line, which was not written. */
  stoppedBy?: { index: number; error: ErrorJson };
}

/** A chunk submitted to the pool: its lines' outcomes, or the error the pool failed it with. */
interface Chunk {
  readonly first: number;
  readonly size: number;
  outcome: LineOutcome[] | Error | undefined;
}

/** A wake-up call for loops that wait on shared state: `while (!ready()) await changes.wait()`. */
class Changes {
  #next = pDefer<void>();

  wait(): Promise<void> {
    return this.#next.promise;
  }

  notify(): void {
    this.#next.resolve();
    this.#next = pDefer<void>();
  }
}

/** Maps every line; rejects only when the run cannot go on (the pool broke, the input failed). */
export async function mapLines(options: MapLinesOptions): Promise<MapLinesResult> {
  const { pool, chunksize, window, timeout, unordered, stopOnError, signal } = options;
  const unwritten: Chunk[] = [];
  const changes = new Changes();
  const result: MapLinesResult = { written: 0, failed: 0 };
  let inputDone = false;
  let stopped = false;
  const stop = () => {
    stopped = true;
    changes.notify();
  };
  signal?.addEventListener('abort', stop, { once: true });

  const submit = (lines: string[], first: number) => {
    const chunk: Chunk = { first, size: lines.length, outcome: undefined };
    unwritten.push(chunk);
    const callOptions = timeout === undefined ? {} : { timeout: timeout * lines.length };
    pool.apply('runLines', [lines], callOptions).then(
      (outcomes) => {
        chunk.outcome = outcomes;
        changes.notify();
      },
      (error: unknown) => {
        chunk.outcome = error instanceof Error ? error : new Error(String(error));
        changes.notify();
      },
    );
  };

  const read = async () => {
    let lines: string[] = [];
    let count = 0;
    for await (const line of options.lines) {
      if (stopped) {
        return;
      }
      if (line.trim() === '') {
        continue;
      }
      lines.push(line);
      if (lines.length === chunksize) {
        while (unwritten.length >= window && !stopped) {
          await changes.wait();
        }
        if (stopped) {
          return;
        }
        submit(lines, count);
        count += lines.length;
        lines = [];
      }
    }
    if (lines.length > 0 && !stopped) {
      // The window may be full: one chunk more is harmless, and the input has ended.
      submit(lines, count);
    }
    inputDone = true;
    changes.notify();
  };

  /** Settled chunks that may be written now: in order, the settled oldest ones; else all settled. */
  const takeReady = (): Chunk[] => {
    const ready: Chunk[] = [];
    for (let i = 0; i < unwritten.length;) {
      if (unwritten[i]!.outcome !== undefined) {
        ready.push(...unwritten.splice(i, 1));
      } else if (unordered) {
        i++;
      } else {
        break;
      }
    }
    return ready;
  };

  const writeAll = async () => {
    for (;;) {
      let ready = takeReady();
      while (ready.length === 0 && !stopped && !(inputDone && unwritten.length === 0)) {
        await changes.wait();
        ready = takeReady();
      }
      if (stopped || ready.length === 0) {
        return;
      }
      changes.notify(); // room in the window for the reader
      let text = '';
      let lines = 0;
      let failed = 0;
      for (const chunk of ready) {
        const outcomes = outcomesOf(chunk);
        for (let i = 0; i < outcomes.length; i++) {
          const outcome = outcomes[i]!;
          if (!outcome.ok && stopOnError) {
            result.stoppedBy = { index: chunk.first + i, error: outcome.error };
            stop();
            break;
          }
          text += formatLine(chunk.first + i, outcome, unordered);
          lines++;
          failed += outcome.ok ? 0 : 1;
        }
        if (stopped) {
          break;
        }
      }
      if (text !== '') {
        await options.write(text);
      }
      result.written += lines;
      result.failed += failed;
      options.onWritten?.(lines, failed);
    }
  };

  // The run ends with the writer. The reader may then still wait for a line (on a
  // terminal, or from a slow producer) after a stop: it is left behind, not awaited.
  let readFailure: { error: unknown } | undefined;
  read().catch((error: unknown) => {
    readFailure = { error };
    stop();
  });
  try {
    await writeAll();
  } finally {
    stop();
    signal?.removeEventListener('abort', stop);
  }
  if (readFailure !== undefined) {
    throw readFailure.error;
  }
  return result;
}

/** Each line's outcome; a chunk the pool failed (timeout, crashed worker) fails each of its lines. */
function outcomesOf(chunk: Chunk): LineOutcome[] {
  const { outcome } = chunk;
  if (outcome === undefined) {
    throw new Error('outcomesOf() called on a chunk still in flight');
  }
  if (!(outcome instanceof Error)) {
    return outcome;
  }
  if (outcome instanceof WorkerInitError || outcome instanceof PoolNotRunningError) {
    throw outcome; // the pool broke: no line can run any more
  }
  const failure: LineOutcome = { ok: false, error: toErrorJson(outcome) };
  return Array.from({ length: chunk.size }, () => failure);
}

/** One output line: in order, the value or `{"error": …}`; unordered, tagged with the index. */
function formatLine(index: number, outcome: LineOutcome, unordered: boolean): string {
  const body = outcome.ok ? outcome.json : `{"error":${JSON.stringify(outcome.error)}}`;
  if (!unordered) {
    return `${body}\n`;
  }
  return outcome.ok
    ? `{"index":${index},"value":${body}}\n`
    : `{"index":${index},"error":${JSON.stringify(outcome.error)}}\n`;
}
