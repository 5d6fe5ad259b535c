/**
 * One worker process, seen from the parent: its child process, its lifecycle state and
 * the tasks sent to it that have not come back. The pool manager decides; this class
 * only carries out and reports.
 *
 *   starting ──ready──▶ idle ◀──▶ busy          (the manager sends tasks)
 *      │                 │         │
 *      │                 └─────────┴──▶ retiring (its last task under maxTasksPerChild is sent)
 *      └──────────────── any ─────────▶ stopping (disconnect or kill sent by the pool)
 *                        any ─────────▶ exited   (process gone and channel closed)
 */
import type { EventEmitter } from 'node:events';
import type { ForkOptions } from 'node:child_process';
import {
  FrameError,
  FrameReader,
  encodeFrame,
  readEagerly,
  writeDirect,
  writeEarly,
  writeEncoded,
  workerChannelFd,
  type EarlySink,
  type PushingSource,
} from './channel.js';
import {
  isFromWorker,
  tasksOf,
  type FnRef,
  type FromWorker,
  type InitMessage,
  type TaskMessage,
  type ToWorker,
} from './messages.js';
import { pack, packEarly, settle, type Packed, type Unchecked } from './payload.js';
import type { FnRecord } from './task-functions.js';
import type { WorkerExitInfo } from './errors.js';
import type { ExitReason } from './pool-stats.js';

/**
 * The pool's end of a worker's data channel (`lib/channel.ts`): a socket. Emits `'data'`
 * (unless its `push` takes what it reads, `readEagerly`), `'close'`, `'error'`.
 */
export interface ChannelLike extends EventEmitter, EarlySink, PushingSource {
  readonly destroyed: boolean;
  ref(): void;
  unref(): void;
}

/**
 * The descriptor of a channel's socket, for `writeEarly` to write to directly, if Node.js
 * shows it: `_handle.fd`, which it does not document (on Windows a named pipe has none).
 * Without it, a long list goes through the stream, after its check. Read at each use:
 * once the socket is closed it has no handle, and its number may name another file.
 */
function descriptorOf(channel: ChannelLike): number | undefined {
  const fd = (channel as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** The part of `ChildProcess` the pool uses; unit tests pass a fake. */
export interface ChildLike extends EventEmitter {
  readonly pid?: number | undefined;
  readonly connected: boolean;
  readonly channel?: { ref(): void; unref(): void } | null | undefined;
  /** `stdio[4]` is the data channel. */
  readonly stdio: readonly unknown[];
  kill(signal?: NodeJS.Signals): boolean;
  disconnect(): void;
  ref(): void;
  unref(): void;
}

/** Items in a chunk from which its task is written at once, alone, rather than with others. */
const bigChunk = 64;

export type ForkFn = (modulePath: string, args: readonly string[], options: ForkOptions) => ChildLike;

export type WorkerState = 'starting' | 'idle' | 'busy' | 'retiring' | 'stopping' | 'exited';

/** One message's worth of work: a chunk of calls of one function. */
export interface Task {
  readonly id: number;
  readonly fn: FnRecord;
  /** One entry per call: its argument list, or with `single`, its one argument itself. */
  readonly chunk: readonly unknown[];
  /** Every call has one argument, and `chunk` holds those (`map`, `imap`). */
  readonly single?: boolean;
  /** Milliseconds the chunk may run before its worker is stopped; `undefined`: no limit. */
  readonly timeout?: number | undefined;
  /** Called exactly once, by the manager, with the chunk's values or its error. */
  settle(values: unknown[], error?: Error): void;
  /**
   * The manager's bookkeeping: the worker it was sent to, when it started to run there
   * (`performance.now()`; it runs once the tasks sent before it are answered), its
   * timeout timer, whether settled.
   */
  worker?: PoolWorker | undefined;
  startedAt?: number | undefined;
  timer?: NodeJS.Timeout | undefined;
  settled?: boolean;
}

/**
 * A new task, its bookkeeping fields there from the start (so that every task has one
 * shape, and filling them in later adds no properties).
 */
export function newTask(
  id: number,
  fn: FnRecord,
  chunk: readonly unknown[],
  single: boolean,
  timeout: number | undefined,
  settle: Task['settle'],
): Task {
  return {
    id,
    fn,
    chunk,
    single,
    timeout,
    settle,
    worker: undefined,
    startedAt: undefined,
    timer: undefined,
    settled: false,
  };
}

/** What a worker reports to its manager. */
export interface WorkerListener {
  onMessage(worker: PoolWorker, message: FromWorker): void;
  /** The messages of one frame (what the worker had ready at once) have all been read. */
  onFrameEnd(worker: PoolWorker): void;
  /** The process is gone and its channel drained: no message from it can still arrive. */
  onExit(worker: PoolWorker, info: WorkerExitInfo, cause?: Error): void;
  /**
   * Tasks in flight on `worker` that were not sent after all: writing them threw `error`
   * (see `#writeEach`). Called while the pool sends, from `uncork()`.
   */
  onUnsent(worker: PoolWorker, taskIds: readonly number[], error: unknown): void;
}

export class PoolWorker {
  readonly name: string;
  state: WorkerState = 'starting';
  /** Tasks sent and not yet answered, in the order sent: the first is the one running. */
  readonly inFlight: Task[] = [];
  /** Tasks sent so far, checked against `maxTasksPerChild`. */
  tasksSent = 0;
  /** Why the pool is letting this worker go, once it has decided to; else it crashed. */
  exitReason: ExitReason | undefined;
  /** Set when the worker said it is exiting: the task it was running then, or `null`. */
  dyingDuring: number | null | undefined;
  readonly #child: ChildLike;
  readonly #channel: ChannelLike | undefined;
  readonly #listener: WorkerListener;
  readonly #knownFunctions = new Set<number>();
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #channelClosed = false;
  #protocolError: Error | undefined;
  #finished = false;
  #killTimer: NodeJS.Timeout | undefined;
  /** Messages held back by `cork()`. */
  #outbox: ToWorker[] | undefined;
  /** Set while `#sendEarly` writes a long list and checks it. */
  #writingEarly = false;
  /** The function of the `tasks` message last started in `#outbox`. */
  #batchFn: FnRecord | undefined;

  constructor(name: string, child: ChildLike, init: Omit<InitMessage, 'type' | 'name'>, listener: WorkerListener) {
    this.name = name;
    this.#child = child;
    this.#listener = listener;
    const channel = child.stdio[workerChannelFd] as ChannelLike | null | undefined;
    this.#channel = channel ?? undefined;
    if (channel) {
      const reader = new FrameReader(
        (message) => {
          if (isFromWorker(message) && !this.#finished) {
            listener.onMessage(this, message);
          }
        },
        () => {
          if (!this.#finished) {
            listener.onFrameEnd(this);
          }
        },
      );
      const onChunk = (chunk: Buffer): void => {
        if (this.#protocolError !== undefined) {
          return;
        }
        try {
          reader.push(chunk);
        } catch (error) {
          if (!(error instanceof FrameError)) {
            throw error;
          }
          // Only task code writing to the worker's fd 4 itself can garble a frame.
          this.#protocolError = new Error(`The worker wrote a malformed frame to the pool: ${error.message}`, {
            cause: error,
          });
          this.kill(0);
        }
      };
      readEagerly(channel, onChunk);
      channel.on('data', onChunk);
      // A result written just before exit may be read after 'exit': wait for the channel too.
      channel.on('close', () => {
        this.#channelClosed = true;
        this.#maybeFinish();
      });
      channel.on('error', () => {}); // ECONNRESET, EPIPE: the worker is gone; 'close' follows
    } else {
      this.#channelClosed = true; // fork() failed: there is no channel
    }
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      this.#exit = { code, signal };
      this.#maybeFinish();
    });
    child.on('error', (error: Error) => {
      if (child.pid === undefined) {
        // fork() itself failed (EAGAIN, ENOMEM …): there is no process to wait for.
        this.#finish({ code: null, signal: null }, error);
      }
      // Otherwise a failed kill() to a dying process; 'exit' follows.
    });
    this.#send({ type: 'init', name, ...init });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * Sends a task. Throws what structured clone throws (then nothing was sent). While
   * corked, a task whose chunk is JSON joins the `tasks` message of its function at the
   * end of the frame, or starts one. A chunk of `bigChunk` items or more is written at
   * once, in a frame of its own, so that the worker starts on it while the next ones are
   * packed.
   */
  run(task: Task): void {
    const { fn, chunk } = task;
    const ref = fn.full.kind === 'source' && this.#knownFunctions.has(fn.full.id) ? fn.short : fn.full;
    // Calls of one argument each (every `map`, most `apply`s): the arguments travel
    // alone, not wrapped in lists.
    const lone = task.single === true ? chunk : loneArguments(chunk as readonly unknown[][]);
    // While a long list is being written, one a getter of it sends is checked whole first.
    const packed = this.#writingEarly
      ? pack(lone ?? chunk, lone === undefined ? 2 : 1)
      : packEarly(lone ?? chunk, lone === undefined ? 2 : 1);
    // In flight and counted before it is written: a task that a getter of a long list
    // sends to this worker while that list is checked is sent after it, and counted after it.
    this.inFlight.push(task);
    this.tasksSent++;
    try {
      this.#writeTask(task, ref, lone !== undefined, packed);
    } catch (error) {
      // Not sent (JSON.stringify met a getter that throws on a second read, or a long
      // list turned out not to be cloneable): not in flight either.
      this.inFlight.splice(this.inFlight.indexOf(task), 1);
      this.tasksSent--;
      throw error;
    }
    if (fn.full.kind === 'source') {
      this.#knownFunctions.add(fn.full.id);
    }
  }

  /** Writes `task`, packed, as `run` says. */
  #writeTask(task: Task, ref: FnRef, single: boolean, packed: Packed | Unchecked): void {
    const outbox = this.#outbox;
    if ('unchecked' in packed) {
      this.#sendEarly(
        single ? { type: 'task', id: task.id, fn: ref, single: true } : { type: 'task', id: task.id, fn: ref },
        packed,
      );
    } else if (outbox !== undefined && task.chunk.length < bigChunk && 'plain' in packed) {
      this.#batch(outbox, task.fn, ref, task.id, packed.plain, single);
    } else {
      const message: TaskMessage = single
        ? { type: 'task', id: task.id, fn: ref, chunk: packed, single: true }
        : { type: 'task', id: task.id, fn: ref, chunk: packed };
      if (task.chunk.length >= bigChunk && outbox !== undefined) {
        this.uncork();
        this.#send(message);
        this.cork();
      } else {
        this.#send(message);
      }
    }
  }

  /**
   * Adds a task to the `tasks` message at the end of `outbox` if it is of the same function
   * (and kind of chunk), else starts one there.
   */
  #batch(outbox: ToWorker[], record: FnRecord, ref: FnRef, id: number, chunk: unknown[], single: boolean): void {
    const last = outbox.at(-1);
    if (last?.type === 'tasks' && this.#batchFn === record && (last.single === true) === single) {
      last.ids.push(id);
      last.chunks.push(chunk);
      return;
    }
    this.#batchFn = record;
    outbox.push(
      single
        ? { type: 'tasks', fn: ref, single: true, ids: [id], chunks: [chunk] }
        : { type: 'tasks', fn: ref, ids: [id], chunks: [chunk] },
    );
  }

  /** Holds back the messages of the next `run` calls until `uncork`, to send them in one frame. */
  cork(): void {
    this.#outbox ??= [];
  }

  uncork(): void {
    if (this.#writingEarly) {
      return; // held until the long list's frame is settled (`#sendEarly`)
    }
    const outbox = this.#outbox;
    this.#outbox = undefined;
    if (outbox !== undefined && outbox.length > 0) {
      this.#write(outbox);
    }
  }

  /** Whether the process keeps the parent's event loop alive. */
  setRef(ref: boolean): void {
    if (ref) {
      this.#child.ref();
      this.#child.channel?.ref();
      this.#channel?.ref();
    } else {
      this.#child.unref();
      this.#child.channel?.unref();
      this.#channel?.unref();
    }
  }

  /** Lets the worker leave on its own: it exits when its channel closes. */
  disconnect(): void {
    this.state = 'stopping';
    if (this.#child.connected) {
      this.#child.disconnect();
    }
  }

  /** `SIGTERM` now, `SIGKILL` after `graceMs` if it is still there. */
  kill(graceMs: number): void {
    this.state = 'stopping';
    // No pid: fork() failed and there is no process. (child.kill() would then signal
    // pid 0, the caller's whole process group.)
    if (this.#exit !== undefined || this.#finished || this.#child.pid === undefined) {
      return;
    }
    // Signals go through this worker's own ChildProcess, which refuses once the process
    // has been reaped: a recycled pid can never receive them.
    this.#child.kill('SIGTERM');
    this.#killTimer ??= setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
  }

  #send(message: ToWorker): void {
    if (this.#outbox === undefined) {
      this.#write([message]);
    } else {
      this.#outbox.push(message);
    }
  }

  /**
   * Sends a task whose chunk is long (`Unchecked`): as JSON at once, then checked while the
   * worker reads it (`writeEarly`), after what is held back. Throws what structured clone
   * throws (the worker then drops the task unread).
   */
  #sendEarly(message: Omit<TaskMessage, 'chunk'>, chunk: Unchecked): void {
    const corked = this.#outbox !== undefined;
    this.uncork(); // what was held back goes first
    // What a getter of the list sends meanwhile waits, so that no frame comes between the
    // tentative one and the one that settles it.
    this.cork();
    this.#writingEarly = true;
    try {
      const replace = (packed: Packed): readonly ToWorker[] | undefined =>
        'plain' in packed ? undefined : [{ ...message, chunk: packed }];
      if (this.#channel === undefined) {
        settle(chunk); // no worker to send to, but the same error for what cannot be cloned
      } else {
        writeEarly(
          this.#channel,
          descriptorOf(this.#channel),
          [{ ...message, chunk: { plain: chunk.unchecked } }],
          (onProgress) => replace(settle(chunk, onProgress)),
        );
      }
    } finally {
      this.#writingEarly = false;
      if (!corked) {
        this.uncork();
      }
    }
  }

  #write(messages: ToWorker[]): void {
    // A failed write (EPIPE: the worker is dying) is followed by 'close' and 'exit'.
    if (this.#channel === undefined) {
      return;
    }
    let frame: [string, ...Uint8Array[]];
    try {
      frame = encodeFrame(messages);
    } catch (error) {
      this.#writeEach(this.#channel, messages, error);
      return;
    }
    if (!writeDirect(this.#channel, descriptorOf(this.#channel), frame)) {
      writeEncoded(this.#channel, frame);
    }
  }

  /**
   * When the frame of `messages` cannot be made: JSON.stringify threw on reading a task's
   * argument that passed the check when the task was packed (a getter that throws when
   * read again). Writes each task that still encodes, in order, a frame each, and hands
   * the others to the listener, as not sent.
   */
  #writeEach(channel: ChannelLike, messages: readonly ToWorker[], error: unknown): void {
    const unsent: number[] = [];
    // Functions sent by source: a worker that gets none of the tasks carrying it has not seen it.
    const sourceSent = new Set<number>();
    const sourceUnsent = new Set<number>();
    for (const message of messages) {
      for (const one of message.type === 'tasks' ? tasksOf(message) : [message]) {
        const sourceId =
          one.type === 'task' && one.fn.kind === 'source' && one.fn.source !== undefined ? one.fn.id : undefined;
        let frame: [string, ...Uint8Array[]];
        try {
          frame = encodeFrame([one]);
        } catch {
          if (one.type !== 'task') {
            throw error; // only task messages hold what callers pass
          }
          unsent.push(one.id);
          if (sourceId !== undefined) {
            sourceUnsent.add(sourceId);
          }
          continue;
        }
        writeEncoded(channel, frame);
        if (sourceId !== undefined) {
          sourceSent.add(sourceId);
        }
      }
    }
    for (const id of sourceUnsent) {
      if (!sourceSent.has(id)) {
        this.#knownFunctions.delete(id);
      }
    }
    this.#listener.onUnsent(this, unsent, error);
  }

  #maybeFinish(): void {
    if (this.#exit !== undefined && this.#channelClosed) {
      this.#finish(this.#exit, this.#protocolError);
    }
  }

  #finish(exit: { code: number | null; signal: NodeJS.Signals | null }, cause?: Error): void {
    if (this.#finished) {
      return;
    }
    this.#finished = true;
    clearTimeout(this.#killTimer);
    // The listener reads the state the worker was in when it died.
    this.#listener.onExit(
      this,
      { workerName: this.name, pid: this.pid, exitCode: exit.code, signal: exit.signal },
      cause,
    );
    this.state = 'exited';
  }
}

/** The one argument of each call, when every call has exactly one; else `undefined`. */
function loneArguments(chunk: readonly unknown[][]): unknown[] | undefined {
  const lone = new Array<unknown>(chunk.length);
  for (let i = 0; i < chunk.length; i++) {
    const args = chunk[i]!;
    if (args.length !== 1) {
      return undefined;
    }
    lone[i] = args[0];
  }
  return lone;
}
