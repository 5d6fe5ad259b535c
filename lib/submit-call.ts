/**
 * One call's tasks: `apply` is one chunk of one item, `map` many chunks. They are
 * submitted all or none, their outcomes gathered as Python's `MapResult` does, and an
 * `AbortSignal` cancels those not yet settled.
 */
import { onAbort } from './abort-listeners.js';
import { gatherChunks, toChunks } from './chunking.js';
import { AbortError } from './errors.js';
import type { PoolManager } from './pool-manager.js';
import { newTask, type Task } from './pool-worker.js';
import type { ProgressReporter } from './progress.js';
import type { FnRecord } from './task-functions.js';

export type Settle = (values: unknown[], error?: Error) => void;

/** Per-call limits, validated. */
export interface CallLimits {
  /** Milliseconds per item; a chunk of n items gets n times this. */
  timeout: number | undefined;
  signal: AbortSignal | undefined;
  progress?: ProgressReporter | undefined;
}

/**
 * Submits the tasks of one call of `fn`, one per call in `calls`: each an argument list,
 * or with `single` (`map`), the one argument itself.
 */
export function submitCall(
  manager: PoolManager,
  fn: FnRecord,
  calls: readonly unknown[],
  single: boolean,
  chunksize: number,
  limits: CallLimits,
  done: Settle,
): void {
  const { signal, progress } = limits;
  if (progress !== undefined) {
    progress.total = calls.length;
    const finish = done;
    done = (values, error) => {
      progress.finish();
      finish(values, error);
    };
  }
  if (signal?.aborted) {
    done([], new AbortError(signal.reason));
    return;
  }
  if (calls.length === 0) {
    done([]);
    return;
  }
  // One chunk (every apply): the calls as they are, and nothing to gather.
  const chunks = calls.length <= chunksize ? [calls] : toChunks(calls, chunksize);
  let stopListening: (() => void) | undefined;
  const finish: Settle =
    signal === undefined
      ? done
      : (values, error) => {
          stopListening?.();
          done(values, error);
        };
  const gather = chunks.length === 1 ? undefined : gatherChunks(chunks.length, chunksize, finish);
  const tasks: Task[] = chunks.map((chunk, index) =>
    chunkTask(manager, fn, chunk, single, limits, gather === undefined ? finish : gather(index)),
  );
  if (signal !== undefined) {
    stopListening = onAbort(signal, () => manager.cancel(new Set(tasks), new AbortError(signal.reason)));
  }
  manager.submit(tasks);
  if (tasks.every((task) => task.settled)) {
    stopListening?.(); // refused at once (queue full, pool stopped): nothing to cancel
  }
}

/**
 * The task of one chunk of a call: its time limit is the call's per item, times the
 * chunk's items, and its items count in the call's progress as it settles.
 */
export function chunkTask(
  manager: PoolManager,
  fn: FnRecord,
  chunk: readonly unknown[],
  single: boolean,
  { timeout, progress }: CallLimits,
  settle: Settle,
): Task {
  return newTask(
    manager.nextTaskId(),
    fn,
    chunk,
    single,
    timeout === undefined ? undefined : timeout * chunk.length,
    progress === undefined ? settle : withProgress(progress, chunk.length, settle),
  );
}

/** Counts a chunk's items in `progress` as it settles. */
function withProgress(progress: ProgressReporter, size: number, settle: Settle): Settle {
  return (values, error) => {
    progress.chunkDone(size, error === undefined ? 0 : size - values.length);
    settle(values, error);
  };
}
