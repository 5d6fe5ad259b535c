/**
 * A worker that cannot start (its initializer throws, its task module fails to import)
 * breaks the pool with `WorkerInitError` instead of respawning workers in a loop
 * (CPython gh-87472): the work it holds is rejected and later submissions fail with
 * `PoolNotRunningError` caused by that error.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { Pool, PoolNotRunningError, WorkerExitedError, WorkerInitError } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, liveWorkers } from './helpers/processes.js';
import { workerNumber } from './helpers/rendezvous.js';
import { errorOf } from './helpers/errors.js';

type Tasks = typeof import('./fixtures/lifecycle-tasks.js');

expectNoLeakedWorkers();

const module = fixture('lifecycle-tasks.js');
const range = (length: number) => Array.from({ length }, (_, i) => i);

/** The number the next worker of this process gets, read from a throwaway worker. */
async function nextWorkerNumber(): Promise<number> {
  const probe = new Pool<Tasks>({ processes: 1, module });
  try {
    return workerNumber((await probe.apply('whoami')).name);
  } finally {
    await probe.terminate();
  }
}

/**
 * Submits work to a pool whose workers cannot start and checks what every failing-start
 * case shares; returns the `WorkerInitError`. `maxStarted` bounds the workers the pool
 * may start before it gives up.
 */
async function expectBroken(startPool: () => Pool, maxStarted: number): Promise<WorkerInitError> {
  const before = await nextWorkerNumber();
  const pool = startPool();
  let initError: WorkerInitError;
  try {
    const mapped = pool.map('double', range(20), { chunksize: 1 });
    const applied = pool.applyAsync('double', [1]);
    const error = await errorOf(mapped);
    expect(error).toBeInstanceOf(WorkerInitError);
    expect(error).toMatchObject({ code: 'ERR_WORKER_INIT', name: 'WorkerInitError' });
    initError = error as WorkerInitError;
    expect(initError.workerName).toMatch(/^PoolWorker-\d+$/);
    await expect(applied.get()).rejects.toBe(initError);
    expect(pool.state).toBe('terminated');

    await pool.join();
    expect(liveWorkers()).toEqual([]);

    // Later submissions: Python's "Pool not running", caused by the failure.
    const later = await errorOf(pool.apply('double', [1]));
    expect(later).toBeInstanceOf(PoolNotRunningError);
    expect((later as Error).cause).toBe(initError);
    let thrown: unknown;
    try {
      pool.mapAsync('double', [1]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PoolNotRunningError);
    expect((thrown as Error).cause).toBe(initError);
    expect(() => pool.imap('double', [1])).toThrow(PoolNotRunningError);
  } finally {
    await pool.terminate();
  }
  // No respawn loop: the broken pool started only a bounded number of workers.
  const after = await nextWorkerNumber();
  const started = after - before - 1;
  expect(started).toBeGreaterThanOrEqual(1);
  expect(started).toBeLessThanOrEqual(maxStarted);
  return initError;
}

describe('an initializer that throws', () => {
  test('breaks the pool with WorkerInitError whose cause is the thrown error', async () => {
    const error = await expectBroken(
      () => new Pool({ processes: 2, module, initializer: 'throwInInitializer', initargs: ['no database'] }),
      2,
    );
    expect(error.message).toMatch(/initializer/);
    expect(error.cause).toBeInstanceOf(RangeError);
    expect((error.cause as Error).message).toBe('no database');
  });

  test('sent by source, rejecting asynchronously: the same', async () => {
    const error = await expectBroken(
      () =>
        new Pool({
          processes: 2,
          module,
          initializer: async () => {
            await new Promise((resolve) => setImmediate(resolve));
            throw new TypeError('async initializer failure');
          },
        }),
      2,
    );
    expect(error.cause).toBeInstanceOf(TypeError);
    expect((error.cause as Error).message).toBe('async initializer failure');
  });
});

describe('a task module that cannot be imported', () => {
  test('throwing at import breaks the pool with WorkerInitError whose cause is the thrown error', async () => {
    const broken = fixture('throws-at-import.js');
    const error = await expectBroken(() => new Pool({ processes: 2, module: broken }), 2);
    expect(error.message).toContain(fileURLToPath(broken));
    expect(error.cause).toBeInstanceOf(TypeError);
    expect((error.cause as Error).message).toBe('this task module fails while it is imported');
  });

  test('with a syntax error breaks the pool with WorkerInitError caused by a SyntaxError', async () => {
    const broken = fixture('syntax-error.js');
    const error = await expectBroken(() => new Pool({ processes: 1, module: broken }), 1);
    expect(error.message).toContain(fileURLToPath(broken));
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  test('ending its process without a word is retried, then breaks the pool after three deaths in a row', async () => {
    const broken = fixture('exits-at-import.js');
    // Three deaths before ready break the pool; each of the first two got a replacement.
    const processes = 2;
    const error = await expectBroken(() => new Pool({ processes, module: broken }), processes + 2);
    expect(error.message).toContain('(3 workers in a row)');
    expect(error.cause).toBeInstanceOf(WorkerExitedError);
    expect(error.cause).toMatchObject({ exitCode: 5, signal: null });
  });

  test('that does not exist makes the constructor throw an Error naming the path, and starts no worker', async () => {
    const before = await nextWorkerNumber();
    const missing = fileURLToPath(fixture('no-such-module.js'));
    expect(() => new Pool({ processes: 2, module: missing })).toThrow(missing);
    expect(() => new Pool({ processes: 2, module: new URL('./no-such-module.js', fixture('x')) })).toThrow(missing);
    expect(liveWorkers()).toEqual([]);
    expect(await nextWorkerNumber()).toBe(before + 1);
  });
});
