/**
 * The protocol between the pool (parent) and a worker (child), spoken over the data
 * channel of `lib/channel.ts` (the worker's fd 4). Shared by `lib/` and `worker-entry/`.
 *
 * | direction | type          | when                                                      |
 * |-----------|---------------|-----------------------------------------------------------|
 * | ToWorker  | `init`        | first message after fork: name, task module, initializer  |
 * | FromWorker| `ready`       | module imported and initializer done; may take tasks      |
 * | FromWorker| `init-failed` | import or initializer threw; the worker then exits        |
 * | ToWorker  | `task`        | run `fn` over each argument list of `chunk`, in order;     |
 * |           |               | several may be sent before the first is answered           |
 * | ToWorker  | `tasks`       | several `task`s of one function at once, each chunk sent   |
 * |           |               | as JSON: the same as those `task`s, one after the other    |
 * | FromWorker| `result`      | values of the chunk, up to and excluding a failing item    |
 * | FromWorker| `dying`       | the process is exiting (uncaught error, process.exit()):   |
 * |           |               | which task, if any, was running                           |
 *
 * A worker runs its tasks one at a time in the order they came and answers each as soon
 * as it ends, so the pool always knows which task a worker is running: the first one sent
 * and not answered. A worker leaves when its IPC channel closes (the pool calls
 * `disconnect()`, or the parent died) or, by itself, right after the result of its
 * `maxTasks`-th task.
 */
import type { ErrorObject } from 'serialize-error';
import type { Packed } from './payload.js';

/** How a task function travels: by export name, or by source compiled once per worker. */
export type FnRef =
  | { kind: 'export'; name: string }
  /** `source` is sent the first time a worker sees function `id`, then only `id`. */
  | { kind: 'source'; id: number; name: string; source?: string };

export interface InitMessage {
  type: 'init';
  name: string;
  /** `file:` URL of the task module, or `null` when the pool has none. */
  moduleUrl: string | null;
  initializer: FnRef | null;
  initargs: Packed;
  /** The worker exits after this many tasks (`null`: never). */
  maxTasks: number | null;
  /** Whether to report the process's RSS with each result (for `maxMemoryPerChild`). */
  reportMemory: boolean;
  /**
   * The working directory to change to before anything else. The process starts in the
   * parent's, so that loader flags it inherited (`--import tsx`) resolve as the parent's did.
   */
  cwd: string;
}

export interface TaskMessage {
  type: 'task';
  id: number;
  fn: FnRef;
  /** Argument lists, one per item; `apply` sends a chunk of one. */
  chunk: Packed;
  /** Set when every item has one argument: `chunk` then holds the arguments themselves. */
  single?: true;
}

/**
 * Tasks of one function, sent together: `ids[i]` runs `chunks[i]` (a chunk as `{ plain }`
 * would hold it). Only for chunks that pack as JSON; it spares each task its own message
 * (its type, its function, its wrapper), which costs more to write and to read than a
 * tiny task's arguments.
 */
export interface TasksMessage {
  type: 'tasks';
  fn: FnRef;
  single?: true;
  ids: number[];
  chunks: unknown[][];
}

export type ToWorker = InitMessage | TaskMessage | TasksMessage;

/** The `task` messages a `tasks` message stands for, in order. */
export function tasksOf(message: TasksMessage): TaskMessage[] {
  const { fn, ids, chunks } = message;
  const tasks = new Array<TaskMessage>(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const chunk = { plain: chunks[i]! };
    tasks[i] =
      message.single === true
        ? { type: 'task', id: ids[i]!, fn, chunk, single: true }
        : { type: 'task', id: ids[i]!, fn, chunk };
  }
  return tasks;
}

/** Why an item failed, as it travels back. */
export type TaskFailure = { kind: 'thrown'; error: ErrorObject } | { kind: 'unserializable'; detail: string };

export interface ReadyMessage {
  type: 'ready';
}

export interface InitFailedMessage {
  type: 'init-failed';
  /** What was being done: `'importing the task module …'` or `'running the initializer'`. */
  stage: string;
  error: ErrorObject;
}

export interface ResultMessage {
  type: 'result';
  id: number;
  /** Results of the chunk's items in order; shorter than the chunk when `failure` is set. */
  values: Packed;
  failure?: TaskFailure;
  /** Resident set size after the task, in bytes, when `init` asked for it. */
  rss?: number;
}

/**
 * Sent, when it can be, by a worker about to exit, so that a task sent to it but not yet
 * started (its message unread) runs elsewhere instead of failing with the worker.
 */
export interface DyingMessage {
  type: 'dying';
  /** The task running when the process began to exit, or `null` between tasks. */
  taskId: number | null;
}

export type FromWorker = ReadyMessage | InitFailedMessage | ResultMessage | DyingMessage;

const fromWorkerTypes: ReadonlySet<unknown> = new Set(['ready', 'init-failed', 'result', 'dying']);

/** Type guard for what a worker receives. */
export function isToWorker(message: unknown): message is ToWorker {
  const type = (message as { type?: unknown } | null)?.type;
  return type === 'init' || type === 'task' || type === 'tasks';
}

/** Type guard for what the pool receives. */
export function isFromWorker(message: unknown): message is FromWorker {
  return fromWorkerTypes.has((message as { type?: unknown } | null)?.type);
}

/** Compile-time exhaustiveness check for `switch` over message types. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected message: ${JSON.stringify(value)}`);
}
