/**
 * FIFO of tasks waiting for a worker. An array with a moving head, so taking the next
 * task is O(1); the array is compacted once the consumed head outgrows the rest.
 */
export class TaskQueue<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** Puts items back at the front, keeping their order (tasks of a worker that died before starting them). */
  unshift(...items: T[]): void {
    this.#items.splice(this.#head, 0, ...items);
  }

  /** The next item, left in place. */
  peek(): T | undefined {
    return this.#head === this.#items.length ? undefined : this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) {
      return undefined;
    }
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as T; // let it be collected
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns every item matching `predicate`. */
  remove(predicate: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      (predicate(item) ? removed : kept).push(item);
    }
    this.#items = kept;
    this.#head = 0;
    return removed;
  }

  /** Removes and returns everything. */
  clear(): T[] {
    return this.remove(() => true);
  }
}
