/**
 * `close()` + `join()`: no new work is accepted, queued work still runs to the end, then
 * the workers exit and `join()` resolves.
 */
import { describe, expect, test } from '@jest/globals';
import { Pool, PoolError, PoolNotRunningError } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, liveWorkers } from './helpers/processes.js';

type Tasks = typeof import('./fixtures/lifecycle-tasks.js');

expectNoLeakedWorkers();

const module = fixture('lifecycle-tasks.js');
const range = (length: number) => Array.from({ length }, (_, i) => i);
const doubled = (length: number) => range(length).map((x) => x * 2);

async function drain<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterator) {
    values.push(value);
  }
  return values;
}

async function* slowly<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) {
    await new Promise((resolve) => setImmediate(resolve));
    yield item;
  }
}

describe('close() then join()', () => {
  test('queued work all runs, join resolves, and the workers exit', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      // Submitted before any worker is even ready: all of it is queued when close() comes.
      const mapped = pool.map('doubleLater', range(200), { chunksize: 1 });
      const applied = range(50).map((x) => pool.applyAsync('doubleLater', [x]));
      const starmapped = pool.starmapAsync(
        'doubleLater',
        range(50).map((x) => [x] as [number]),
      );
      const fromAsyncInput = pool.map('doubleLater', slowly(range(20)));
      pool.close();
      expect(pool.state).toBe('closed');
      await pool.join();

      expect(liveWorkers()).toEqual([]);
      await expect(mapped).resolves.toEqual(doubled(200));
      await expect(Promise.all(applied.map((result) => result.get()))).resolves.toEqual(doubled(50));
      await expect(starmapped.get()).resolves.toEqual(doubled(50));
      await expect(fromAsyncInput).resolves.toEqual(doubled(20));
    } finally {
      await pool.terminate();
    }
  });

  test('an imap created before close() still completes after close() and join()', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      // More items than the imap submits ahead of its consumer: close() must read the rest.
      const ordered = pool.imap('double', range(100));
      const unordered = pool.imapUnordered('double', slowly(range(100)), { chunksize: 3 });
      pool.close();
      await pool.join();
      expect(liveWorkers()).toEqual([]);
      await expect(drain(ordered)).resolves.toEqual(doubled(100));
      const results = await drain(unordered);
      expect(results.sort((a, b) => a - b)).toEqual(doubled(100));
    } finally {
      await pool.terminate();
    }
  });

  test('on an idle pool, join resolves', async () => {
    const used = new Pool<Tasks>({ processes: 2, module });
    const fresh = new Pool<Tasks>({ processes: 2, module });
    try {
      await expect(used.map('double', range(10))).resolves.toEqual(doubled(10));
      used.close();
      fresh.close(); // its workers may still be starting
      await Promise.all([used.join(), fresh.join()]);
      expect(liveWorkers()).toEqual([]);
    } finally {
      await used.terminate();
      await fresh.terminate();
    }
  });

  test('close() twice is harmless, and terminate() after close() resolves', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    const pending = pool.apply('doubleLater', [5]);
    pool.close();
    pool.close();
    await expect(pending).resolves.toBe(10);
    await pool.join();
    await expect(pool.terminate()).resolves.toBeUndefined();
  });
});

describe('join() before close()', () => {
  test('rejects with an Error and leaves the pool running', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const error = await pool.join().then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(PoolError);
      expect((error as Error).message).toMatch(/close\(\) or terminate\(\)/);
      expect(pool.state).toBe('running');
      await expect(pool.apply('double', [4])).resolves.toBe(8);
    } finally {
      await pool.terminate();
    }
  });
});

describe('submitting after close()', () => {
  test('fails with PoolNotRunningError: promise methods reject, the others throw at the call', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const queued = pool.apply('doubleLater', [1]);
      pool.close();

      await expect(pool.apply('double', [1])).rejects.toBeInstanceOf(PoolNotRunningError);
      await expect(pool.map('double', [1])).rejects.toBeInstanceOf(PoolNotRunningError);
      await expect(pool.starmap('double', [[1]])).rejects.toBeInstanceOf(PoolNotRunningError);
      expect(() => pool.applyAsync('double', [1])).toThrow(PoolNotRunningError);
      expect(() => pool.mapAsync('double', [1])).toThrow(PoolNotRunningError);
      expect(() => pool.starmapAsync('double', [[1]])).toThrow(PoolNotRunningError);
      expect(() => pool.imap('double', [1])).toThrow(PoolNotRunningError);
      expect(() => pool.imapUnordered('double', [1])).toThrow(PoolNotRunningError);

      // The work accepted before close() is not affected.
      await expect(queued).resolves.toBe(2);
      await pool.join();
      expect(liveWorkers()).toEqual([]);
    } finally {
      await pool.terminate();
    }
  });
});
