/**
 * A fake `fork` for unit tests: children are EventEmitters that record what the pool
 * sends and let the test answer as a worker would. No process is started.
 */
import { EventEmitter } from 'node:events';
import { PROTOCOL_TAG, type FromWorker, type ResultMessage, type ToWorker } from '../../lib/messages.js';
import type { ChildLike, ForkFn } from '../../lib/pool-worker.js';
import { pack, unpack } from '../../lib/payload.js';

type Untagged<T> = T extends unknown ? Omit<T, 'tag' | 'key'> : never;

let nextPid = 100_000;

export class FakeChild extends EventEmitter implements ChildLike {
  readonly pid = nextPid++;
  connected = true;
  refed = true;
  readonly sent: ToWorker[] = [];
  readonly signals: NodeJS.Signals[] = [];
  readonly channel = { ref: () => {}, unref: () => {} };
  send(message: unknown, callback?: (error: Error | null) => void): boolean {
    this.sent.push(message as ToWorker);
    callback?.(null);
    return true;
  }

  /** Messages of one type that the pool sent to this child. */
  sentOf<T extends ToWorker['type']>(type: T): Extract<ToWorker, { type: T }>[] {
    return this.sent.filter((message): message is Extract<ToWorker, { type: T }> => message.type === type);
  }

  /** Answers as the worker would; result values are given unpacked. */
  reply(message: Untagged<FromWorker> | (Omit<Untagged<ResultMessage>, 'values'> & { values: unknown[] })): void {
    const packed =
      message.type === 'result' && Array.isArray(message.values)
        ? { ...message, values: pack(message.values, 1) }
        : message;
    this.emit('message', { tag: PROTOCOL_TAG, key: this.sentOf('init')[0]!.key, ...packed });
  }

  /** The argument lists of the task with this id. */
  chunkOf(id: number): unknown[][] {
    return unpack(this.sentOf('task').find((message) => message.id === id)!.chunk) as unknown[][];
  }

  ready(): this {
    this.reply({ type: 'ready' });
    return this;
  }

  /** Answers the task with this id with `values` computed from its chunk. */
  answer(id: number, compute: (args: unknown[]) => unknown = (args) => args[0]): void {
    this.reply({ type: 'result', id, values: this.chunkOf(id).map(compute) });
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
