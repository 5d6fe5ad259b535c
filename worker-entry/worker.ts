/**
 * The program every pool worker runs (`child_process.fork` target).
 *
 * It waits for `init` on its data channel (fd 4, lib/channel.ts), takes its name, imports
 * the task module and runs the initializer, says `ready`, then runs `task` messages (and
 * the tasks each `tasks` message holds) one at a time, in the order they came (the pool
 * may send several at once), and answers each with one `result` as soon as it ends. It
 * exits when its IPC channel closes (the pool is draining it, or the parent died) and, by
 * itself, after its `maxTasks`-th result.
 * Uncaught errors are not caught here: they kill the process, and the pool reports
 * `WorkerExitedError` for the task that was running and starts a replacement.
 */
import { fstatSync, readSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { isCloneable, toErrorObject } from './error-object.js';
import { compileSource } from '../lib/compile-source.js';
import { currentProcess, setWorkerIdentity } from '../lib/current-process.js';
import {
  FrameReader,
  encodeFrame,
  isMidFrame,
  writeDirect,
  writeEarly,
  writeEncoded,
  workerChannelFd,
} from '../lib/channel.js';
import { pack, packEarly, settle, unpack } from '../lib/payload.js';
import {
  assertNever,
  isToWorker,
  tasksOf,
  type FnRef,
  type FromWorker,
  type InitMessage,
  type TaskFailure,
  type TaskMessage,
} from '../lib/messages.js';

type TaskFn = (...args: unknown[]) => unknown;

let moduleUrl: string | null = null;
let taskModule: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
let tasksLeft = Number.POSITIVE_INFINITY;
let reportMemory = false;
const compiled = new Map<number, TaskFn>();
const queue: TaskMessage[] = [];
let draining = false;
/** The task running now, if any: told to the pool if this process is about to die. */
let runningTaskId: number | null = null;
/** When the task running now started (`nowMs()`). */
let runStartedAt = 0;
/** How long the task answered last ran, until `readWaiting` looks at the channel for it. */
let lastRunMs = 0;

/**
 * Milliseconds by the monotonic clock, from an arbitrary origin. Not `performance.now()`:
 * the first use of `performance` loads Node's perf_hooks modules, about a millisecond of
 * every worker's start that `process.hrtime()` does not cost.
 */
function nowMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}

function hasDataChannel(): boolean {
  try {
    return fstatSync(workerChannelFd).isSocket();
  } catch {
    return false;
  }
}

if (process.send === undefined || !hasDataChannel()) {
  console.error('forkpool: this is the worker entry of a Pool; it runs only as a child forked by a Pool.');
  process.exit(1);
}
const channel = new Socket({ fd: workerChannelFd, readable: true, writable: true });
/** Set once `init` has arrived: only then is there a pool to say `dying` to. */
let initialized = false;

// The parent closed the channel on purpose, or died: either way there is no one to answer.
process.on('disconnect', () => process.exit(0));

// An error no one caught (thrown from a callback, a rejection no one handled) ends the
// worker, as it would end any Node.js process, but on the next turn of the event loop
// rather than at once: a task that had already returned (its promise settles a microtask
// later) is still answered first. A task module with a handler of its own decides itself.
let exiting = false;
process.on('uncaughtException', (error, origin) => {
  if (process.listenerCount('uncaughtException') > 1 || exiting) {
    return;
  }
  exiting = true;
  const what = origin === 'unhandledRejection' ? 'Unhandled rejection' : 'Uncaught exception';
  process.stderr.write(`${what} in ${currentProcess().name} (it exits):\n${inspect(error)}\n`);
  setImmediate(() => process.exit(1));
});

/**
 * Writes a message to the pool at once, as its own frame. Results are never held back to
 * leave together: the pool takes the first task it sent and has no answer for to be the
 * one running (for its timeout, and for which task a worker killed from outside was
 * running), so each answer must leave as its task ends. `then` runs once it is written;
 * a failed write means the parent is gone, and its 'disconnect' ends this process.
 */
function send(message: FromWorker, then?: () => void): void {
  const frame = encodeFrame([message]);
  if (then === undefined && writeDirect(channel, directIo ? workerChannelFd : undefined, frame)) {
    return;
  }
  writeEncoded(channel, frame, then && whenWritten(then));
}

/** A write's callback that calls `then` once the write has succeeded. */
function whenWritten(then: () => void): (error?: Error | null) => void {
  return (error) => {
    if (error == null) {
      then();
    }
  };
}

/**
 * Whether the worker reads and writes small frames on the channel's descriptor itself, by
 * system calls that return at once (the socket is non-blocking), where the stream would
 * cost a turn of the event loop or its own bookkeeping. Not on Windows, where the channel
 * is a named pipe.
 */
const directIo = process.platform !== 'win32';

/** Tasks that ran at least this long are followed by a look at the channel (`readWaiting`). */
const readAfterMs = 1;
const readBuffer = Buffer.allocUnsafe(64 * 1024);

/**
 * The next task, if the pool has already sent it, read from the channel now rather than
 * after a turn of the event loop. While tasks take a millisecond or more the pool sends
 * the next one before it is needed, and it is then waiting in the socket. Only after
 * such a task (`lastRunMs`), and only when the stream holds nothing it has not delivered,
 * so that what is read here comes after all it has; a read that finds nothing costs a
 * failed system call, which a task of a millisecond or more makes small.
 */
function readWaiting(): TaskMessage | undefined {
  if (!directIo || lastRunMs < readAfterMs || tasksLeft <= 0 || channel.readableLength > 0) {
    return undefined;
  }
  lastRunMs = 0;
  let length: number;
  try {
    length = readSync(workerChannelFd, readBuffer, 0, readBuffer.length, null);
  } catch {
    return undefined; // EAGAIN: nothing there yet (any other error, the stream reports too)
  }
  if (length === 0) {
    return undefined; // the pool closed the channel: the stream reads the end as well
  }
  reader.push(Buffer.from(readBuffer.subarray(0, length)));
  return queue.shift();
}

// About to die (an uncaught error, process.exit() from task code): say which task was
// running, if any. Written synchronously, straight to the socket, so that it leaves
// before the exit; only when no earlier write is still pending, or it would cut into that one.
let dyingSent = false;
function sayDying(): void {
  if (!dyingSent && initialized && !isMidFrame() && channel.writableLength === 0 && !channel.destroyed) {
    dyingSent = true;
    try {
      const [line] = encodeFrame([{ type: 'dying', taskId: runningTaskId } satisfies FromWorker]);
      writeAll(Buffer.from(line));
    } catch {
      // the channel is gone or full: the pool learns from the exit alone
    }
  }
}
process.on('exit', sayDying);

/** How long an exiting worker waits for a full channel to take its last frame. */
const maxExitWriteMs = 1000;

/** `writeSync` to the channel until all of `data` is written (the socket is non-blocking). */
function writeAll(data: Uint8Array): void {
  const deadline = nowMs() + maxExitWriteMs;
  for (let offset = 0; offset < data.length;) {
    try {
      offset += writeSync(workerChannelFd, data, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || nowMs() > deadline) {
        throw error;
      }
    }
  }
}

const reader = new FrameReader((message) => {
  if (!isToWorker(message)) {
    return;
  }
  switch (message.type) {
    case 'init':
      void init(message);
      break;
    case 'task':
      queue.push(message);
      break;
    case 'tasks':
      queue.push(...tasksOf(message));
      break;
    default:
      assertNever(message);
  }
});
channel.on('data', (chunk: Buffer) => {
  reader.push(chunk);
  if (!draining) {
    drain();
  }
});
channel.on('error', () => {}); // the parent is gone: the IPC channel's 'disconnect' ends this process

async function init(message: InitMessage): Promise<void> {
  initialized = true;
  const identity = { name: message.name, importing: true };
  setWorkerIdentity(identity);
  moduleUrl = message.moduleUrl;
  tasksLeft = message.maxTasks ?? Number.POSITIVE_INFINITY;
  reportMemory = message.reportMemory;
  let stage = `changing to the working directory ${message.cwd}`;
  try {
    process.chdir(message.cwd);
    stage = `importing the task module ${moduleUrl === null ? '' : fileURLToPath(moduleUrl)}`;
    if (moduleUrl !== null) {
      taskModule = (await import(moduleUrl)) as Record<string, unknown>;
    }
    identity.importing = false;
    if (message.initializer !== null) {
      stage = 'running the initializer';
      await resolveFunction(message.initializer)(...unpack(message.initargs));
    }
  } catch (error) {
    send({ type: 'init-failed', stage, error: toErrorObject(error) }, () => process.exit(1));
    return;
  }
  send({ type: 'ready' });
}

function resolveFunction(ref: FnRef): TaskFn {
  if (ref.kind === 'export') {
    return exportedFunction(ref.name);
  }
  let fn = compiled.get(ref.id);
  if (fn === undefined) {
    if (ref.source === undefined) {
      throw new Error(`Protocol error: function #${ref.id} arrived without its source`);
    }
    fn = matchingExport(ref.name, ref.source) ?? compileSource(ref.source);
    compiled.set(ref.id, fn);
  }
  return fn;
}

function exportedFunction(name: string): TaskFn {
  const value = Object.hasOwn(taskModule, name) ? taskModule[name] : undefined;
  if (typeof value === 'function') {
    return value as TaskFn;
  }
  if (moduleUrl === null) {
    throw new TypeError(
      `Cannot look up \`${name}\` by name: the pool has no task module. ` +
        "Pass `module: new URL('./tasks.js', import.meta.url)` to new Pool(), or pass a function instead of a name.",
    );
  }
  const names = Object.keys(taskModule).filter((key) => typeof taskModule[key] === 'function');
  throw new TypeError(
    `The task module ${fileURLToPath(moduleUrl)} has no exported function \`${name}\`` +
      (Object.hasOwn(taskModule, name) ? ` (it is a ${typeof value})` : '') +
      `. Its exported functions: ${names.length > 0 ? names.join(', ') : '(none)'}`,
  );
}

/** A function sent by source that is in fact an export runs as that export, with its module scope. */
function matchingExport(name: string, source: string): TaskFn | undefined {
  const sameSource = (value: unknown): value is TaskFn =>
    typeof value === 'function' && Function.prototype.toString.call(value) === source;
  const byName = Object.hasOwn(taskModule, name) ? taskModule[name] : undefined;
  if (sameSource(byName)) {
    return byName;
  }
  return Object.values(taskModule).find(sameSource);
}

/**
 * Runs queued tasks in order. A task whose function returns a plain value is answered
 * in the same turn of the event loop, before any microtask it queued can throw.
 */
function drain(): void {
  for (let task = queue.shift() ?? readWaiting(); task !== undefined; task = queue.shift() ?? readWaiting()) {
    const pending = run(task);
    if (pending !== undefined) {
      draining = true;
      void pending.then(() => {
        draining = false;
        drain();
      });
      return;
    }
  }
}

/** Runs one chunk; returns a promise only if a task function returned one. */
function run(task: TaskMessage): Promise<void> | undefined {
  runningTaskId = task.id;
  runStartedAt = nowMs();
  const values: unknown[] = [];
  let fn: TaskFn;
  let items: unknown[];
  const single = task.single === true;
  try {
    fn = resolveFunction(task.fn);
    items = unpack(task.chunk);
  } catch (error) {
    return answer(task, values, error);
  }
  const step = (from: number): Promise<void> | undefined => {
    for (let i = from; i < items.length; i++) {
      let value: unknown;
      try {
        value = single ? fn(items[i]) : fn(...(items[i] as unknown[]));
      } catch (error) {
        return answer(task, values, error);
      }
      if (isThenable(value)) {
        return Promise.resolve(value).then(
          (resolved) => {
            values.push(resolved);
            return step(i + 1);
          },
          (error: unknown) => answer(task, values, error),
        );
      }
      values.push(value);
    }
    return answer(task, values);
  };
  return step(0);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function answer(task: TaskMessage, values: unknown[], ...thrown: [] | [unknown]): undefined {
  lastRunMs = nowMs() - runStartedAt;
  const failure: TaskFailure | undefined =
    thrown.length > 0 ? { kind: 'thrown', error: toErrorObject(thrown[0]) } : undefined;
  const retire = --tasksLeft === 0 ? () => process.exit(0) : undefined;
  const rss = reportMemory ? process.memoryUsage.rss() : undefined;
  try {
    const packed = packEarly(values);
    if ('unchecked' in packed) {
      // Long: it leaves as JSON while the check goes on (lib/channel.ts, writeEarly).
      const result = { type: 'result', id: task.id, failure, rss } as const;
      writeEarly(
        channel,
        directIo && !channel.destroyed ? workerChannelFd : undefined,
        [{ ...result, values: { plain: packed.unchecked } } satisfies FromWorker],
        (onProgress) => {
          const settled = settle(packed, onProgress);
          return 'plain' in settled ? undefined : [{ ...result, values: settled } satisfies FromWorker];
        },
        retire && whenWritten(retire),
      );
    } else {
      send({ type: 'result', id: task.id, values: packed, failure, rss }, retire);
    }
  } catch (error) {
    // A value that structured clone refuses (a function, a symbol …): report it, stay alive.
    const bad = values.findIndex((value) => !isCloneable(value));
    send(
      {
        type: 'result',
        id: task.id,
        values: pack(values.slice(0, Math.max(bad, 0))),
        failure: { kind: 'unserializable', detail: (error as Error).message },
        rss,
      },
      retire,
    );
  }
  runningTaskId = null;
  return undefined;
}
