/**
 * The program every pool worker runs (`child_process.fork` target).
 *
 * It waits for `init`, takes its name, imports the task module and runs the initializer,
 * says `ready`, then runs `task` messages one at a time, in the order they came, and
 * answers each with one `result`. It exits when its IPC channel closes (the pool is
 * draining it, or the parent died) and, by itself, after its `maxTasks`-th result.
 * Uncaught errors are not caught here: they kill the process, and the pool reports
 * `WorkerExitedError` for the task that was running and starts a replacement.
 */
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { isCloneable, toErrorObject } from './error-object.js';
import { compileSource } from '../lib/compile-source.js';
import { currentProcess, setWorkerIdentity } from '../lib/current-process.js';
import { pack, unpack } from '../lib/payload.js';
import {
  PROTOCOL_TAG,
  assertNever,
  isToWorker,
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

if (process.send === undefined) {
  console.error('forkpool: this is the worker entry of a Pool; it runs only as a forked child with an IPC channel.');
  process.exit(1);
}
// Taken before any task code runs: a task that replaces process.send does not see ours.
const sendToPool = process.send.bind(process);
/** Signs every message to the pool (see lib/messages.ts); set by `init`. */
let key = '';

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

// About to die (an uncaught error, process.exit() from task code): say which task was
// running, if any. A short write to the channel goes out at once, before the exit.
let dyingSent = false;
function sayDying(): void {
  if (!dyingSent && key !== '' && process.connected) {
    dyingSent = true;
    try {
      sendToPool({ tag: PROTOCOL_TAG, key, type: 'dying', taskId: runningTaskId });
    } catch {
      // the channel is gone: the pool learns from the exit alone
    }
  }
}
process.on('exit', sayDying);

process.on('message', (message: unknown) => {
  if (!isToWorker(message)) {
    return; // not ours
  }
  switch (message.type) {
    case 'init':
      void init(message);
      break;
    case 'task':
      queue.push(message);
      if (!draining) {
        drain();
      }
      break;
    default:
      assertNever(message);
  }
});

type Unsigned<T> = T extends unknown ? Omit<T, 'tag' | 'key'> : never;

/** Sends to the pool; `then` runs once the message is written (a failed write means the parent is gone). */
function send(message: Unsigned<FromWorker>, then?: () => void): void {
  sendToPool({ tag: PROTOCOL_TAG, key, ...message } as FromWorker, undefined, undefined, (error: Error | null) => {
    if (error === null) {
      then?.();
    }
  });
}

async function init(message: InitMessage): Promise<void> {
  key = message.key;
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
  for (let task = queue.shift(); task !== undefined; task = queue.shift()) {
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
  const values: unknown[] = [];
  let fn: TaskFn;
  let items: unknown[][];
  try {
    fn = resolveFunction(task.fn);
    items = unpack(task.chunk) as unknown[][];
  } catch (error) {
    return answer(task, values, error);
  }
  const step = (from: number): Promise<void> | undefined => {
    for (let i = from; i < items.length; i++) {
      let value: unknown;
      try {
        value = fn(...items[i]!);
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
  const failure: TaskFailure | undefined =
    thrown.length > 0 ? { kind: 'thrown', error: toErrorObject(thrown[0]) } : undefined;
  const retire = --tasksLeft === 0 ? () => process.exit(0) : undefined;
  const rss = reportMemory ? process.memoryUsage.rss() : undefined;
  try {
    send({ type: 'result', id: task.id, values: pack(values, 1), failure, rss }, retire);
  } catch (error) {
    // A value that structured clone refuses (a function, a symbol …): report it, stay alive.
    const bad = values.findIndex((value) => !isCloneable(value));
    send(
      {
        type: 'result',
        id: task.id,
        values: pack(values.slice(0, Math.max(bad, 0)), 1),
        failure: { kind: 'unserializable', detail: (error as Error).message },
        rss,
      },
      retire,
    );
  }
  runningTaskId = null;
  return undefined;
}
