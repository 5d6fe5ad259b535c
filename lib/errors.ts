/**
 * The pool's own error classes. Each has a stable `code` so callers can match on it
 * instead of on message text, and keeps whatever caused it as `cause`.
 */

/** Base class of every error the pool itself raises. */
export class PoolError extends Error {
  /** A stable identifier, e.g. `'ERR_WORKER_EXITED'`; never changes between versions. */
  readonly code: string;

  /**
   * @param message - what happened and what to do about it
   * @param code - the stable identifier, see {@link PoolError.code}
   * @param options - `cause`: the error that led to this one
   */
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A method was called on a pool that is closed, terminated or broken (Python's "Pool not running"). */
export class PoolNotRunningError extends PoolError {
  /** Raised by the pool (`code: 'ERR_POOL_NOT_RUNNING'`); `cause` is the error that broke it, if one did. */
  constructor(message = 'Pool not running: it was closed or terminated', options?: ErrorOptions) {
    super(message, 'ERR_POOL_NOT_RUNNING', options);
  }
}

/**
 * `terminate()` (or `Symbol.asyncDispose`) ran while this task was still queued or running.
 * A subclass of {@link PoolNotRunningError}, so one `instanceof` check catches both.
 */
export class PoolTerminatedError extends PoolNotRunningError {
  override readonly code = 'ERR_POOL_TERMINATED';

  /** Raised by the pool for each task that `terminate()` cut short. */
  constructor(options?: ErrorOptions) {
    super('Pool was terminated before this task finished', options);
  }
}

/** Details of a worker process that exited. */
export interface WorkerExitInfo {
  /** `'PoolWorker-N'`. */
  workerName: string;
  /** OS process id of the worker, or `undefined` if it never started. */
  pid: number | undefined;
  /** Exit code, or `null` when the process was killed by a signal. */
  exitCode: number | null;
  /** The signal that killed the process (`'SIGKILL'` …), or `null`. */
  signal: NodeJS.Signals | null;
}

/** The worker process died while running this task. The pool starts a replacement. */
export class WorkerExitedError extends PoolError implements WorkerExitInfo {
  readonly workerName: string;
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;

  /**
   * Raised by the pool for the task in flight on a worker that died.
   * @param when - when it died, for the message; `'while running this task'` when left out
   */
  constructor(info: WorkerExitInfo, options?: ErrorOptions, when = 'while running this task') {
    const how = info.signal === null ? `with exit code ${info.exitCode}` : `by signal ${info.signal}`;
    // V8 aborts the process when the heap is exhausted; nothing else tells the parent why.
    const hint =
      info.signal === 'SIGABRT' || info.exitCode === 134
        ? ". V8 ends a process this way when it runs out of heap ('JavaScript heap out of memory' on the worker's stderr) " +
          "or on another fatal error: give workers more heap with `execArgv: ['--max-old-space-size=MB']`, or recycle them with `maxMemoryPerChild`"
        : '';
    super(`${info.workerName} (pid ${info.pid}) exited ${how} ${when}${hint}`, 'ERR_WORKER_EXITED', options);
    this.workerName = info.workerName;
    this.pid = info.pid;
    this.exitCode = info.exitCode;
    this.signal = info.signal;
  }
}

/**
 * An argument or a result could not cross the process boundary by structured clone
 * (functions, symbols, class instances with private state …). The worker survives.
 */
export class SerializationError extends PoolError {
  /** `'argument'`: the parent could not send the task; `'result'`: the worker could not send the value back. */
  readonly direction: 'argument' | 'result';

  /** Raised by the pool; when the parent could not clone an argument, `cause` is the clone's error. */
  constructor(direction: 'argument' | 'result', detail: string, options?: ErrorOptions) {
    const what = direction === 'argument' ? 'An argument of this task' : 'The result of this task';
    super(
      `${what} cannot cross the process boundary (${detail}). ` +
        'Only structured-clone values can: primitives, plain objects, arrays, Map, Set, Date, RegExp, BigInt, typed arrays, Buffers and Errors.',
      'ERR_SERIALIZATION',
      options,
    );
    this.direction = direction;
  }
}

/**
 * Workers could not start: the task module failed to import or the initializer threw
 * (reported by the worker: at once), or workers died before they were ready three times
 * in a row. The pool does not respawn workers in a loop: it becomes broken, rejects the
 * work it holds with this error and refuses new work (as Python's `BrokenProcessPool`).
 */
export class WorkerInitError extends PoolError {
  /** The worker that could not start, `'PoolWorker-N'`. */
  readonly workerName: string;

  /**
   * Raised by the pool. `cause` is what went wrong: the error the import or the initializer
   * threw, the `WorkerExitedError` of the last worker that died before it was ready, or the
   * error of `fork()`.
   */
  constructor(workerName: string, what: string, options?: ErrorOptions) {
    super(`${workerName} failed to start: ${what}`, 'ERR_WORKER_INIT', options);
    this.workerName = workerName;
  }
}

/** `AsyncResult.get(timeoutMs)` ran out of time (Python's `multiprocessing.TimeoutError`). The task goes on. */
export class TimeoutError extends PoolError {
  /** Raised by `AsyncResult.get(timeoutMs)`; `code` is `'ERR_TIMEOUT'`. */
  constructor(timeoutMs: number) {
    super(`Result not ready after ${timeoutMs} ms (the task goes on; call get() again to keep waiting)`, 'ERR_TIMEOUT');
  }
}

/**
 * A task ran past its `timeout`. Its worker was stopped (`SIGTERM`, then `SIGKILL` after
 * `killTimeout`) and replaced. Unlike `TimeoutError`, which only stops a wait, this ends
 * the task.
 */
export class TaskTimeoutError extends PoolError {
  /** The worker that ran the task and was stopped, `'PoolWorker-N'`. */
  readonly workerName: string;
  /** OS process id of that worker. */
  readonly pid: number | undefined;
  /** The time limit the task ran past, in milliseconds (for a chunk: items times the per-item limit). */
  readonly timeout: number;

  /** Raised by the pool when a task's time limit runs out. */
  constructor(workerName: string, pid: number | undefined, timeout: number) {
    super(
      `Task ran past its timeout of ${timeout} ms on ${workerName} (pid ${pid}); the worker was stopped`,
      'ERR_TASK_TIMEOUT',
    );
    this.workerName = workerName;
    this.pid = pid;
    this.timeout = timeout;
  }
}

/**
 * The call's `AbortSignal` fired. A queued task was dropped without running; a running
 * one had its worker stopped and replaced. `cause` and `reason` hold `signal.reason`.
 */
export class AbortError extends PoolError {
  /** `signal.reason`: what `controller.abort(reason)` was given, or the signal's own `AbortError`/`TimeoutError` `DOMException`. */
  readonly reason: unknown;

  /** Raised by the pool when a call's signal fires; `reason` and `cause` are `signal.reason`. */
  constructor(reason: unknown) {
    super('The task was aborted', 'ABORT_ERR', { cause: reason });
    this.reason = reason;
  }
}

/** The pool's queue already holds `maxQueue` tasks. Retry once `pool.waitForRoom()` resolves, or answer "busy" (HTTP 503). */
export class QueueFullError extends PoolError {
  /** The pool's `maxQueue` option: the most tasks that may wait for a worker. */
  readonly maxQueue: number;

  /** Raised by the pool for a call whose tasks would not fit; none of them was queued. */
  constructor(maxQueue: number, adding: number) {
    super(
      `The pool's queue is full (maxQueue: ${maxQueue}); ${adding === 1 ? 'this task was' : `these ${adding} tasks were`} not queued. ` +
        'Await pool.waitForRoom() before submitting more, or shed load.',
      'ERR_QUEUE_FULL',
    );
    this.maxQueue = maxQueue;
  }
}
