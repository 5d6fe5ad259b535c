/**
 * A fake `fork` for unit tests: children are EventEmitters that record what the pool
 * sends and let the test answer as a worker would. No process is started.
 */
import { EventEmitter } from 'node:events';
import { PROTOCOL_TAG, type FromWorker, type ToWorker } from '../../lib/messages.js';
import type { ChildLike, ForkFn } from '../../lib/pool-worker.js';

type Untagged<T> = T extends unknown ? Omit<T, 'tag'> : never;

let nextPid = 100_000;

export class FakeChild extends EventEmitter implements ChildLike {
  readonly pid = nextPid++;
  connected = true;
  refed = true;
  readonly sent: ToWorker[] = [];
  readonly signals: NodeJS.Signals[] = [];
  readonly channel = { ref: () => {}, unref: () => {} };
  /** Makes the next `send` throw, as structured clone does for a function. */
  failNextSend: Error | undefined;

  send(message: unknown, callback?: (error: Error | null) => void): boolean {
    if (this.failNextSend) {
      const error = this.failNextSend;
      this.failNextSend = undefined;
      throw error;
    }
    this.sent.push(message as ToWorker);
    callback?.(null);
    return true;
  }

  /** Messages of one type that the pool sent to this child. */
  sentOf<T extends ToWorker['type']>(type: T): Extract<ToWorker, { type: T }>[] {
    return this.sent.filter((message): message is Extract<ToWorker, { type: T }> => message.type === type);
  }

  /** Answers as the worker would. */
  reply(message: Untagged<FromWorker>): void {
    this.emit('message', { tag: PROTOCOL_TAG, ...message });
  }

  ready(): this {
    this.reply({ type: 'ready' });
    return this;
  }

  /** Answers the task with this id with `values` computed from its chunk. */
  answer(id: number, compute: (args: unknown[]) => unknown = (args) => args[0]): void {
    const task = this.sentOf('task').find((message) => message.id === id)!;
    this.reply({ type: 'result', id, values: task.chunk.map(compute) });
  }

  /** The process ends: 'exit', then the channel closes. */
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.connected = false;
    this.emit('exit', code, signal);
    this.emit('disconnect');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    queueMicrotask(() => this.exit(null, signal));
    return true;
  }

  disconnect(): void {
    queueMicrotask(() => this.exit(0));
  }

  ref(): void {
    this.refed = true;
  }

  unref(): void {
    this.refed = false;
  }
}

/** A fork function and the children it made, in order. */
export function fakeFork(): { fork: ForkFn; children: FakeChild[] } {
  const children: FakeChild[] = [];
  const fork: ForkFn = () => {
    const child = new FakeChild();
    children.push(child);
    return child;
  };
  return { fork, children };
}

/** Lets queued microtasks and promise callbacks run. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
