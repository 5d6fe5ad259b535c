/**
 * The parent side of the pool: keeps `processes` workers alive, hands queued tasks to
 * idle workers, settles tasks from their results, and replaces workers that retire or
 * die. CPython's task handler, result handler and worker maintainer, as one event-driven
 * object: no threads, no polling.
 *
 * States: running → closed (no new work; queued work drains, then workers are
 * disconnected) or → terminated (workers killed, unsettled tasks rejected). Workers that
 * cannot start (an import or initializer error, or three deaths before ready in a row)
 * also terminate the pool, with that error as the reason, instead of respawning workers
 * in a loop.
 */
import { fork as nodeFork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pDefer from 'p-defer';
import { deserializeError } from 'serialize-error';
import { nextWorkerName } from './current-process.js';
import {
  PoolNotRunningError,
  PoolTerminatedError,
  SerializationError,
  WorkerExitedError,
  WorkerInitError,
  type WorkerExitInfo,
} from './errors.js';
import { assertNever, type FnRef, type FromWorker, type TaskFailure } from './messages.js';
import { unpack, type Packed } from './payload.js';
import { PoolWorker, type ForkFn, type Task, type WorkerListener } from './pool-worker.js';
import { TaskQueue } from './task-queue.js';

export type PoolState = 'running' | 'closed' | 'terminated';

export interface ManagerOptions {
  processes: number;
  moduleUrl: string | null;
  initializer: FnRef | null;
  initargs: Packed;
  maxTasksPerChild: number | null;
  execArgv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  killTimeout: number;
  fork?: ForkFn | undefined;
}

const here = fileURLToPath(import.meta.url);
/** The compiled worker entry; from the sources (tests), the build output next to them. */
const workerEntry = here.endsWith('.ts')
  ? join(dirname(here), '..', 'dist', 'worker-entry', 'worker.js')
  : join(dirname(here), '..', 'worker-entry', 'worker.js');

/** Workers in a row that may die before ready before the pool gives up on starting them. */
const maxStartupFailures = 3;

export class PoolManager implements WorkerListener {
  readonly #options: ManagerOptions;
  readonly #fork: ForkFn;
  readonly #workers = new Set<PoolWorker>();
  readonly #idle: PoolWorker[] = [];
  readonly #queue = new TaskQueue<Task>();
  readonly #exited = pDefer<void>();
  #state: PoolState = 'running';
  /** Why the pool stopped on its own (a worker could not start); `undefined` otherwise. */
  #brokenBy: Error | undefined;
  /** Tasks submitted and not settled. */
  #pending = 0;
  /** Calls whose input is still being read: a closed pool must wait for their tasks. */
  #producers = 0;
  #refed = false;
  #nextTaskId = 1;
  /** Workers in a row that died before ready without reporting an error. */
  #startupFailures = 0;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.#fork = options.fork ?? (nodeFork as unknown as ForkFn);
    this.#exited.promise.catch(() => {});
    this.#maintain();
  }

  get state(): PoolState {
    return this.#state;
  }

  /** The error that broke the pool, if a worker failed to start. */
  get brokenBy(): Error | undefined {
    return this.#brokenBy;
  }

  /** The workers alive now, for inspection. */
  get workers(): readonly PoolWorker[] {
    return [...this.#workers];
  }

  nextTaskId(): number {
    return this.#nextTaskId++;
  }

  /** Queues a task. On a terminated pool it is rejected at once. */
  submit(task: Task): void {
    if (this.#state === 'terminated') {
      task.settle([], this.#brokenBy ? new PoolNotRunningError(undefined, { cause: this.#brokenBy }) : new PoolTerminatedError());
      return;
    }
    this.#pending++;
    this.#queue.push(task);
    this.#updateRef();
    this.#dispatch();
  }

  /** Withdraws queued tasks matching `predicate` (their caller no longer wants them); running ones go on. */
  withdraw(predicate: (task: Task) => boolean): void {
    const removed = this.#queue.remove(predicate);
    this.#pending -= removed.length;
    this.#updateRef();
    this.#drainIfDone();
  }

  /**
   * Registers a call that will still submit tasks (its input is being read). Returns the
   * function to call when it has submitted its last one.
   */
  holdOpen(): () => void {
    this.#producers++;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.#producers--;
        this.#drainIfDone();
      }
    };
  }

  close(): void {
    if (this.#state === 'running') {
      this.#state = 'closed';
      this.#updateRef();
      this.#drainIfDone();
    }
  }

  /** Kills every worker now and rejects every unsettled task. Resolves once all have exited. */
  terminate(reason: Error = new PoolTerminatedError()): Promise<void> {
    if (this.#state !== 'terminated') {
      this.#state = 'terminated';
      for (const task of this.#queue.clear()) {
        this.#settle(task, [], reason);
      }
      for (const worker of this.#workers) {
        for (const task of worker.inFlight.splice(0)) {
          this.#settle(task, [], reason);
        }
        worker.kill(this.#options.killTimeout);
      }
      this.#idle.length = 0;
      this.#updateRef();
      this.#resolveIfExited();
    }
    return this.#exited.promise;
  }

  /** Resolves when every worker has exited; only meaningful once closed or terminated. */
  join(): Promise<void> {
    return this.#exited.promise;
  }

  onMessage(worker: PoolWorker, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        if (worker.state === 'starting') {
          this.#startupFailures = 0;
          worker.state = 'idle';
          this.#idle.push(worker);
          this.#dispatch();
        }
        break;
      case 'init-failed': {
        const cause = deserializeError(message.error);
        this.#break(new WorkerInitError(worker.name, `${message.stage} threw ${cause.name}: ${cause.message}`, { cause }));
        break;
      }
      case 'result':
        this.#onResult(worker, message.id, unpack(message.values), message.failure);
        break;
      default:
        assertNever(message);
    }
  }

  /**
   * Every way a worker ends up here: it retired after `maxTasksPerChild` tasks; the pool
   * disconnected it (close) or killed it (terminate); it failed to start; or it died on
   * its own (a crash, `process.exit()` in a task, a signal from outside, out of memory).
   */
  onExit(worker: PoolWorker, info: WorkerExitInfo, cause?: Error): void {
    this.#workers.delete(worker);
    const idleAt = this.#idle.indexOf(worker);
    if (idleAt !== -1) {
      this.#idle.splice(idleAt, 1);
    }
    // A worker that dies before ready without saying why (process.exit() or a signal
    // during import, fork failing) may have met a passing fault: it is replaced, but
    // after `maxStartupFailures` such deaths in a row the pool breaks rather than fork
    // on in a loop. A reported import or initializer error breaks it at once (above).
    if (worker.state === 'starting' && this.#state !== 'terminated' && ++this.#startupFailures >= maxStartupFailures) {
      this.#break(
        new WorkerInitError(worker.name, describeExit(info, `before it was ready (${maxStartupFailures} workers in a row)`), {
          cause: cause ?? new WorkerExitedError(info, undefined, 'before it was ready'),
        }),
      );
    }
    const [running, ...notStarted] = worker.inFlight.splice(0);
    if (running !== undefined) {
      this.#settle(running, [], new WorkerExitedError(info, cause && { cause }));
    }
    // Sent after the running one, so never started: another worker runs them.
    if (notStarted.length > 0) {
      this.#queue.unshift(...notStarted);
    }
    this.#resolveIfExited();
    this.#dispatch();
  }

  #onResult(worker: PoolWorker, id: number, values: unknown[], failure: TaskFailure | undefined): void {
    const at = worker.inFlight.findIndex((task) => task.id === id);
    if (at === -1) {
      return; // not a task of this worker: ignore rather than trust it
    }
    const [task] = worker.inFlight.splice(at, 1);
    this.#settle(task!, values, failure && toError(failure));
    if (worker.state === 'busy' && worker.inFlight.length === 0) {
      worker.state = 'idle';
      this.#idle.push(worker);
    }
    this.#dispatch();
  }

  #settle(task: Task, values: unknown[], error?: Error): void {
    this.#pending--;
    this.#updateRef();
    task.settle(values, error);
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && this.#idle.length > 0) {
      const worker = this.#idle.shift()!;
      const task = this.#queue.shift()!;
      try {
        worker.run(task);
      } catch (error) {
        this.#idle.unshift(worker);
        this.#settle(task, [], new SerializationError('argument', String((error as Error).message ?? error), { cause: error }));
        continue;
      }
      const { maxTasksPerChild } = this.#options;
      worker.state = maxTasksPerChild !== null && worker.tasksSent >= maxTasksPerChild ? 'retiring' : 'busy';
    }
    this.#maintain();
    this.#drainIfDone();
  }

  /** Starts workers until the pool is at full size (a retiring worker already has its replacement). */
  #maintain(): void {
    const wanted =
      this.#state === 'running' || (this.#state === 'closed' && (this.#queue.length > 0 || this.#producers > 0))
        ? this.#options.processes
        : 0;
    let active = 0;
    for (const worker of this.#workers) {
      if (worker.state === 'starting' || worker.state === 'idle' || worker.state === 'busy') {
        active++;
      }
    }
    for (; active < wanted && this.#state !== 'terminated'; active++) {
      this.#spawn();
    }
  }

  #spawn(): void {
    const { moduleUrl, initializer, initargs, maxTasksPerChild, execArgv, env, cwd } = this.#options;
    const name = nextWorkerName();
    let child;
    try {
      child = this.#fork(workerEntry, [], {
        execArgv,
        env,
        cwd,
        serialization: 'advanced',
        // Python's workers do not read the parent's stdin either.
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
    } catch (error) {
      this.#break(new WorkerInitError(name, `fork() failed: ${(error as Error).message}`, { cause: error }));
      return;
    }
    const worker = new PoolWorker(name, child, { moduleUrl, initializer, initargs, maxTasks: maxTasksPerChild }, this);
    this.#workers.add(worker);
    worker.setRef(this.#refed);
  }

  /**
   * Once closed and out of work, lets idle workers go. A worker still starting is left to
   * finish its initializer (as in Python, every worker started runs it); it is let go
   * when it reports ready.
   */
  #drainIfDone(): void {
    if (this.#state !== 'closed' || this.#queue.length > 0 || this.#producers > 0) {
      return;
    }
    for (const worker of this.#idle) {
      worker.disconnect();
    }
    this.#idle.length = 0;
    this.#resolveIfExited();
  }

  #break(reason: Error): void {
    if (this.#state !== 'terminated') {
      this.#brokenBy = reason;
      void this.terminate(reason);
    }
  }

  #resolveIfExited(): void {
    if (this.#state !== 'running' && this.#workers.size === 0) {
      this.#exited.resolve();
    }
  }

  /**
   * The workers keep the parent alive only while there is work to finish or workers to
   * see out: an idle pool lets the process exit, and the workers then exit with it.
   */
  #updateRef(): void {
    const refed = this.#pending > 0 || (this.#state !== 'running' && this.#workers.size > 0);
    if (refed !== this.#refed) {
      this.#refed = refed;
      for (const worker of this.#workers) {
        worker.setRef(refed);
      }
    }
  }
}

function describeExit(info: WorkerExitInfo, when: string): string {
  const how = info.signal === null ? `with exit code ${info.exitCode}` : `by signal ${info.signal}`;
  return `the process exited ${how} ${when}`;
}

function toError(failure: TaskFailure): Error {
  switch (failure.kind) {
    case 'thrown':
      return deserializeError(failure.error);
    case 'unserializable':
      return new SerializationError('result', failure.detail);
    default:
      return assertNever(failure);
  }
}
