/**
 * forkpool: Python's `multiprocessing.Pool` for Node.js, on real OS processes.
 * @packageDocumentation
 */
export {
  Pool,
  type ApplyAsyncOptions,
  type ChunkOptions,
  type MapAsyncOptions,
  type PoolEvents,
  type TaskOptions,
} from './pool.js';
export { AsyncResult, type ResultCallbacks } from './async-result.js';
export type { Progress } from './progress.js';
export { currentProcess, cpuCount, type ProcessInfo } from './current-process.js';
export {
  AbortError,
  PoolError,
  PoolNotRunningError,
  PoolTerminatedError,
  QueueFullError,
  SerializationError,
  TaskTimeoutError,
  TimeoutError,
  WorkerExitedError,
  WorkerInitError,
  type WorkerExitInfo,
} from './errors.js';
export type { PoolOptions } from './options.js';
export type { PoolState, WorkerExitEvent, WorkerStartEvent } from './pool-manager.js';
export type { ExitReason, PoolStats, ReplacementReason } from './pool-stats.js';
export type { AnyIterable, AnyTaskModule, TaskArgs, TaskFn, TaskItem, TaskName, TaskResult } from './types.js';
