/**
 * Progress of a long call (`map`, `starmap`, `imap`, `imapUnordered`), reported to an
 * `onProgress` callback. Reports are coalesced: the first at once, then at most one per
 * `progressInterval`, and always a last one when the call is done, so that even a
 * million tiny tasks cost a handful of calls.
 */

/** What `onProgress` receives; a snapshot. */
export interface Progress {
  /**
   * Items finished, successfully or not. Never decreases from one report to the next.
   * @default 0 (the count before any chunk has settled)
   */
  readonly done: number;
  /**
   * Of those, items that failed (or were not run because an earlier item of their chunk failed).
   * @default 0 (the count before any chunk has settled)
   */
  readonly failed: number;
  /**
   * Items in the input, once known (`map` knows it at the start, `imap` at the end of its input).
   * @default undefined (until the whole input has been read)
   */
  readonly total: number | undefined;
}

/** Milliseconds between two reports, at most one per interval. */
export const progressInterval = 100;

export class ProgressReporter {
  readonly #callback: (progress: Progress) => void;
  #done = 0;
  #failed = 0;
  #total: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last = Number.NEGATIVE_INFINITY;

  constructor(callback: (progress: Progress) => void) {
    this.#callback = callback;
  }

  set total(total: number) {
    this.#total = total;
  }

  /** A chunk of `size` items finished, `failed` of them without a value. */
  chunkDone(size: number, failed: number): void {
    this.#done += size;
    this.#failed += failed;
    const wait = this.#last + progressInterval - performance.now();
    if (wait <= 0) {
      this.#report();
    } else {
      this.#timer ??= setTimeout(() => this.#report(), wait).unref();
    }
  }

  /** The call is done: one last report, now. */
  finish(): void {
    this.#report();
  }

  #report(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#last = performance.now();
    // A throwing callback must not break the pool's bookkeeping: rethrown on its own.
    try {
      this.#callback({ done: this.#done, failed: this.#failed, total: this.#total });
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
