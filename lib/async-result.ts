/**
 * `AsyncResult`: the handle `applyAsync`, `mapAsync` and `starmapAsync` return, Python's
 * `ApplyResult`. Settled once, by the pool; callbacks run before `get()` settles.
 */
import pDefer from 'p-defer';
import { TimeoutError } from './errors.js';
import { validateTimeout } from './validate.js';

/** Callbacks of `applyAsync`/`mapAsync`/`starmapAsync`. Each runs at most once. */
export interface ResultCallbacks<R> {
  /**
   * Called with the result when the task succeeds, before `get()` resolves. If it throws,
   * the result still settles and its error surfaces as an uncaught exception.
   * @default undefined
   */
  callback?: ((result: R) => void) | undefined;
  /**
   * Called with the error when the task fails, before `get()` rejects. If it throws, the
   * result still settles and its error surfaces as an uncaught exception.
   * @default undefined
   */
  errorCallback?: ((error: Error) => void) | undefined;
}

const ignore = (): void => {};
const noCallbacks: ResultCallbacks<unknown> = Object.freeze({});

type Outcome<R> = { ok: true; value: R } | { ok: false; error: Error };

let settle: <R>(result: AsyncResult<R>, outcome: Outcome<R>) => void;

/** @internal The pool's way to settle a result; users cannot. */
export function settleAsyncResult<R>(result: AsyncResult<R>, outcome: Outcome<R>): void {
  settle(result, outcome);
}

/**
 * The result of a call that returns at once (`applyAsync`, `mapAsync`, `starmapAsync`):
 * Python's `AsyncResult`. The pool settles it exactly once; one that is never read causes
 * no unhandled-rejection warning.
 */
export class AsyncResult<R> {
  readonly #deferred = pDefer<R>();
  // Typed loosely so that AsyncResult<R> stays covariant: an AsyncResult<number> is an AsyncResult<unknown>.
  readonly #callbacks: ResultCallbacks<never>;
  #outcome: Outcome<R> | undefined;

  static {
    settle = (result, outcome) => result.#settle(outcome);
  }

  /** @internal Created by the pool. */
  constructor(callbacks: ResultCallbacks<R> = noCallbacks) {
    this.#callbacks = callbacks as ResultCallbacks<never>;
  }

  /**
   * The result, once the task is done. Rejects with the task's error, or with
   * {@link TimeoutError} after `timeoutMs` milliseconds (the task itself goes on: call
   * `get()` again to keep waiting). Never throws: an invalid `timeoutMs` rejects with a
   * `TypeError` (not a number, `NaN`) or a `RangeError` (negative).
   * @param timeoutMs - how long to wait, in milliseconds; as long as it takes when left out
   */
  get(timeoutMs?: number): Promise<R> {
    if (timeoutMs === undefined || this.#outcome !== undefined) {
      return this.#deferred.promise;
    }
    try {
      validateTimeout(timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#race(this.#deferred.promise, timeoutMs, () => Promise.reject(new TimeoutError(timeoutMs)));
  }

  /**
   * Resolves when the result is ready, or after `timeoutMs` milliseconds, whichever comes
   * first. Never rejects for the task's outcome, as Python's `wait()` never raises
   * (only for an invalid `timeoutMs`).
   * @param timeoutMs - how long to wait, in milliseconds; as long as it takes when left out
   */
  wait(timeoutMs?: number): Promise<void> {
    const done = this.#deferred.promise.then(
      () => {},
      () => {},
    );
    if (timeoutMs === undefined || this.#outcome !== undefined) {
      return done;
    }
    try {
      validateTimeout(timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#race(done, timeoutMs, () => Promise.resolve());
  }

  /** Whether the task has finished, successfully or not. */
  ready(): boolean {
    return this.#outcome !== undefined;
  }

  /**
   * Whether the task finished without error.
   * @throws {@link Error} when the result is not ready yet, as Python's raises `ValueError`
   */
  successful(): boolean {
    if (this.#outcome === undefined) {
      throw new Error('AsyncResult is not ready: await result.wait() before calling successful()');
    }
    return this.#outcome.ok;
  }

  #race<T>(promise: Promise<T>, timeoutMs: number, onTimeout: () => Promise<T>): Promise<T> {
    if (timeoutMs === Number.POSITIVE_INFINITY) {
      return promise;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(onTimeout()), timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  #settle(outcome: Outcome<R>): void {
    if (this.#outcome !== undefined) {
      return;
    }
    this.#outcome = outcome;
    // A throwing callback must not stop the pool nor leave this result unsettled (CPython
    // gh-83371): the result settles, and the callback's error is rethrown on its own, as
    // an uncaught exception, like any throwing Node.js callback.
    try {
      if (outcome.ok) {
        this.#callbacks.callback?.(outcome.value as never);
      } else {
        this.#callbacks.errorCallback?.(outcome.error);
      }
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
    if (outcome.ok) {
      this.#deferred.resolve(outcome.value);
    } else {
      // A result nobody asks for must not become an unhandled rejection.
      this.#deferred.promise.catch(ignore);
      this.#deferred.reject(outcome.error);
    }
  }
}
