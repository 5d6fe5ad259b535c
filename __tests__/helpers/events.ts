/** Awaiting a pool's events in tests. */
import type { Pool, WorkerExitEvent } from '../../lib/index.js';

/** The `workerExit` event of the worker with this pid; listen before it can exit. */
export function exitOf<M extends object>(pool: Pool<M>, pid: number): Promise<WorkerExitEvent> {
  return new Promise((resolve) => {
    const listener = (event: WorkerExitEvent) => {
      if (event.pid === pid) {
        pool.off('workerExit', listener);
        resolve(event);
      }
    };
    pool.on('workerExit', listener);
  });
}
