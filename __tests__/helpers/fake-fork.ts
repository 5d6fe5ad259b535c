/**
 * A fake `fork` for unit tests: children are EventEmitters that record what the pool
 * sends and let the test answer as a worker would. No process is started; messages go
 * through the real framing of lib/channel.ts.
 */
import { EventEmitter } from 'node:events';
import { FrameReader, encodeFrame } from '../../lib/channel.js';
import { tasksOf, type FromWorker, type ResultMessage, type TaskMessage, type ToWorker } from '../../lib/messages.js';
import type { ChannelLike, ChildLike, ForkFn } from '../../lib/pool-worker.js';
import { pack, unpack } from '../../lib/payload.js';

let nextPid = 100_000;

/** The argument lists of a task message, whether it holds them or (`single`) the lone argument of each. */
export function argLists(message: TaskMessage): unknown[][] {
  const list = unpack(message.chunk);
  return message.single ? list.map((arg) => [arg]) : (list as unknown[][]);
}

/** A frame of `messages` as the bytes a socket would deliver. */
export function frameBytes(messages: object[]): Buffer {
  return Buffer.concat(encodeFrame(messages).map((part) => Buffer.from(part)));
}

/**
 * The pool's end of the data channel: frames written are decoded into `frames`, and their
 * messages into `sent`, where a `tasks` message stands as the `task` messages it holds
 * (as a worker takes it).
 */
class FakeChannel extends EventEmitter implements ChannelLike {
  readonly #reader: FrameReader;
  /** Every write is read at once: nothing waits. */
  readonly writableLength = 0;
  readonly destroyed = false;
  constructor(sent: ToWorker[], frames: ToWorker[][]) {
    super();
    let frame: ToWorker[] = [];
    this.#reader = new FrameReader(
      (message) => {
        const toWorker = message as ToWorker;
        frame.push(toWorker);
        sent.push(...(toWorker.type === 'tasks' ? tasksOf(toWorker) : [toWorker]));
      },
      () => {
        frames.push(frame);
        frame = [];
      },
    );
  }
  write(data: string | Uint8Array): boolean {
    this.#reader.push(Buffer.from(data));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  ref(): void {}
  unref(): void {}
}

export class FakeChild extends EventEmitter implements ChildLike {
  readonly pid = nextPid++;
  connected = true;
  refed = true;
  /** What the pool sent, `tasks` messages taken apart into `task` messages. */
  readonly sent: ToWorker[] = [];
  /** The frames the pool wrote, as written. */
  readonly frames: ToWorker[][] = [];
  readonly signals: NodeJS.Signals[] = [];
  readonly channel = { ref: () => {}, unref: () => {} };
  readonly dataChannel = new FakeChannel(this.sent, this.frames);
  readonly stdio = [null, null, null, null, this.dataChannel];

  /** Messages of one type that the pool sent to this child. */
  sentOf<T extends ToWorker['type']>(type: T): Extract<ToWorker, { type: T }>[] {
    return this.sent.filter((message): message is Extract<ToWorker, { type: T }> => message.type === type);
  }

  /** Answers as the worker would; result values are given unpacked. */
  reply(message: FromWorker | (Omit<ResultMessage, 'values'> & { values: unknown[] })): void {
    const packed =
      message.type === 'result' && Array.isArray(message.values)
        ? { ...message, values: pack(message.values) }
        : message;
    this.dataChannel.emit('data', frameBytes([packed]));
  }

  /** The argument lists of the task with this id. */
  chunkOf(id: number): unknown[][] {
    return argLists(this.sentOf('task').find((message) => message.id === id)!);
  }

  ready(): this {
    this.reply({ type: 'ready' });
    return this;
  }

  /** Answers the task with this id with `values` computed from its chunk. */
  answer(id: number, compute: (args: unknown[]) => unknown = (args) => args[0]): void {
    this.reply({ type: 'result', id, values: this.chunkOf(id).map(compute) });
  }

  /** The process ends: 'exit', then the channels close. */
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.connected = false;
    this.emit('exit', code, signal);
    this.emit('disconnect');
    this.dataChannel.emit('close');
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
