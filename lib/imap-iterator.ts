/**
 * The iterator behind `imap` (input order) and `imapUnordered` (completion order).
 *
 * Unlike CPython, which reads the whole input up front, it reads its input lazily: at
 * most `window` chunks are submitted and not yet handed to the consumer, so an endless
 * generator streams in bounded memory. When the pool is closed the rest of the input is
 * read at once, so that `close()` + `join()` finish the work as in Python.
 */
import pDefer, { type DeferredPromise } from 'p-defer';

/** What a chunk came back with: values up to a failing item, then that item's error. */
interface ChunkOutcome {
  values: unknown[];
  error: Error | undefined;
}

export interface IMapHooks<Handle> {
  /** Queues one chunk; `done` is called once with its outcome. Returns a handle for `cancel`. */
  submit(chunk: unknown[], done: (values: unknown[], error?: Error) => void): Handle;
  /**
   * Ends chunks no one will read: queued ones are dropped; with an `error` (an abort),
   * running ones are stopped too, else they finish unread.
   */
  cancel(handles: ReadonlySet<Handle>, error: Error | undefined): void;
  /** `undefined` when the pool's queue has room now, else a promise of room. */
  waitForRoom(): Promise<void> | undefined;
  /** Called once, when the iterator has submitted all it will: it needs the pool open no more. */
  release(): void;
  /** Called once, when the iterator is done for good. */
  finished(): void;
}

export class IMapIterator<R, Handle = object> implements AsyncIterableIterator<R> {
  readonly #source: Iterator<unknown> | AsyncIterator<unknown>;
  readonly #ordered: boolean;
  readonly #chunksize: number;
  readonly #window: number;
  readonly #hooks: IMapHooks<Handle>;

  /** Outcomes waiting to be read: by chunk index (ordered) or in arrival order. */
  readonly #outcomes = new Map<number, ChunkOutcome>();
  readonly #arrived: ChunkOutcome[] = [];
  /** Handles of submitted chunks not yet settled. */
  readonly #unsettled = new Set<Handle>();
  readonly #waiters: DeferredPromise<IteratorResult<R>>[] = [];
  #submitted = 0;
  /** Chunks fully handed out (ordered: also the index of the next chunk to read). */
  #consumed = 0;
  #current: ChunkOutcome | undefined;
  #position = 0;
  #inputDone = false;
  #inputError: { error: unknown } | undefined;
  /** Thrown at the next read, ahead of anything buffered (an abort). */
  #abortError: Error | undefined;
  #eager = false;
  #pumping = false;
  #finished = false;

  constructor(options: {
    source: Iterable<unknown> | AsyncIterable<unknown>;
    ordered: boolean;
    chunksize: number;
    window: number;
    hooks: IMapHooks<Handle>;
  }) {
    const { source } = options;
    this.#source =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (source as Iterable<unknown>)[Symbol.iterator]();
    this.#ordered = options.ordered;
    this.#chunksize = options.chunksize;
    this.#window = options.window;
    this.#hooks = options.hooks;
  }

  /** Starts reading input and submitting chunks (after the pool has registered the iterator). */
  start(): this {
    void this.#pump();
    return this;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (this.#finished && this.#abortError === undefined) {
      return Promise.resolve({ done: true, value: undefined });
    }
    const waiter = pDefer<IteratorResult<R>>();
    this.#waiters.push(waiter);
    this.#deliver();
    return waiter.promise;
  }

  /** Stops early (`break` in `for await`): queued chunks are withdrawn, the input is closed. */
  async return(): Promise<IteratorResult<R>> {
    this.#finish();
    return { done: true, value: undefined };
  }

  /** The call's signal fired: stop everything, throw `error` at the next read. */
  abort(error: Error): void {
    if (this.#finished) {
      return;
    }
    this.#abortError = error;
    const unsettled = new Set(this.#unsettled);
    this.#finish(error);
    this.#deliver();
    if (unsettled.size > 0) {
      this.#hooks.cancel(unsettled, error);
    }
  }

  /** The pool was closed: read the rest of the input now so the queued work can drain. */
  readAllInput(): void {
    this.#eager = true;
    void this.#pump();
  }

  /** The pool was terminated: no more input is read; `reason` is thrown where it stops. */
  stopInput(reason: Error): void {
    if (!this.#inputDone) {
      this.#endInput({ error: reason });
      void this.#closeSource();
      this.#deliver();
    }
  }

  async #pump(): Promise<void> {
    if (this.#pumping) {
      return;
    }
    this.#pumping = true;
    try {
      while (!this.#inputDone && !this.#finished && (this.#eager || this.#submitted - this.#consumed < this.#window)) {
        const room = this.#hooks.waitForRoom();
        if (room !== undefined) {
          await room; // the pool's queue is at maxQueue: wait rather than fail
          continue;
        }
        const chunk: unknown[] = [];
        try {
          while (chunk.length < this.#chunksize) {
            const step = await this.#source.next();
            if (this.#inputDone || this.#finished) {
              return; // stopped while we waited
            }
            if (step.done) {
              this.#endInput(undefined);
              break;
            }
            chunk.push(step.value);
          }
        } catch (error) {
          this.#endInput({ error }); // thrown after the items read before it
        }
        if (chunk.length > 0) {
          this.#submit(chunk);
        }
      }
    } finally {
      this.#pumping = false;
      this.#deliver();
    }
  }

  #submit(chunk: unknown[]): void {
    const index = this.#submitted++;
    const handle = this.#hooks.submit(chunk, (values, error) => {
      this.#unsettled.delete(handle);
      if (this.#finished) {
        return;
      }
      const outcome = { values, error };
      if (this.#ordered) {
        this.#outcomes.set(index, outcome);
      } else {
        this.#arrived.push(outcome);
      }
      this.#deliver();
    });
    this.#unsettled.add(handle);
  }

  #endInput(inputError: { error: unknown } | undefined): void {
    this.#inputDone = true;
    this.#inputError = inputError;
    this.#hooks.release();
  }

  /** Hands out what is ready to whoever is waiting, in order. */
  #deliver(): void {
    if (this.#abortError !== undefined && this.#waiters.length > 0) {
      this.#waiters.shift()!.reject(this.#abortError);
      this.#abortError = undefined;
    }
    while (this.#waiters.length > 0 && !this.#finished) {
      this.#current ??= this.#takeOutcome();
      const current = this.#current;
      if (current === undefined) {
        if (this.#inputDone && this.#consumed === this.#submitted) {
          const inputError = this.#inputError;
          this.#finish();
          if (inputError !== undefined) {
            this.#waiters.shift()!.reject(inputError.error);
          }
        }
        break;
      }
      if (this.#position < current.values.length) {
        this.#waiters.shift()!.resolve({ done: false, value: current.values[this.#position++] as R });
      } else if (current.error !== undefined) {
        this.#finish();
        this.#waiters.shift()!.reject(current.error);
        break;
      }
      if (this.#position === current.values.length && current.error === undefined) {
        // Chunk handed out in full: make room for one more.
        this.#current = undefined;
        this.#position = 0;
        this.#consumed++;
        void this.#pump();
      }
    }
    // Anyone still waiting after the end gets `done`.
    if (this.#finished) {
      for (const waiter of this.#waiters.splice(0)) {
        waiter.resolve({ done: true, value: undefined });
      }
    }
  }

  #takeOutcome(): ChunkOutcome | undefined {
    if (!this.#ordered) {
      return this.#arrived.shift();
    }
    const outcome = this.#outcomes.get(this.#consumed);
    this.#outcomes.delete(this.#consumed);
    return outcome;
  }

  /** Done for good: unread chunks are cancelled (by `abort` itself when it has an error). */
  #finish(abortError?: Error): void {
    if (this.#finished) {
      return;
    }
    this.#finished = true;
    if (this.#unsettled.size > 0 && abortError === undefined) {
      this.#hooks.cancel(this.#unsettled, undefined);
    }
    if (!this.#inputDone) {
      this.#inputDone = true;
      this.#hooks.release();
      void this.#closeSource();
    }
    this.#hooks.finished();
  }

  async #closeSource(): Promise<void> {
    try {
      await this.#source.return?.();
    } catch {
      // The caller is done with this input; an error closing it has no one to go to.
    }
  }
}
