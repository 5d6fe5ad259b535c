/**
 * `Pool`: the public facade, Python's `multiprocessing.Pool`. It validates each call,
 * turns it into tasks (chunks) for the manager, and gathers what comes back into
 * promises, `AsyncResult`s and async iterators.
 */
import { EventEmitter } from 'node:events';
import { onAbort } from './abort-listeners.js';
import { AsyncResult, settleAsyncResult, type ResultCallbacks } from './async-result.js';
import { defaultChunksize } from './chunking.js';
import { assertNotImportingTaskModule } from './current-process.js';
import { AbortError, PoolError, PoolNotRunningError, PoolTerminatedError, SerializationError } from './errors.js';
import { pack, type Packed } from './payload.js';
import { IMapIterator } from './imap-iterator.js';
import { describeValue, resolveOptions, validateTaskTimeout, type PoolOptions } from './options.js';
import { PoolManager, type PoolState, type WorkerExitEvent, type WorkerStartEvent } from './pool-manager.js';
import type { PoolStats } from './pool-stats.js';
import { ProgressReporter, type Progress } from './progress.js';
import type { ForkFn, Task } from './pool-worker.js';
import { chunkTask, submitCall, type CallLimits, type Settle } from './submit-call.js';
import { TaskFunctions, type FnRecord } from './task-functions.js';
import type { AnyIterable, AnyTaskModule, TaskArgs, TaskFn, TaskItem, TaskResult } from './types.js';
import { isAsyncIterable, validateCallback, validateChunksize, validateIterable, validateSignal } from './validate.js';

/** @internal Unit tests inject a fake `fork` under this key. */
export const kFork = Symbol('forkpool.fork');

/** Options every submitting method takes. */
export interface TaskOptions {
  /**
   * Time limit per item, in milliseconds (a chunk of n items gets n times this). A task
   * past it is rejected with `TaskTimeoutError` and its worker stopped and replaced.
   * @default the pool's `timeout` (no limit unless set)
   */
  timeout?: number;
  /**
   * Cancels the call: queued tasks are dropped, running ones have their worker stopped
   * and replaced, and the call rejects (or `imap` throws) `AbortError` with `signal.reason`.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** Options of `applyAsync`. */
export interface ApplyAsyncOptions<R> extends TaskOptions, ResultCallbacks<R> {}

/** Options of `map`, `starmap`, `imap`, `imapUnordered`. */
export interface ChunkOptions extends TaskOptions {
  /**
   * Items per task sent to a worker.
   * @default map/starmap: ceil(items / (processes * 4)); imap/imapUnordered: 1
   */
  chunksize?: number;
  /**
   * Told how many items are done (and how many of those failed) out of how many. Calls
   * are coalesced: the first at once, then at most one per 100 ms, and a last one when
   * the call is done, so it costs nothing per tiny task.
   * @default undefined
   */
  onProgress?: (progress: Progress) => void;
}

/** Options of `mapAsync` and `starmapAsync`. */
export interface MapAsyncOptions<R> extends ChunkOptions, ResultCallbacks<R> {}

/** Events of a pool: `pool.on('workerExit', (event) => …)`. Listeners run after the fact, never inside the pool's bookkeeping. */
export interface PoolEvents {
  /** A worker process was forked (it has not imported the task module yet). */
  workerStart: [event: WorkerStartEvent];
  /** A worker process has exited; `reason` says why. */
  workerExit: [event: WorkerExitEvent];
}

const applyAsyncKeys = new Set(['timeout', 'signal', 'callback', 'errorCallback']);
const chunkKeys = new Set(['chunksize', 'timeout', 'signal', 'onProgress']);
const mapAsyncKeys = new Set([...chunkKeys, 'callback', 'errorCallback']);

/**
 * Chunks submitted and not yet read per `imap` call and worker: bounds memory on endless
 * input, and leaves room to keep every worker fed with tiny tasks (see pipelining in
 * docs/architecture.md).
 */
const imapWindowPerProcess = 32;

/**
 * A pool of worker processes: Python's `multiprocessing.Pool`. Each worker is a real OS
 * process (`child_process.fork`) that runs one task at a time, so CPU-bound work uses every
 * core and a task that crashes its worker rejects instead of taking the parent down.
 *
 * `M` is the type of the task module (`typeof import('./tasks.js')`): with it, TypeScript
 * checks the export names given as `fn`, their arguments and their results. A `Pool` is an
 * `EventEmitter` of {@link PoolEvents}.
 *
 * @example
 * ```ts
 * const pool = new Pool<typeof import('./tasks.js')>({ module: new URL('./tasks.js', import.meta.url) });
 * console.log(await pool.map('square', [1, 2, 3])); // [ 1, 4, 9 ]
 * pool.close();
 * await pool.join();
 * ```
 */
export class Pool<M extends object = AnyTaskModule> extends EventEmitter<PoolEvents> {
  readonly #manager: PoolManager;
  readonly #functions: TaskFunctions;
  readonly #processes: number;
  readonly #timeout: number | undefined;
  /** The limits of a call without options (shared: nothing changes a `CallLimits`). */
  readonly #defaultLimits: Readonly<CallLimits>;
  readonly #imaps = new Set<IMapIterator<unknown, Task>>();

  /**
   * Starts `processes` workers at once, each importing `module` and running `initializer`.
   * Work submitted before a worker is ready waits in the queue.
   * @throws {@link TypeError} or {@link RangeError} for an unknown or invalid option (the
   * message says which, what was expected and what came), a native or bound `initializer`,
   * or a `.ts` task module that the workers have no loader for
   * @throws {@link Error} when the `module` file or the `cwd` directory does not exist, or
   * when a worker creates a pool while it imports its task module (which would fork
   * without end: guard it with `currentProcess().name === 'MainProcess'`)
   * @throws {@link SerializationError} when `initargs` cannot cross the process boundary
   */
  constructor(options?: PoolOptions<TaskFn<M>>) {
    super();
    assertNotImportingTaskModule();
    const resolved = resolveOptions(options);
    this.#processes = resolved.processes;
    this.#timeout = resolved.timeout;
    this.#defaultLimits = Object.freeze({ timeout: resolved.timeout, signal: undefined });
    this.#functions = new TaskFunctions(resolved.moduleUrl);
    let initializer: FnRecord | null = null;
    if (resolved.initializer !== undefined) {
      // Synchronous: a native initializer is refused rather than matched by identity.
      initializer = this.#functions.resolve(resolved.initializer, 'initializer', false) as FnRecord;
    }
    let initargs: Packed;
    try {
      initargs = pack(resolved.initargs);
      if ('plain' in initargs) {
        // Serialized once, here: every worker, a replacement started later too, gets these
        // values, whatever becomes of the caller's objects. (The other routes are bytes.)
        initargs = pack(JSON.parse(JSON.stringify(initargs.plain)) as unknown[]);
      }
    } catch (error) {
      throw new SerializationError('argument', `\`initargs\`: ${(error as Error).message}`, { cause: error });
    }
    this.#manager = new PoolManager({
      ...resolved,
      initargs,
      initializer: initializer?.full ?? null,
      fork: (options as { [kFork]?: ForkFn } | undefined)?.[kFork],
      // Emitted on a later tick: a listener never runs inside the pool's bookkeeping.
      onWorkerStart: (event) => queueMicrotask(() => this.emit('workerStart', event)),
      onWorkerExit: (event) => queueMicrotask(() => this.emit('workerExit', event)),
    });
  }

  /** Number of worker processes the pool keeps. */
  get processes(): number {
    return this.#processes;
  }

  /** `'running'`, `'closed'` (after `close()`) or `'terminated'` (after `terminate()`, or broken by a worker that could not start). */
  get state(): PoolState {
    return this.#manager.state;
  }

  /** A snapshot of the pool's workers and counters, for metrics: a new object on each call, in any state. */
  stats(): PoolStats {
    return this.#manager.stats();
  }

  /**
   * Resolves as soon as the pool can take a task: a worker is idle or the queue has room
   * under `maxQueue` (at once if it can, or if the pool is terminated). Never rejects.
   * Lets a producer feeding `apply` or `map` go only as fast as the workers.
   */
  waitForRoom(): Promise<void> {
    return this.#manager.waitForRoom();
  }

  /**
   * Runs `fn(...args)` in a worker and resolves with its result. Python's `apply`.
   * Never throws: an invalid argument, like the task's own error, rejects the promise.
   * @param fn - an export name of the task module, one of its exported functions, or a self-contained function
   * @param args - the task's arguments; `[]` when left out
   */
  apply<F extends TaskFn<M>>(fn: F, args?: TaskArgs<M, F>, options?: TaskOptions): Promise<TaskResult<M, F>> {
    return settled(() => this.applyAsync(fn, args, options).get());
  }

  /**
   * Queues `fn(...args)` and returns its `AsyncResult` at once. Python's `apply_async`.
   * A full queue or an aborted `signal` rejects the `AsyncResult` rather than throwing.
   * @throws {@link PoolNotRunningError} after `close()` or `terminate()`
   * @throws {@link TypeError} or {@link RangeError} when `args` is not an array, an option is
   * unknown or invalid, or `fn` cannot be sent to a worker
   */
  applyAsync<F extends TaskFn<M>>(
    fn: F,
    args?: TaskArgs<M, F>,
    options?: ApplyAsyncOptions<TaskResult<M, F>>,
  ): AsyncResult<TaskResult<M, F>> {
    this.#assertRunning();
    const argList = args ?? [];
    if (!Array.isArray(argList)) {
      throw new TypeError(`Expected \`args\` to be an array of arguments, got ${describeValue(argList)}`);
    }
    const limits = this.#callOptions(options, applyAsyncKeys);
    const record = this.#functions.resolve(fn);
    const result = new AsyncResult<TaskResult<M, F>>(options);
    this.#submit(record, [[...argList]], false, 1, limits, (values, error) =>
      settleAsyncResult(result, error ? { ok: false, error } : { ok: true, value: values[0] as TaskResult<M, F> }),
    );
    return result;
  }

  /**
   * Applies `fn` to every item, in chunks; resolves with the results in input order. Python's
   * `map`: it settles once every chunk has finished, and rejects with the first error to arrive.
   * Never throws: an invalid argument rejects the promise.
   */
  map<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskItem<M, F>>,
    options?: ChunkOptions,
  ): Promise<TaskResult<M, F>[]> {
    return settled(() => this.mapAsync(fn, iterable, options).get());
  }

  /**
   * `map` returning an `AsyncResult` at once. Python's `map_async`.
   * @throws {@link PoolNotRunningError} after `close()` or `terminate()`
   * @throws {@link TypeError} or {@link RangeError} for an invalid `iterable`, `chunksize` or
   * option, or an `fn` that cannot be sent to a worker
   */
  mapAsync<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskItem<M, F>>,
    options: MapAsyncOptions<TaskResult<M, F>[]> = {},
  ): AsyncResult<TaskResult<M, F>[]> {
    return this.#mapAsync(fn, iterable, options, undefined);
  }

  /**
   * Like `map`, but each item is an argument list: `fn(...item)`. Python's `starmap`.
   * Never throws: an invalid argument rejects the promise.
   */
  starmap<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskArgs<M, F>>,
    options?: ChunkOptions,
  ): Promise<TaskResult<M, F>[]> {
    return settled(() => this.starmapAsync(fn, iterable, options).get());
  }

  /**
   * `starmap` returning an `AsyncResult` at once. Python's `starmap_async`.
   * @throws what `mapAsync` throws, and a {@link TypeError} for an item of a sync iterable
   * that is not an argument list
   */
  starmapAsync<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskArgs<M, F>>,
    options: MapAsyncOptions<TaskResult<M, F>[]> = {},
  ): AsyncResult<TaskResult<M, F>[]> {
    return this.#mapAsync(fn, iterable, options, toArgList);
  }

  /**
   * Lazily applies `fn` to every item and yields the results in input order; throws a
   * failing item's error at its position. Reads its input as results are consumed, so an
   * endless generator streams in bounded memory. Python's `imap`.
   * @throws {@link PoolNotRunningError} after `close()` or `terminate()`
   * @throws {@link TypeError} or {@link RangeError} for an invalid `iterable`, `chunksize` or
   * option, or an `fn` that cannot be sent (a native or bound function not matched by an
   * earlier call: pass its export name)
   */
  imap<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskItem<M, F>>,
    options?: ChunkOptions,
  ): AsyncIterableIterator<TaskResult<M, F>> {
    return this.#imap(fn, iterable, options, true);
  }

  /**
   * `imap`, yielding each chunk's results as soon as it completes. Python's `imap_unordered`.
   * @throws what `imap` throws
   */
  imapUnordered<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskItem<M, F>>,
    options?: ChunkOptions,
  ): AsyncIterableIterator<TaskResult<M, F>> {
    return this.#imap(fn, iterable, options, false);
  }

  /**
   * No new work is accepted; queued work still runs, then the workers exit. Python's `close`.
   * Calling it again, or on a terminated pool, does nothing.
   */
  close(): void {
    this.#manager.close();
    for (const imap of this.#imaps) {
      imap.readAllInput();
    }
  }

  /**
   * Waits for every worker to exit. Call `close()` or `terminate()` first. Python's `join`.
   * Rejects with a {@link PoolError} whose `code` is `'ERR_POOL_RUNNING'` on a running pool
   * (Python raises `ValueError`).
   */
  join(): Promise<void> {
    if (this.#manager.state === 'running') {
      return Promise.reject(
        new PoolError('Pool is still running: call close() or terminate() before join()', 'ERR_POOL_RUNNING'),
      );
    }
    return this.#manager.join();
  }

  /**
   * Stops the workers now (`SIGTERM`, then `SIGKILL` after `killTimeout`) and rejects
   * every unsettled result with `PoolTerminatedError`. Resolves once they have exited, and
   * never rejects. Python's `terminate`.
   */
  terminate(): Promise<void> {
    const stopped = this.#manager.terminate();
    for (const imap of this.#imaps) {
      imap.stopInput(new PoolTerminatedError());
    }
    return stopped;
  }

  /**
   * `close()`, then `join()`; if work is still running after `timeoutMs`, `terminate()`.
   * Resolves once every worker has exited, with `'drained'` (all queued work finished)
   * or `'terminated'` (the rest was cut short and rejected). For servers on `SIGTERM`.
   * Rejects with a {@link TypeError} when `timeoutMs` is not a number >= 0.
   * @param timeoutMs - how long the queued work may take, in milliseconds; `Infinity` (as
   * long as it takes) when left out
   */
  async shutdown(timeoutMs = Number.POSITIVE_INFINITY): Promise<'drained' | 'terminated'> {
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      throw new TypeError(`Expected \`timeoutMs\` to be a number >= 0, got ${describeValue(timeoutMs)}`);
    }
    if (this.state === 'running') {
      this.close();
    }
    if (this.state === 'terminated') {
      await this.join();
      return 'terminated';
    }
    let forced = false;
    const timer =
      timeoutMs === Number.POSITIVE_INFINITY
        ? undefined
        : setTimeout(() => {
            forced = true;
            void this.terminate();
          }, timeoutMs);
    try {
      await this.join();
    } finally {
      clearTimeout(timer);
    }
    // Terminated by the deadline, or by a terminate() of someone else meanwhile.
    return forced || this.#manager.state === 'terminated' ? 'terminated' : 'drained';
  }

  /** `await using pool = new Pool(…)` terminates it on scope exit, like Python's `with Pool() as p`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }

  #assertRunning(): void {
    if (this.#manager.state !== 'running') {
      const brokenBy = this.#manager.brokenBy;
      throw brokenBy === undefined
        ? new PoolNotRunningError(`Pool not running: it was ${this.#manager.state}`)
        : new PoolNotRunningError(`Pool not running: it broke because ${brokenBy.message}`, { cause: brokenBy });
    }
  }

  /** Validates the options every call takes; fills in the pool's timeout. */
  #callOptions(
    options: (TaskOptions & ResultCallbacks<never> & Pick<ChunkOptions, 'onProgress'>) | undefined,
    known: ReadonlySet<string>,
  ): CallLimits {
    if (options === undefined) {
      return this.#defaultLimits;
    }
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`Expected an options object, got ${describeValue(options)}`);
    }
    for (const key of Object.keys(options)) {
      if (!known.has(key)) {
        throw new TypeError(`Unknown option \`${key}\`. Known options here: ${[...known].join(', ')}`);
      }
    }
    validateCallback('callback', options.callback);
    validateCallback('errorCallback', options.errorCallback);
    validateCallback('onProgress', options.onProgress);
    return {
      timeout: options.timeout === undefined ? this.#timeout : validateTaskTimeout(options.timeout),
      signal: validateSignal(options.signal),
      progress: options.onProgress && new ProgressReporter(options.onProgress),
    };
  }

  /** `map` and `starmap`: `toArgs` gives each item's argument list (starmap); without it, each item is the one argument (map). */
  #mapAsync<R>(
    fn: unknown,
    iterable: unknown,
    options: MapAsyncOptions<R>,
    toArgs: ((item: unknown) => unknown[]) | undefined,
  ): AsyncResult<R> {
    this.#assertRunning();
    validateIterable(iterable);
    const chunksize = validateChunksize(options?.chunksize);
    const limits = this.#callOptions(options, mapAsyncKeys);
    const record = this.#functions.resolve(fn);
    const result = new AsyncResult<R>(options);
    const settle: Settle = (values, error) =>
      settleAsyncResult(result, error ? { ok: false, error } : { ok: true, value: values as R });
    const submit = (items: unknown[]) => {
      const calls = toArgs === undefined ? items : items.map(toArgs);
      const size = chunksize ?? defaultChunksize(calls.length, this.#processes);
      this.#submit(record, calls, toArgs === undefined, size, limits, settle);
    };
    if (isAsyncIterable(iterable)) {
      // The call was accepted while running: a close() meanwhile must still let it run.
      const release = this.#manager.holdOpen();
      collect(iterable)
        .then(submit, (error: unknown) => settle([], error as Error))
        .catch((error: unknown) => settle([], error as Error))
        .finally(release);
    } else {
      let items: unknown[];
      try {
        items = Array.from(iterable as Iterable<unknown>);
      } catch (error) {
        settle([], error as Error);
        return result;
      }
      submit(items);
    }
    return result;
  }

  #imap<R>(fn: unknown, iterable: unknown, options: ChunkOptions | undefined, ordered: boolean): IMapIterator<R> {
    this.#assertRunning();
    validateIterable(iterable);
    const chunksize = validateChunksize(options?.chunksize) ?? 1;
    const limits = this.#callOptions(options, chunkKeys);
    const { signal, progress } = limits;
    let items = 0;
    // Synchronous: a native fn is refused rather than matched by identity.
    const record = this.#functions.resolve(fn, 'fn', false) as FnRecord;
    const manager = this.#manager;
    const release = manager.holdOpen();
    let stopListening: (() => void) | undefined;
    const iterator: IMapIterator<R, Task> = new IMapIterator<R, Task>({
      source: iterable as AnyIterable<unknown>,
      ordered,
      chunksize,
      window: this.#processes * imapWindowPerProcess,
      hooks: {
        submit: (chunk, done) => {
          items += chunk.length;
          const task = chunkTask(manager, record, chunk, true, limits, done);
          manager.submit([task]);
          return task;
        },
        cancel: (tasks, error) => manager.cancel(tasks, error),
        waitForRoom: () => (manager.room > 0 ? undefined : manager.waitForRoom()),
        release: () => {
          release();
          this.#imaps.delete(iterator as IMapIterator<unknown, Task>);
          if (progress !== undefined) {
            progress.total = items; // the whole input is known now
          }
        },
        finished: () => {
          stopListening?.();
          progress?.finish();
        },
      },
    });
    this.#imaps.add(iterator as IMapIterator<unknown, Task>);
    if (signal?.aborted) {
      iterator.abort(new AbortError(signal.reason));
    } else if (signal !== undefined) {
      stopListening = onAbort(signal, () => iterator.abort(new AbortError(signal.reason)));
    }
    return iterator.start();
  }

  /** Submits the call's tasks (see submitCall); with a native `fn`, once it has been matched to an export. */
  #submit(
    record: FnRecord | Promise<FnRecord>,
    calls: readonly unknown[],
    single: boolean,
    chunksize: number,
    limits: CallLimits,
    done: Settle,
  ): void {
    if (record instanceof Promise) {
      const release = this.#manager.holdOpen();
      record
        .then(
          (resolved) => submitCall(this.#manager, resolved, calls, single, chunksize, limits, done),
          (error: unknown) => done([], error as Error),
        )
        .finally(release);
    } else {
      submitCall(this.#manager, record, calls, single, chunksize, limits, done);
    }
  }
}

function settled<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** `Array.fromAsync`, which Node.js 20 lacks. */
async function collect(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of iterable) {
    items.push(item);
  }
  return items;
}

function toArgList(item: unknown): unknown[] {
  if (Array.isArray(item)) {
    return item;
  }
  if (typeof (item as Iterable<unknown> | null)?.[Symbol.iterator] === 'function' && typeof item !== 'string') {
    return Array.from(item as Iterable<unknown>);
  }
  throw new TypeError(`Expected each item of starmap's input to be an array of arguments, got ${describeValue(item)}`);
}
