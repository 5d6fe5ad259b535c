/**
 * The IPC protocol between the pool (parent) and a worker (child). Shared by `lib/` and
 * `worker-entry/`. Every message carries `PROTOCOL_TAG`; anything else on the channel
 * is not ours and is ignored. Task code shares the worker's channel and could send
 * look-alike messages (`process.send`), so each worker also gets a random `key` in
 * `init`, before any task code runs, and signs what it sends with it: the pool settles
 * nothing from a message without the key.
 *
 * | direction | type          | when                                                      |
 * |-----------|---------------|-----------------------------------------------------------|
 * | ToWorker  | `init`        | first message after fork: name, task module, initializer  |
 * | FromWorker| `ready`       | module imported and initializer done; may take tasks      |
 * | FromWorker| `init-failed` | import or initializer threw; the worker then exits        |
 * | ToWorker  | `task`        | run `fn` over each argument list of `chunk`, in order      |
 * | FromWorker| `result`      | values of the chunk, up to and excluding a failing item    |
 * | FromWorker| `dying`       | the process is exiting (uncaught error, process.exit()):   |
 * |           |               | which task, if any, was running                           |
 *
 * A worker leaves when its channel closes (the pool calls `disconnect()`, or the parent
 * died) or, by itself, right after the result of its `maxTasks`-th task.
 */
import type { ErrorObject } from 'serialize-error';
import type { Packed } from './payload.js';

export const PROTOCOL_TAG = 'forkpool:1';

/** How a task function travels: by export name, or by source compiled once per worker. */
export type FnRef =
  | { kind: 'export'; name: string }
  /** `source` is sent the first time a worker sees function `id`, then only `id`. */
  | { kind: 'source'; id: number; name: string; source?: string };

export interface InitMessage {
  tag: typeof PROTOCOL_TAG;
  type: 'init';
  name: string;
  /** Random per worker; every `FromWorker` message carries it back. */
  key: string;
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
  tag: typeof PROTOCOL_TAG;
  type: 'task';
  id: number;
  fn: FnRef;
  /** Argument lists, one per item; `apply` sends a chunk of one. */
  chunk: Packed;
}

export type ToWorker = InitMessage | TaskMessage;

/** Why an item failed, as it travels back. */
export type TaskFailure = { kind: 'thrown'; error: ErrorObject } | { kind: 'unserializable'; detail: string };

export interface ReadyMessage {
  tag: typeof PROTOCOL_TAG;
  key: string;
  type: 'ready';
}

export interface InitFailedMessage {
  tag: typeof PROTOCOL_TAG;
  key: string;
  type: 'init-failed';
  /** What was being done: `'importing the task module …'` or `'running the initializer'`. */
  stage: string;
  error: ErrorObject;
}

export interface ResultMessage {
  tag: typeof PROTOCOL_TAG;
  key: string;
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
  tag: typeof PROTOCOL_TAG;
  key: string;
  type: 'dying';
  /** The task running when the process began to exit, or `null` between tasks. */
  taskId: number | null;
}

export type FromWorker = ReadyMessage | InitFailedMessage | ResultMessage | DyingMessage;

function isTagged(message: unknown): message is { tag: string; type: unknown } {
  return typeof message === 'object' && message !== null && (message as { tag?: unknown }).tag === PROTOCOL_TAG;
}

/** Type guard for what a worker receives. */
export function isToWorker(message: unknown): message is ToWorker {
  return isTagged(message) && (message.type === 'init' || message.type === 'task');
}

/** Type guard for what the pool receives from the worker that holds `key`. */
export function isFromWorker(message: unknown, key: string): message is FromWorker {
  return (
    isTagged(message) &&
    (message as { key?: unknown }).key === key &&
    (message.type === 'ready' ||
      message.type === 'init-failed' ||
      message.type === 'result' ||
      message.type === 'dying')
  );
}

/** Compile-time exhaustiveness check for `switch` over message types. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected message: ${JSON.stringify(value)}`);
}
