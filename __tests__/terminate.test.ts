/**
 * `terminate()`: kills the workers now, rejects every unsettled result with
 * `PoolTerminatedError`, and leaves a pool on which every submitting method fails with
 * `PoolNotRunningError`.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { Pool, PoolNotRunningError, PoolTerminatedError, type AsyncResult } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, isAlive, liveWorkers } from './helpers/processes.js';
import { Rendezvous } from './helpers/rendezvous.js';
import { errorOf } from './helpers/errors.js';

type Tasks = typeof import('./fixtures/lifecycle-tasks.js');

expectNoLeakedWorkers();

const module = fixture('lifecycle-tasks.js');
const range = (length: number) => Array.from({ length }, (_, i) => i);

let running: Rendezvous;

beforeEach(async () => {
  running = await Rendezvous.open();
});

afterEach(async () => {
  await running.close();
});

async function drain(iterator: AsyncIterable<unknown>): Promise<unknown[]> {
  const values: unknown[] = [];
  for await (const value of iterator) {
    values.push(value);
  }
  return values;
}

describe('terminate()', () => {
  test('rejects 5000 queued tasks and the running ones with PoolTerminatedError, and kills every worker', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      const hanging = ['a', 'b'].map((tag) => pool.applyAsync('reportAndHang', [running.path, tag]));
      const workers = await running.take(2); // both workers are busy: what follows stays queued
      const errorCallbacks: Error[] = [];
      const applied = range(2000).map((x) =>
        pool.applyAsync('double', [x], { errorCallback: (error) => errorCallbacks.push(error) }),
      );
      const mapped = pool.mapAsync('double', range(1000), { chunksize: 1 });
      const starmapped = pool.starmapAsync(
        'double',
        range(500).map((x) => [x] as [number]),
        { chunksize: 1 },
      );
      const mapPromise = errorOf(pool.map('double', range(1000), { chunksize: 1 }));
      const starmapPromise = errorOf(
        pool.starmap(
          'double',
          range(500).map((x) => [x] as [number]),
          { chunksize: 1 },
        ),
      );
      // Consumed from now on: their rejections are awaited below.
      const imapped = errorOf(drain(pool.imap('double', range(1000))));
      const unordered = errorOf(drain(pool.imapUnordered('double', range(1000))));

      await pool.terminate();

      const results: Pick<AsyncResult<unknown>, 'get' | 'ready' | 'successful'>[] = [
        ...hanging,
        ...applied,
        mapped,
        starmapped,
      ];
      const errors = await Promise.all([
        ...results.map((result) => errorOf(result.get())),
        mapPromise,
        starmapPromise,
        imapped,
        unordered,
      ]);
      for (const error of errors) {
        expect(error).toBeInstanceOf(PoolTerminatedError);
        expect(error).toBeInstanceOf(PoolNotRunningError);
        expect(error).toMatchObject({ code: 'ERR_POOL_TERMINATED' });
      }
      expect(results.every((result) => result.ready() && !result.successful())).toBe(true);
      expect(errorCallbacks).toHaveLength(2000);
      expect(errorCallbacks.every((error) => error instanceof PoolTerminatedError)).toBe(true);
      expect(pool.state).toBe('terminated');
      expect(workers.filter((worker) => isAlive(worker.pid))).toEqual([]);
      expect(liveWorkers()).toEqual([]);
    } finally {
      await pool.terminate();
    }
  });

  test('right after construction, while workers are starting, resolves and leaves none alive', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    await pool.terminate();
    expect(pool.state).toBe('terminated');
    expect(liveWorkers()).toEqual([]);
    const error = await errorOf(pool.apply('double', [1]));
    expect(error).toBeInstanceOf(PoolNotRunningError);
    expect((error as Error).cause).toBeUndefined(); // terminated, not broken
  });

  test('a worker that ignores SIGTERM is killed with SIGKILL after killTimeout', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, killTimeout: 100 });
    try {
      const stubborn = pool.applyAsync('ignoreSigtermAndHang', [running.path, 'stubborn']);
      const worker = await running.next(); // its SIGTERM handler is installed
      await pool.terminate();
      await expect(stubborn.get()).rejects.toBeInstanceOf(PoolTerminatedError);
      expect(isAlive(worker.pid)).toBe(false);
    } finally {
      await pool.terminate();
    }
  });

  test('can be called twice, and concurrently', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    await expect(pool.apply('double', [2])).resolves.toBe(4);
    await expect(Promise.all([pool.terminate(), pool.terminate()])).resolves.toEqual([undefined, undefined]);
    await expect(pool.terminate()).resolves.toBeUndefined();
    expect(liveWorkers()).toEqual([]);
  });

  test('after it, every submitting method fails with PoolNotRunningError; close() and join() are harmless', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    await pool.apply('double', [1]);
    await pool.terminate();

    // Promise-returning methods reject …
    await expect(pool.apply('double', [1])).rejects.toBeInstanceOf(PoolNotRunningError);
    await expect(pool.map('double', [1])).rejects.toBeInstanceOf(PoolNotRunningError);
    await expect(pool.starmap('double', [[1]])).rejects.toBeInstanceOf(PoolNotRunningError);
    // … the others throw at the call.
    expect(() => pool.applyAsync('double', [1])).toThrow(PoolNotRunningError);
    expect(() => pool.mapAsync('double', [1])).toThrow(PoolNotRunningError);
    expect(() => pool.starmapAsync('double', [[1]])).toThrow(PoolNotRunningError);
    expect(() => pool.imap('double', [1])).toThrow(PoolNotRunningError);
    expect(() => pool.imapUnordered('double', [1])).toThrow(PoolNotRunningError);

    expect(() => pool.close()).not.toThrow(); // as Python's close() on a terminated pool: nothing to do
    expect(pool.state).toBe('terminated');
    await expect(pool.join()).resolves.toBeUndefined();
  });

  test('Symbol.asyncDispose terminates the pool at the end of an `await using` scope', async () => {
    let hung: AsyncResult<never>;
    let workerPid: number;
    let disposed: Pool<Tasks>;
    {
      await using pool = new Pool<Tasks>({ processes: 1, module });
      disposed = pool;
      hung = pool.applyAsync('reportAndHang', [running.path, 'scoped']);
      workerPid = (await running.next()).pid;
    }
    expect(disposed.state).toBe('terminated');
    await expect(hung.get()).rejects.toBeInstanceOf(PoolTerminatedError);
    expect(isAlive(workerPid)).toBe(false);
    expect(liveWorkers()).toEqual([]);
  });
});
