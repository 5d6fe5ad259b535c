/**
 * `Pool`: the public facade, Python's `multiprocessing.Pool`. It validates each call,
 * turns it into tasks (chunks) for the manager, and gathers what comes back into
 * promises, `AsyncResult`s and async iterators.
 */
import { AsyncResult, settleAsyncResult, type ResultCallbacks } from './async-result.js';
import { defaultChunksize, gatherChunks, toChunks } from './chunking.js';
import { assertNotImportingTaskModule } from './current-process.js';
import { PoolError, PoolNotRunningError, PoolTerminatedError, SerializationError } from './errors.js';
import { pack, type Packed } from './payload.js';
import { IMapIterator } from './imap-iterator.js';
import { describeValue, resolveOptions, type PoolOptions } from './options.js';
import { PoolManager, type PoolState } from './pool-manager.js';
import type { ForkFn, Task } from './pool-worker.js';
import { TaskFunctions, type FnRecord } from './task-functions.js';
import type { AnyIterable, AnyTaskModule, TaskArgs, TaskFn, TaskItem, TaskResult } from './types.js';
import { isAsyncIterable, validateCallback, validateChunksize, validateIterable } from './validate.js';

/** @internal Unit tests inject a fake `fork` under this key. */
export const kFork = Symbol('forkpool.fork');

/** Options of `map`, `starmap`, `imap`, `imapUnordered`. */
export interface ChunkOptions {
  /**
   * Items per task sent to a worker.
   * @default map/starmap: ceil(items / (processes * 4)); imap/imapUnordered: 1
   */
  chunksize?: number;
}

/** Options of `mapAsync` and `starmapAsync`. */
export interface MapAsyncOptions<R> extends ChunkOptions, ResultCallbacks<R> {}

type Settle = (values: unknown[], error?: Error) => void;

/** Chunks submitted and not yet read per `imap` call: bounds memory on endless input. */
const imapWindowPerProcess = 4;

export class Pool<M extends object = AnyTaskModule> {
  readonly #manager: PoolManager;
  readonly #functions: TaskFunctions;
  readonly #processes: number;
  readonly #imaps = new Set<IMapIterator<unknown>>();

  /**
   * Starts `processes` workers, each importing `module` and running `initializer`.
   * @throws TypeError, RangeError for invalid options (the message says which and why)
   */
  constructor(options?: PoolOptions<TaskFn<M>>) {
    assertNotImportingTaskModule();
    const resolved = resolveOptions(options);
    this.#processes = resolved.processes;
    this.#functions = new TaskFunctions(resolved.moduleUrl);
    let initializer: FnRecord | null = null;
    if (resolved.initializer !== undefined) {
      // Synchronous: a native initializer is refused rather than matched by identity.
      initializer = this.#functions.resolve(resolved.initializer, 'initializer', false) as FnRecord;
    }
    let initargs: Packed;
    try {
      initargs = pack(resolved.initargs, 1);
    } catch (error) {
      throw new SerializationError('argument', `\`initargs\`: ${(error as Error).message}`, { cause: error });
    }
    this.#manager = new PoolManager({
      ...resolved,
      initargs,
      initializer: initializer?.full ?? null,
      fork: (options as { [kFork]?: ForkFn } | undefined)?.[kFork],
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

  /** Runs `fn(...args)` in a worker and resolves with its result. Python's `apply`. */
  apply<F extends TaskFn<M>>(fn: F, args?: TaskArgs<M, F>): Promise<TaskResult<M, F>> {
    return settled(() => this.applyAsync(fn, args).get());
  }

  /** Queues `fn(...args)` and returns its `AsyncResult` at once. Python's `apply_async`. */
  applyAsync<F extends TaskFn<M>>(
    fn: F,
    args?: TaskArgs<M, F>,
    callbacks: ResultCallbacks<TaskResult<M, F>> = {},
  ): AsyncResult<TaskResult<M, F>> {
    this.#assertRunning();
    const argList = args ?? [];
    if (!Array.isArray(argList)) {
      throw new TypeError(`Expected \`args\` to be an array of arguments, got ${describeValue(argList)}`);
    }
    validateCallbacks(callbacks);
    const record = this.#functions.resolve(fn);
    const result = new AsyncResult<TaskResult<M, F>>(callbacks);
    this.#submit(record, [[...argList]], 1, (values, error) =>
      settleAsyncResult(result, error ? { ok: false, error } : { ok: true, value: values[0] as TaskResult<M, F> }),
    );
    return result;
  }

  /** Applies `fn` to every item, in chunks; resolves with the results in input order. Python's `map`. */
  map<F extends TaskFn<M>>(fn: F, iterable: AnyIterable<TaskItem<M, F>>, options?: ChunkOptions): Promise<TaskResult<M, F>[]> {
    return settled(() => this.mapAsync(fn, iterable, options).get());
  }

  /** `map` returning an `AsyncResult` at once. Python's `map_async`. */
  mapAsync<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskItem<M, F>>,
    options: MapAsyncOptions<TaskResult<M, F>[]> = {},
  ): AsyncResult<TaskResult<M, F>[]> {
    return this.#mapAsync(fn, iterable, options, (item) => [item]);
  }

  /** Like `map`, but each item is an argument list: `fn(...item)`. Python's `starmap`. */
  starmap<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskArgs<M, F>>,
    options?: ChunkOptions,
  ): Promise<TaskResult<M, F>[]> {
    return settled(() => this.starmapAsync(fn, iterable, options).get());
  }

  /** `starmap` returning an `AsyncResult` at once. Python's `starmap_async`. */
  starmapAsync<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskArgs<M, F>>,
    options: MapAsyncOptions<TaskResult<M, F>[]> = {},
  ): AsyncResult<TaskResult<M, F>[]> {
    return this.#mapAsync(fn, iterable, options, toArgList);
  }

  /**
   * Lazily applies `fn` to every item and yields the results in input order; throws a
   * failing item's error at its position. Reads its input as results are consumed.
   * Python's `imap`.
   */
  imap<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskItem<M, F>>,
    options?: ChunkOptions,
  ): AsyncIterableIterator<TaskResult<M, F>> {
    return this.#imap(fn, iterable, options, true);
  }

  /** `imap`, yielding results as they complete. Python's `imap_unordered`. */
  imapUnordered<F extends TaskFn<M>>(
    fn: F,
    iterable: AnyIterable<TaskItem<M, F>>,
    options?: ChunkOptions,
  ): AsyncIterableIterator<TaskResult<M, F>> {
    return this.#imap(fn, iterable, options, false);
  }

  /** No new work is accepted; queued work still runs, then the workers exit. Python's `close`. */
  close(): void {
    this.#manager.close();
    for (const imap of this.#imaps) {
      imap.readAllInput();
    }
  }

  /** Waits for every worker to exit. Call `close()` or `terminate()` first. Python's `join`. */
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
   * every unsettled result with `PoolTerminatedError`. Resolves once they have exited.
   * Python's `terminate`.
   */
  terminate(): Promise<void> {
    const stopped = this.#manager.terminate();
    for (const imap of this.#imaps) {
      imap.stopInput(new PoolTerminatedError());
    }
    return stopped;
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

  #mapAsync<R>(
    fn: unknown,
    iterable: unknown,
    options: MapAsyncOptions<R>,
    toArgs: (item: unknown) => unknown[],
  ): AsyncResult<R> {
    this.#assertRunning();
    validateIterable(iterable);
    const chunksize = validateChunksize(options?.chunksize);
    validateCallbacks(options);
    const record = this.#functions.resolve(fn);
    const result = new AsyncResult<R>(options);
    const settle: Settle = (values, error) =>
      settleAsyncResult(result, error ? { ok: false, error } : { ok: true, value: values as R });
    const submit = (items: unknown[]) => {
      const argLists = items.map(toArgs);
      this.#submit(record, argLists, chunksize ?? defaultChunksize(argLists.length, this.#processes), settle);
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
    // Synchronous: a native fn is refused rather than matched by identity.
    const record = this.#functions.resolve(fn, 'fn', false) as FnRecord;
    const release = this.#manager.holdOpen();
    const iterator: IMapIterator<R> = new IMapIterator<R>({
      source: iterable as AnyIterable<unknown>,
      ordered,
      chunksize,
      window: this.#processes * imapWindowPerProcess,
      toArgs: (item) => [item],
      hooks: {
        submit: (chunk, done) => this.#submitChunk(record, chunk, done),
        withdraw: (handles) => this.#manager.withdraw((task) => handles.has(task)),
        release: () => {
          release();
          this.#imaps.delete(iterator as IMapIterator<unknown>);
        },
      },
    });
    this.#imaps.add(iterator as IMapIterator<unknown>);
    return iterator.start();
  }

  /** Splits the argument lists into chunks and submits them; `done` gets the gathered outcome. */
  #submit(record: FnRecord | Promise<FnRecord>, argLists: unknown[][], chunksize: number, done: Settle): void {
    if (record instanceof Promise) {
      // Native or bound: recognised by identity once the task module is imported.
      const release = this.#manager.holdOpen();
      record
        .then((resolved) => this.#submitChunks(resolved, argLists, chunksize, done), (error: unknown) => done([], error as Error))
        .finally(release);
    } else {
      this.#submitChunks(record, argLists, chunksize, done);
    }
  }

  #submitChunks(record: FnRecord, argLists: unknown[][], chunksize: number, done: Settle): void {
    if (argLists.length === 0) {
      done([]);
      return;
    }
    const chunks = toChunks(argLists, chunksize);
    const gather = gatherChunks(chunks.length, chunksize, done);
    chunks.forEach((chunk, index) => this.#submitChunk(record, chunk, gather(index)));
  }

  #submitChunk(record: FnRecord, chunk: unknown[][], done: Settle): Task {
    const task: Task = { id: this.#manager.nextTaskId(), fn: record, chunk, settle: done };
    this.#manager.submit(task);
    return task;
  }
}

function settled<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}

function validateCallbacks(callbacks: ResultCallbacks<never> | undefined): void {
  if (callbacks === undefined || callbacks === null || typeof callbacks !== 'object') {
    if (callbacks !== undefined) {
      throw new TypeError(`Expected an options object, got ${describeValue(callbacks)}`);
    }
    return;
  }
  validateCallback('callback', callbacks.callback);
  validateCallback('errorCallback', callbacks.errorCallback);
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
