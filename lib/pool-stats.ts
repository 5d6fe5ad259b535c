/** The counters behind `pool.stats()`: a snapshot a server can export as metrics. */

/** Why a worker left. */
export type ExitReason =
  | 'max-tasks' // ran `maxTasksPerChild` tasks
  | 'memory' // went over `maxMemoryPerChild`
  | 'timeout' // a task ran past its timeout; the worker was stopped
  | 'abort' // a running task was aborted; the worker was stopped
  | 'crash' // died on its own: an uncaught error, process.exit(), a signal from outside
  | 'startup' // died or failed before it was ready
  | 'close' // let go after close()
  | 'terminate'; // stopped by terminate()

/** The reasons a running pool replaces a worker, counted in `PoolStats.replacements`. */
export type ReplacementReason = Extract<ExitReason, 'max-tasks' | 'memory' | 'timeout' | 'abort' | 'crash'>;

/** `pool.stats()`. */
export interface PoolStats {
  /** Workers alive now, by state. */
  workers: {
    /** Worker processes that have not exited yet, in any state (including those being let go or stopped). */
    alive: number;
    /** Workers importing the task module or running the initializer. */
    starting: number;
    /** Ready workers with no task. */
    idle: number;
    /** Workers with a task. */
    busy: number;
  };
  /**
   * Tasks waiting to start (a `map` chunk counts as one): in the pool's queue, or sent
   * ahead to a worker, behind the task it runs. What `maxQueue` limits.
   */
  queued: number;
  /** Tasks running now: one per busy worker. */
  running: number;
  /** Tasks that finished with a value. */
  completed: number;
  /** Tasks that failed: thrown, crashed, timed out, aborted, terminated. */
  failed: number;
  /** Workers started since the pool was created. */
  spawned: number;
  /** Workers that left while the pool was running, by reason. */
  replacements: Record<ReplacementReason, number>;
}

export function emptyReplacements(): Record<ReplacementReason, number> {
  return { 'max-tasks': 0, memory: 0, timeout: 0, abort: 0, crash: 0 };
}

export function isReplacementReason(reason: ExitReason): reason is ReplacementReason {
  return reason in emptyReplacements();
}
