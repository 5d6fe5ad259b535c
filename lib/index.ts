/**
 * forkpool: Python's `multiprocessing.Pool` for Node.js, on real OS processes.
 * @packageDocumentation
 */
export { Pool, type ChunkOptions, type MapAsyncOptions } from './pool.js';
export { AsyncResult, type ResultCallbacks } from './async-result.js';
export { currentProcess, cpuCount, type ProcessInfo } from './current-process.js';
export {
  PoolError,
  PoolNotRunningError,
  PoolTerminatedError,
  SerializationError,
  TimeoutError,
  WorkerExitedError,
  WorkerInitError,
  type WorkerExitInfo,
} from './errors.js';
export type { PoolOptions } from './options.js';
export type { PoolState } from './pool-manager.js';
export type { AnyIterable, AnyTaskModule, TaskArgs, TaskFn, TaskItem, TaskName, TaskResult } from './types.js';
