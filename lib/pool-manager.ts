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
  QueueFullError,
  SerializationError,
  TaskTimeoutError,
  WorkerExitedError,
  WorkerInitError,
  type WorkerExitInfo,
} from './errors.js';
import { emptyReplacements, isReplacementReason, type ExitReason, type PoolStats } from './pool-stats.js';
import { withOwnInspectorPort, workerLauncher } from './worker-args.js';
import { assertNever, type FnRef, type FromWorker, type TaskFailure } from './messages.js';
import { unpack, type Packed } from './payload.js';
import { PoolWorker, type ForkFn, type Task, type WorkerListener } from './pool-worker.js';
import { TaskQueue } from './task-queue.js';
import type { FnRecord } from './task-functions.js';

/**
 * State of a pool, as `pool.state` reports it (Python's `RUN`, `CLOSE`, `TERMINATE`):
 * `'closed'` after `close()`; `'terminated'` after `terminate()`, or once the pool broke
 * because workers could not start. It never goes back.
 */
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
  maxQueue: number;
  maxMemoryPerChild: number | null;
  fork?: ForkFn | undefined;
  /** Told when a worker process starts and when it has exited. */
  onWorkerStart?: ((event: WorkerStartEvent) => void) | undefined;
  onWorkerExit?: ((event: WorkerExitEvent) => void) | undefined;
}

/** The `'workerStart'` event. */
export interface WorkerStartEvent {
  /** `'PoolWorker-N'`. */
  workerName: string;
  /** OS process id of the worker, or `undefined` when `fork()` failed without a process. */
  pid: number | undefined;
}

/** The `'workerExit'` event: the process is gone. */
export interface WorkerExitEvent extends WorkerExitInfo {
  /** Why the worker left: let go by the pool, or died by itself (`'crash'`, `'startup'`). */
  reason: ExitReason;
}

const here = fileURLToPath(import.meta.url);
/** The bundled worker entry (scripts/bundle-worker.js); from the sources (tests), the build output next to them. */
const workerEntry = here.endsWith('.ts')
  ? join(dirname(here), '..', 'dist', 'worker-entry', 'worker.cjs')
  : join(dirname(here), '..', 'worker-entry', 'worker.cjs');

/** Workers in a row that may die before ready before the pool gives up on starting them. */
const maxStartupFailures = 3;

/**
 * Pipelining: while tasks are short, a worker is sent more than the one it runs, so that
 * it never waits for the parent between tasks. It then holds about `lookaheadMs` of work
 * beyond the running task, judged by the recent average time a task of the next queued
 * task's function took (`#serviceMs`), and at most `maxInFlight` tasks; one at a time
 * until a task of that function has been timed. Once tasks average `longTaskMs` or more,
 * the round trip between two tasks costs under 1% of their time, and each goes to
 * whichever worker frees up first, so that none waits behind a long task while another
 * worker is idle.
 */
const lookaheadMs = 1;
const longTaskMs = 20;
const maxInFlight = 256;

export class PoolManager implements WorkerListener {
  readonly #options: ManagerOptions;
  readonly #fork: ForkFn;
  readonly #workers = new Set<PoolWorker>();
  /**
   * Ready workers with no task. The one that became idle last is served first: it is the
   * one still warm (running, its memory in the CPU's caches), which answers a lone task
   * sooner than one that has slept longer; under load no worker stays idle anyway.
   */
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
  /** Where workers start (see `InitMessage.cwd`): this process's directory when the pool was made. */
  readonly #launchCwd = process.cwd();
  #completed = 0;
  #failed = 0;
  #spawned = 0;
  readonly #replacements = emptyReplacements();
  #roomWaiters: (() => void)[] = [];
  /**
   * By function, the moving average of the time its task (one message) takes, from its
   * start to its result, in ms: what tasks of one function take says nothing of another's,
   * so that a pool that has run tiny tasks does not send a slow function's tasks ahead by
   * the dozen.
   */
  readonly #serviceMs = new WeakMap<FnRecord, number>();

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

  /** Tasks the pool can take now: idle workers take some at once, the queue the rest up to `maxQueue`. */
  get room(): number {
    const { maxQueue } = this.#options;
    return maxQueue === Number.POSITIVE_INFINITY ? maxQueue : maxQueue - this.#waiting() + this.#idle.length;
  }

  /**
   * Tasks waiting to start: queued here, or sent to a worker behind the task it runs
   * (less those that ended there already, aborted, whose turn the worker still takes).
   */
  #waiting(): number {
    let waiting = this.#queue.length;
    for (const worker of this.#workers) {
      for (let i = 1; i < worker.inFlight.length; i++) {
        if (worker.inFlight[i]!.settled !== true) {
          waiting++;
        }
      }
    }
    return waiting;
  }

  /** Resolves as soon as the queue has room for one more task. */
  waitForRoom(): Promise<void> {
    if (this.room > 0 || this.#state === 'terminated') {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /**
   * Queues tasks, all or none: past `maxQueue` they are rejected at once with
   * `QueueFullError`, and on a terminated pool with the reason it stopped.
   */
  submit(tasks: readonly Task[]): void {
    if (this.#state === 'terminated') {
      const reason = this.#brokenBy
        ? new PoolNotRunningError(undefined, { cause: this.#brokenBy })
        : new PoolTerminatedError();
      for (const task of tasks) {
        this.#reject(task, reason);
      }
      return;
    }
    if (tasks.length > this.room) {
      const full = new QueueFullError(this.#options.maxQueue, tasks.length);
      for (const task of tasks) {
        this.#reject(task, full);
      }
      return;
    }
    this.#pending += tasks.length;
    for (const task of tasks) {
      this.#queue.push(task);
    }
    this.#updateRef();
    this.#dispatch();
  }

  /**
   * Ends tasks their caller no longer wants (an aborted signal, an `imap` left early),
   * with `error`, or without a word when `error` is undefined. Queued ones are dropped;
   * a running one has its worker stopped and replaced (`reason`), since a task cannot
   * be interrupted in place.
   */
  cancel(tasks: ReadonlySet<Task>, error: Error | undefined, reason: 'abort' = 'abort'): void {
    // Sent ones first: stopping a worker puts the tasks sent behind its running one back
    // in the queue, where the next loop finds those of this call.
    for (const task of tasks) {
      if (task.worker !== undefined && !task.settled) {
        if (error === undefined) {
          // Left early: let it finish, its result goes nowhere.
          task.settled = true;
        } else {
          this.#stopRunning(task.worker, task, error, reason);
        }
      }
    }
    for (const task of this.#queue.remove((queued) => tasks.has(queued))) {
      this.#pending--;
      if (error === undefined) {
        task.settled = true; // dropped unread: neither completed nor failed
      } else {
        this.#finish(task, [], error);
      }
    }
    this.#afterQueueShrank();
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
        worker.exitReason ??= 'terminate';
        worker.kill(this.#options.killTimeout);
      }
      this.#idle.length = 0;
      this.#afterQueueShrank();
      this.#updateRef();
      this.#resolveIfExited();
    }
    return this.#exited.promise;
  }

  /** Resolves when every worker has exited; only meaningful once closed or terminated. */
  join(): Promise<void> {
    return this.#exited.promise;
  }

  stats(): PoolStats {
    const workers = { alive: this.#workers.size, starting: 0, idle: 0, busy: 0 };
    let running = 0;
    for (const worker of this.#workers) {
      running += Math.min(worker.inFlight.length, 1);
      if (worker.state === 'starting') {
        workers.starting++;
      } else if (worker.state === 'idle') {
        workers.idle++;
      } else if (worker.inFlight.length > 0) {
        workers.busy++;
      }
    }
    return {
      workers,
      queued: this.#waiting(),
      running,
      completed: this.#completed,
      failed: this.#failed,
      spawned: this.#spawned,
      replacements: { ...this.#replacements },
    };
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
        if (worker.state !== 'starting') {
          break; // a ready worker has nothing to report here: not ours to trust
        }
        worker.exitReason = 'startup';
        const cause = deserializeError(message.error);
        this.#break(
          new WorkerInitError(worker.name, `${message.stage} threw ${cause.name}: ${cause.message}`, { cause }),
        );
        break;
      }
      case 'result':
        this.#onResult(worker, message.id, unpack(message.values), message.failure, message.rss);
        break;
      case 'dying':
        // Give it nothing more. (A starting worker is left to the startup accounting.)
        if (worker.state !== 'starting') {
          worker.dyingDuring = message.taskId;
          const idleAt = this.#idle.indexOf(worker);
          if (idleAt !== -1) {
            this.#idle.splice(idleAt, 1);
          }
        }
        break;
      default:
        assertNever(message);
    }
  }

  /**
   * Every way a worker ends up here: it retired after `maxTasksPerChild` tasks or over
   * `maxMemoryPerChild`; the pool disconnected it (close) or stopped it (terminate, a
   * timeout, an abort); it failed to start; or it died on its own (a crash,
   * `process.exit()` in a task, a signal from outside, out of memory).
   */
  onExit(worker: PoolWorker, info: WorkerExitInfo, cause?: Error): void {
    this.#workers.delete(worker);
    const idleAt = this.#idle.indexOf(worker);
    if (idleAt !== -1) {
      this.#idle.splice(idleAt, 1);
    }
    // A worker that dies with a task on it crashed, whatever the pool had planned for it.
    const crashed = worker.inFlight.length > 0 && (worker.exitReason === 'max-tasks' || worker.exitReason === 'memory');
    const reason = crashed ? 'crash' : (worker.exitReason ?? (worker.state === 'starting' ? 'startup' : 'crash'));
    if (isReplacementReason(reason) && this.#state !== 'terminated') {
      this.#replacements[reason]++;
    }
    // A worker that dies before ready without saying why (process.exit() or a signal
    // during import, fork failing) may have met a passing fault: it is replaced, but
    // after `maxStartupFailures` such deaths in a row the pool breaks rather than fork
    // on in a loop. A reported import or initializer error breaks it at once (above).
    if (worker.state === 'starting' && this.#state !== 'terminated' && ++this.#startupFailures >= maxStartupFailures) {
      this.#break(
        new WorkerInitError(
          worker.name,
          describeExit(info, `before it was ready (${maxStartupFailures} workers in a row)`),
          {
            cause: cause ?? new WorkerExitedError(info, undefined, 'before it was ready'),
          },
        ),
      );
    }
    const inFlight = worker.inFlight.splice(0);
    // The worker said which task it was running as it died: the others never started.
    const running =
      worker.dyingDuring === undefined || worker.dyingDuring === inFlight[0]?.id ? inFlight.shift() : undefined;
    const notStarted = inFlight;
    if (running !== undefined) {
      this.#settle(running, [], new WorkerExitedError(info, cause && { cause }));
    }
    // Sent after the running one, so never started: another worker runs them.
    this.#requeue(notStarted);
    this.#options.onWorkerExit?.({ ...info, reason });
    this.#resolveIfExited();
    this.#dispatch();
  }

  #onResult(
    worker: PoolWorker,
    id: number,
    values: unknown[],
    failure: TaskFailure | undefined,
    rss: number | undefined,
  ): void {
    const { inFlight } = worker;
    let task: Task;
    if (inFlight[0]?.id === id) {
      // The running task: answers come in the order the tasks were sent.
      task = inFlight.shift()!;
      const now = performance.now();
      if (task.startedAt !== undefined) {
        const took = now - task.startedAt;
        const average = this.#serviceMs.get(task.fn);
        this.#serviceMs.set(task.fn, average === undefined ? took : average + (took - average) / 8);
      }
      const next = inFlight[0];
      if (next !== undefined) {
        this.#started(next, worker, now);
      }
    } else {
      const at = inFlight.findIndex((sent) => sent.id === id);
      if (at === -1) {
        return; // not a task of this worker: ignore rather than trust it
      }
      task = inFlight.splice(at, 1)[0]!;
    }
    this.#settle(task, values, failure && toError(failure));
    const { maxMemoryPerChild } = this.#options;
    if (maxMemoryPerChild !== null && rss !== undefined && rss > maxMemoryPerChild && worker.exitReason === undefined) {
      worker.exitReason = 'memory';
      worker.state = 'retiring'; // no more tasks; a replacement starts now
    }
    if (worker.inFlight.length === 0) {
      if (worker.state === 'busy' && worker.dyingDuring === undefined) {
        worker.state = 'idle';
        this.#idle.push(worker);
      } else if (worker.state === 'retiring' && worker.exitReason === 'memory') {
        worker.disconnect();
      }
    }
  }

  /** After the results a worker had ready at once: it gets more tasks, in one frame. */
  onFrameEnd(worker: PoolWorker): void {
    this.#topUp(worker);
    this.#dispatch(false);
  }

  /** Tasks whose write threw after all (`PoolWorker#writeEach`): they fail, as if packing them had thrown. */
  onUnsent(worker: PoolWorker, taskIds: readonly number[], error: unknown): void {
    for (const id of taskIds) {
      const at = worker.inFlight.findIndex((task) => task.id === id);
      if (at === -1) {
        continue;
      }
      const [task] = worker.inFlight.splice(at, 1);
      worker.tasksSent--;
      this.#settle(
        task!,
        [],
        new SerializationError('argument', String((error as Error).message ?? error), { cause: error }),
      );
      const next = worker.inFlight[0];
      if (at === 0 && next !== undefined && next.startedAt === undefined) {
        this.#started(next, worker);
      }
    }
  }

  /** Settles a task the pool ends itself (the worker's own answers go through #settle too). */
  #reject(task: Task, error: Error): void {
    task.settled = true;
    this.#failed++;
    task.settle([], error);
  }

  #settle(task: Task, values: unknown[], error?: Error): void {
    this.#pending--;
    this.#updateRef();
    this.#finish(task, values, error);
  }

  #finish(task: Task, values: unknown[], error: Error | undefined): void {
    clearTimeout(task.timer);
    task.worker = undefined;
    task.startedAt = undefined;
    if (task.settled) {
      return; // its caller left (imap return()); nobody is waiting
    }
    task.settled = true;
    if (error === undefined) {
      this.#completed++;
    } else {
      this.#failed++;
    }
    task.settle(values, error);
  }

  /** Ends the task `worker` is running, with `error`, and stops and replaces the worker. */
  #stopRunning(worker: PoolWorker, task: Task, error: Error, reason: 'timeout' | 'abort'): void {
    const at = worker.inFlight.indexOf(task);
    if (at === -1) {
      return;
    }
    if (at > 0) {
      // Sent but not started (behind the running one): it ends now for its caller, but
      // stays in the worker's list, where it still takes its turn (its result is then
      // ignored), so that the pool keeps knowing which task the worker is running.
      this.#finish(task, [], error);
      return;
    }
    const [, ...notStarted] = worker.inFlight.splice(0);
    this.#settle(task, [], error);
    this.#requeue(notStarted);
    worker.exitReason = reason;
    worker.kill(this.#options.killTimeout);
    this.#dispatch(); // and #maintain() starts the replacement
  }

  /** Puts tasks sent to a worker that will not run them back at the front of the queue. */
  #requeue(tasks: Task[]): void {
    const waiting: Task[] = [];
    for (const task of tasks) {
      task.worker = undefined;
      if (task.settled) {
        this.#settle(task, [], undefined); // ended while it waited (aborted, or its imap left)
      } else {
        waiting.push(task);
      }
    }
    if (waiting.length > 0) {
      this.#queue.unshift(...waiting);
    }
  }

  /** A task starts to run on `worker` (the tasks sent there before it are answered): its time counts from now. */
  #started(task: Task, worker: PoolWorker, now = performance.now()): void {
    task.startedAt = now;
    if (task.timeout !== undefined && !task.settled) {
      const { timeout } = task;
      task.timer = setTimeout(
        () => this.#stopRunning(worker, task, new TaskTimeoutError(worker.name, worker.pid, timeout), 'timeout'),
        timeout,
      );
    }
  }

  /** How many tasks of `fn` a worker may hold: the one it runs and those sent to wait behind it. */
  #depth(fn: FnRecord | undefined): number {
    const serviceMs = fn === undefined ? undefined : this.#serviceMs.get(fn);
    if (serviceMs === undefined || serviceMs >= longTaskMs) {
      return 1;
    }
    return Math.min(maxInFlight, 1 + Math.ceil(lookaheadMs / Math.max(serviceMs, 0.001)));
  }

  /**
   * Whether a task may be sent to wait behind another: only while no worker is idle or
   * starting. A task then never waits on a busy worker when a free one would take it, and
   * tasks that wait for each other (a barrier across the workers) still run side by side,
   * as in Python's pool, where a worker takes a task only once it is free.
   */
  #mayPipeline(): boolean {
    if (this.#idle.length > 0) {
      return false;
    }
    for (const worker of this.#workers) {
      if (worker.state === 'starting') {
        return false;
      }
    }
    return true;
  }

  /** Sends a busy worker more tasks once it is down to half of what it may hold. */
  #topUp(worker: PoolWorker): void {
    if (
      worker.state === 'busy' &&
      this.#queue.length > 0 &&
      worker.inFlight.length <= this.#depth(this.#queue.peek()?.fn) >> 1 &&
      this.#mayPipeline()
    ) {
      this.#sendTo(worker);
    }
  }

  /**
   * Sends `worker` queued tasks, in one write: up to what it may hold, no more than its
   * share of the queue (so that every worker gets some), and never past `maxTasksPerChild`;
   * only one, to an idle worker, while other workers are idle or starting.
   */
  #sendTo(worker: PoolWorker): void {
    const { maxTasksPerChild } = this.#options;
    let count = this.#mayPipeline()
      ? Math.min(
          this.#depth(this.#queue.peek()?.fn) - worker.inFlight.length,
          Math.ceil(this.#queue.length / this.#options.processes),
        )
      : 1 - worker.inFlight.length;
    if (maxTasksPerChild !== null) {
      count = Math.min(count, maxTasksPerChild - worker.tasksSent);
    }
    worker.cork();
    for (; count > 0 && this.#queue.length > 0; count--) {
      const task = this.#queue.shift()!;
      try {
        worker.run(task);
      } catch (error) {
        this.#settle(
          task,
          [],
          new SerializationError('argument', String((error as Error).message ?? error), { cause: error }),
        );
        count++; // nothing was sent
        continue;
      }
      task.worker = worker;
      if (worker.inFlight[0] === task) {
        this.#started(task, worker);
      }
    }
    worker.uncork();
    if (maxTasksPerChild !== null && worker.tasksSent >= maxTasksPerChild) {
      worker.state = 'retiring'; // it exits by itself after its last task
      worker.exitReason = 'max-tasks';
    } else if (worker.inFlight.length > 0) {
      worker.state = 'busy';
    } else {
      worker.state = 'idle';
      this.#idle.push(worker);
    }
  }

  /**
   * Hands queued tasks to idle workers, then (`topUpAll`, when tasks were added) to busy
   * workers that may hold more.
   */
  #dispatch(topUpAll = true): void {
    const dispatched = this.#queue.length;
    while (this.#queue.length > 0 && this.#idle.length > 0) {
      this.#sendTo(this.#idle.pop()!);
    }
    if (topUpAll && this.#queue.length > 0) {
      for (const worker of this.#workers) {
        this.#topUp(worker);
      }
    }
    if (this.#queue.length < dispatched || this.#idle.length > 0) {
      this.#afterQueueShrank();
    }
    this.#maintain();
    this.#drainIfDone();
  }

  /** Wakes producers waiting for room in the queue. */
  #afterQueueShrank(): void {
    if (this.#roomWaiters.length > 0 && (this.room > 0 || this.#state === 'terminated')) {
      for (const wake of this.#roomWaiters.splice(0)) {
        wake();
      }
    }
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
    const { moduleUrl, initializer, initargs, maxTasksPerChild, maxMemoryPerChild, execArgv, env, cwd } = this.#options;
    const name = nextWorkerName();
    const { execPath, prefix } = workerLauncher();
    let child;
    try {
      child = this.#fork(workerEntry, [], {
        execPath,
        execArgv: [...prefix, ...withOwnInspectorPort(execArgv, Number(name.slice(name.lastIndexOf('-') + 1)))],
        env,
        cwd: this.#launchCwd,
        serialization: 'advanced',
        // Python's workers do not read the parent's stdin either. fd 4 is the data channel (lib/channel.ts).
        stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'],
      });
    } catch (error) {
      this.#break(new WorkerInitError(name, `fork() failed: ${(error as Error).message}`, { cause: error }));
      return;
    }
    const init = {
      moduleUrl,
      initializer,
      initargs,
      maxTasks: maxTasksPerChild,
      reportMemory: maxMemoryPerChild !== null,
      cwd,
    };
    const worker = new PoolWorker(name, child, init, this);
    this.#workers.add(worker);
    this.#spawned++;
    worker.setRef(this.#refed);
    this.#options.onWorkerStart?.({ workerName: name, pid: worker.pid });
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
      worker.exitReason ??= 'close';
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
