/**
 * Process identity: `currentProcess()`, `cpuCount()` and the `PoolWorker-N` counter.
 *
 * State lives on `globalThis` under registered symbols, not in module variables, so that
 * two copies of this module in one process (an ESM import and a CommonJS require, or the
 * worker entry and a user's own `import 'forkpool'`) agree on it.
 */
import { availableParallelism } from 'node:os';

/** What `currentProcess()` returns; a snapshot. */
export interface ProcessInfo {
  /** `'MainProcess'` in the parent, `'PoolWorker-N'` inside a pool worker. */
  readonly name: string;
  /** OS process id (`process.pid`). */
  readonly pid: number;
}

interface WorkerIdentity {
  name: string;
  /** True while the worker imports the task module (see `assertNotImportingTaskModule`). */
  importing: boolean;
}

const kWorkerIdentity = Symbol.for('forkpool.workerIdentity');
const kWorkerCounter = Symbol.for('forkpool.workerCounter');

type Globals = typeof globalThis & { [kWorkerIdentity]?: WorkerIdentity; [kWorkerCounter]?: number };
const globals = globalThis as Globals;

/** Python's `multiprocessing.current_process()`: the name and pid of this process. */
export function currentProcess(): ProcessInfo {
  return { name: globals[kWorkerIdentity]?.name ?? 'MainProcess', pid: process.pid };
}

/** The number of CPUs this process may use (`os.availableParallelism()`), Python's `cpu_count()`. */
export function cpuCount(): number {
  return availableParallelism();
}

/**
 * The next worker name. One counter per process, shared by every pool, starting at 1 and
 * never reused: replacements get new numbers, as in Python.
 */
export function nextWorkerName(): string {
  const n = (globals[kWorkerCounter] ?? 0) + 1;
  globals[kWorkerCounter] = n;
  return `PoolWorker-${n}`;
}

/** @internal Called by the worker entry before it imports the task module. */
export function setWorkerIdentity(identity: WorkerIdentity): void {
  globals[kWorkerIdentity] = identity;
}

/**
 * A module used as both main script and task module (`module: import.meta.url`) that
 * creates a pool without the `MainProcess` guard would fork workers that fork workers …
 * Refuse that at the source, with the fix in the message.
 */
export function assertNotImportingTaskModule(): void {
  const identity = globals[kWorkerIdentity];
  if (identity?.importing) {
    throw new Error(
      `A Pool was created while ${identity.name} was importing the task module, which would fork workers without end. ` +
        "Create the pool only in the main process: wrap that code in `if (currentProcess().name === 'MainProcess') { … }`.",
    );
  }
}
